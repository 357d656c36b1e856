"""What a sample's value and strings must be, over real HTTP on each backend (issue 9, items 2,
7 and 12): a JSON number within the finite bound once canonical, and valid Unicode text.

Each rejected request must be a 422 naming the field (with the item index in a batch), and
must store nothing: `stored` reads back what the server holds.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.envelope import assert_error

JSON = {"Content-Type": "application/json"}
GOOD = {"serviceName": "svc-ok", "metricType": "latency", "value": 5}
ROUTES = ("/metrics", "/metrics/batch", "/optimize")


async def post(s: LiveServer, route: str, item: dict[str, Any] | str) -> Any:
    """POST one sample to `route` (a batch puts it at index 2, after two good ones). A str
    item is sent as raw JSON text, so it can carry escapes such as a lone "\\ud800"."""
    raw = item if isinstance(item, str) else json.dumps(item)
    if route == "/metrics/batch":
        good = json.dumps(GOOD)
        raw = f'{{"samples": [{good}, {good}, {raw}]}}'
    return await s.client.post(s.api(route), content=raw, headers=s.auth("operator") | JSON)


def field_path(route: str, field: str) -> str:
    return f"samples.2.{field}" if route == "/metrics/batch" else field


async def stored(s: LiveServer) -> list[dict[str, Any]]:
    listed = await s.client.get(s.api("/metrics"), headers=s.auth("viewer"))
    assert listed.status_code == 200, listed.text
    return list(listed.json()["data"])


def only_detail(response: Any, route: str, field: str) -> dict[str, Any]:
    error = assert_error(response, 422, "validation_error")
    [detail] = error["details"]
    assert detail["field"] == field_path(route, field), detail
    if route == "/metrics/batch":
        assert detail["index"] == 2
    return dict(detail)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("value", ["100", "1.5", True, False], ids=str)
async def test_a_value_that_is_not_a_json_number_is_422(
    live_server: LiveServer, route: str, value: Any
) -> None:
    s = live_server
    response = await post(s, route, GOOD | {"value": value})
    detail = only_detail(response, route, "value")
    assert "valid number" in detail["message"]
    assert await stored(s) == []


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("value", "unit"),
    [
        pytest.param(1e13, "s", id="1e13s-is-1e16ms"),
        pytest.param(1e15 + 0.125, "ms", id="just-over"),
        pytest.param(1e21, "us", id="1e21us-is-1e18ms"),
        pytest.param(1e308, "s", id="overflows-to-inf"),
    ],
)
async def test_a_canonical_value_beyond_1e15_is_422_stating_the_bound(
    live_server: LiveServer, route: str, value: float, unit: str
) -> None:
    s = live_server
    response = await post(s, route, GOOD | {"value": value, "unit": unit})
    detail = only_detail(response, route, "value")
    assert "|value| <= 1e+15 after unit conversion" in detail["message"], detail
    assert await stored(s) == []


async def test_values_at_the_bound_are_stored(live_server: LiveServer) -> None:
    s = live_server
    for value, unit in ((1e15, "ms"), (1e12, "s"), (1e18, "us")):
        response = await post(s, "/metrics", GOOD | {"value": value, "unit": unit})
        assert response.status_code == 201, response.text
        assert response.json()["data"]["value"] == 1e15
    batch = await post(s, "/metrics/batch", GOOD | {"value": 1e12, "unit": "s"})
    assert batch.status_code == 201, batch.text
    assert sorted(m["value"] for m in await stored(s)) == [5, 5] + [1e15] * 4


async def test_the_bound_and_the_type_are_in_the_openapi_schema(live_server: LiveServer) -> None:
    s = live_server
    document = (await s.client.get("/openapi.json")).json()
    value = document["components"]["schemas"]["MetricIn"]["properties"]["value"]
    # a number, or null/absent when the sample carries a histogram instead
    assert value["anyOf"] == [{"type": "number"}, {"type": "null"}]
    assert "|value| <= 1e+15" in value["description"]
    assert "JSON number" in value["description"]


# Lone surrogates: JSON text may carry "\ud800" escapes (valid JSON, invalid Unicode).
LONE_SURROGATES = [
    pytest.param('"svc\\ud800"', None, "serviceName", "must be valid Unicode", id="serviceName"),
    pytest.param('"svc-ok"', '"unit": "m\\udfff"', "unit", "must be valid Unicode", id="unit"),
    pytest.param(
        '"svc-ok"',
        '"metadata": {"model": "gpt\\ud800"}',
        "metadata",
        "metadata.model must be valid Unicode",
        id="metadata-value",
    ),
    pytest.param(
        '"svc-ok"',
        '"metadata": {"\\udc00": 1}',
        "metadata",
        "metadata key '\\udc00' must be valid Unicode",
        id="metadata-key",
    ),
    pytest.param(
        '"svc-ok"',
        '"metadata": {"a": [{"b": "\\ude00\\ud83d"}]}',
        "metadata",
        "metadata.a.0.b must be valid Unicode",
        id="metadata-nested-reversed-pair",
    ),
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("name", "extra", "field", "says"), LONE_SURROGATES)
async def test_a_lone_surrogate_in_any_string_is_422_naming_the_field(
    live_server: LiveServer, route: str, name: str, extra: str | None, field: str, says: str
) -> None:
    s = live_server
    raw = f'{{"serviceName": {name}, "metricType": "latency", "value": 1'
    raw += f", {extra}}}" if extra else "}"
    response = await post(s, route, raw)
    detail = only_detail(response, route, field)
    assert says in detail["message"], detail
    assert await stored(s) == []


async def test_a_well_formed_surrogate_pair_is_text_and_is_stored(live_server: LiveServer) -> None:
    s = live_server
    raw = '{"serviceName": "svc-ok", "metricType": "latency", "value": 1, '
    raw += '"metadata": {"e": "\\ud83d\\ude00"}}'
    for route in ("/metrics", "/metrics/batch"):
        response = await post(s, route, raw)
        assert response.status_code == 201, response.text
    assert [m["metadata"] for m in await stored(s) if m["value"] == 1] == [{"e": "\U0001f600"}] * 2
