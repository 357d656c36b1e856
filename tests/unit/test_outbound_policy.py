"""The outbound address policy's judgement of single addresses, for each kind of destination."""

from __future__ import annotations

import ipaddress

import pytest

from perfpilot.core.config import Settings
from perfpilot.core.outbound import OutboundKind, OutboundPolicy, parse_networks

WEBHOOK, SCRAPE = OutboundKind.webhook, OutboundKind.scrape


@pytest.mark.parametrize(
    ("address", "webhook", "scrape"),
    [
        ("8.8.8.8", None, None),
        ("2606:4700::1111", None, None),
        ("127.0.0.1", "loopback", "loopback"),
        ("::1", "loopback", "loopback"),
        ("10.1.2.3", "private", None),
        ("172.31.255.255", "private", None),
        ("192.168.0.1", "private", None),
        ("100.64.0.1", "private", None),
        ("fd12::1", "private", None),
        ("192.0.2.1", "not a public", None),  # documentation range
        ("169.254.169.254", "always", "always"),
        ("fe80::1", "always", "always"),
        ("fd00:ec2::254", "always", "always"),
        ("100.100.100.200", "always", "always"),
        ("0.0.0.0", "always", "always"),
        ("::", "always", "always"),
        ("224.0.0.1", "always", "always"),
        ("::ffff:10.0.0.1", "private", None),
        ("::ffff:169.254.169.254", "always", "always"),
        ("64:ff9b::7f00:1", "loopback", "loopback"),  # NAT64 of 127.0.0.1
        ("2002:a9fe:a9fe::", "always", "always"),  # 6to4 of 169.254.169.254
    ],
)
def test_each_address_is_judged_by_what_it_reaches(
    address: str, webhook: str | None, scrape: str | None
) -> None:
    policy = OutboundPolicy()
    ip = ipaddress.ip_address(address)
    for kind, expected in ((WEBHOOK, webhook), (SCRAPE, scrape)):
        reason = policy.refusal(ip, kind)
        if expected is None:
            assert reason is None, (kind, reason)
        else:
            assert reason is not None and expected in reason, (kind, reason)


def test_the_allow_list_opens_only_its_own_ranges() -> None:
    policy = OutboundPolicy(parse_networks(["127.0.0.0/8", "10.1.0.0/16"]))
    opened = ["127.0.0.1", "127.255.0.9", "::ffff:127.0.0.1", "10.1.200.3"]
    closed = ["::1", "10.2.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0"]
    for address in opened:
        assert policy.refusal(ipaddress.ip_address(address), WEBHOOK) is None, address
    for address in closed:
        assert policy.refusal(ipaddress.ip_address(address), WEBHOOK) is not None, address


def test_the_setting_takes_a_comma_separated_cidr_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFPILOT_OUTBOUND_ALLOW", "127.0.0.1/8, ::1 ,10.0.0.0/8")
    assert Settings().outbound_allow == ["127.0.0.0/8", "::1/128", "10.0.0.0/8"]
    monkeypatch.setenv("PERFPILOT_OUTBOUND_ALLOW", "")
    assert Settings().outbound_allow == []
    monkeypatch.setenv("PERFPILOT_OUTBOUND_ALLOW", "10.0.0.0/33")
    with pytest.raises(ValueError, match="CIDR"):
        Settings()
