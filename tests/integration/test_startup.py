"""The real `perfpilot` command on a bad database and on a data directory already served:
a short message naming the problem, a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url

from perfpilot.core.config import Settings
from tests.conftest import PG_URL, TEST_JWT_SECRET

PERFPILOT = str(Path(sys.executable).parent / "perfpilot")
needs_postgres = pytest.mark.skipif(not PG_URL, reason="PERFPILOT_TEST_DATABASE_URL not set")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERFPILOT_")}
    env.update(
        PERFPILOT_DATA_DIR=str(data_dir),
        PERFPILOT_JWT_SECRET=TEST_JWT_SECRET,
        PERFPILOT_PORT=str(free_port()),
        PERFPILOT_LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def run_cli(command: str, env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        [PERFPILOT, command],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # generous: the shared machine is sometimes very loaded
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def assert_short_failure(code: int, output: str, *expected: str) -> None:
    assert code != 0, output
    assert "Traceback" not in output, output
    assert "listening" not in output, output
    assert len(output.strip().splitlines()) <= 2, output
    for text in expected:
        assert text in output, output


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_unreachable_postgresql_is_one_line_naming_host_and_port(
    command: str, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there
    env = cli_env(tmp_path, PERFPILOT_DATABASE_URL=f"postgresql+asyncpg://u@127.0.0.1:{port}/db")
    code, output = run_cli(command, env)
    assert_short_failure(code, output, f"127.0.0.1:{port}", "connection refused")


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_unsupported_scheme_is_one_line_without_the_password(command: str, tmp_path: Path) -> None:
    env = cli_env(tmp_path, PERFPILOT_DATABASE_URL="mysql://app:s3cret@db.example/app")
    code, output = run_cli(command, env)
    assert_short_failure(code, output, "PERFPILOT_DATABASE_URL", "scheme 'mysql'")
    assert "s3cret" not in output


def test_sqlite_in_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "no" / "such" / "dir" / "perfpilot.db"
    env = cli_env(tmp_path, PERFPILOT_DATABASE_URL=f"sqlite:///{db}")
    code, output = run_cli("migrate", env)
    assert_short_failure(code, output, str(db), "unable to open database file")


@needs_postgres
@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_missing_database_is_one_line_saying_how_to_create_it(command: str, tmp_path: Path) -> None:
    assert PG_URL
    url = make_url(PG_URL).set(database="perfpilot_no_such_db_x")
    env = cli_env(tmp_path, PERFPILOT_DATABASE_URL=url.render_as_string(hide_password=False))
    code, output = run_cli(command, env)
    assert_short_failure(code, output, "'perfpilot_no_such_db_x' does not exist", "createdb")


@needs_postgres
def test_unknown_user_is_one_line_naming_the_user(tmp_path: Path) -> None:
    assert PG_URL
    url = make_url(PG_URL).set(username="perfpilot_no_such_role")
    env = cli_env(tmp_path, PERFPILOT_DATABASE_URL=url.render_as_string(hide_password=False))
    code, output = run_cli("migrate", env)
    assert_short_failure(code, output, "perfpilot_no_such_role", "user")


@needs_postgres
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_plain_postgresql_schemes_mean_asyncpg(
    scheme: str, database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL case")
    url = make_url(database_url).render_as_string(hide_password=False)
    plain = scheme + url[url.index("://") :]
    code, output = run_cli("migrate", cli_env(tmp_path, PERFPILOT_DATABASE_URL=plain))
    assert code == 0, output
    assert "latest schema revision" in output


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h:5432/d", "postgresql+asyncpg://u:p@h:5432/d"),
        ("postgres://u@h/d?ssl=require", "postgresql+asyncpg://u@h/d?ssl=require"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("sqlite:///x/y.db", "sqlite+aiosqlite:///x/y.db"),
        ("sqlite+aiosqlite:///x/y.db", "sqlite+aiosqlite:///x/y.db"),
    ],
)
def test_settings_normalise_database_urls_to_the_installed_drivers(
    given: str, expected: str
) -> None:
    assert Settings(database_url=given).effective_database_url == expected


class Serve:
    """`perfpilot serve` as a real process."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = int(env["PERFPILOT_PORT"])
        self.process = subprocess.Popen(
            [PERFPILOT, "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("serve did not become ready")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.communicate()


def test_second_serve_on_one_sqlite_data_dir_refuses_and_kill_9_frees_it(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    first = Serve(cli_env(data_dir))
    try:
        first.wait_ready()
        second = Serve(cli_env(data_dir))
        output, _ = second.process.communicate(timeout=300)
        assert_short_failure(
            second.process.returncode, output, str(data_dir), f"pid {first.process.pid}"
        )
        assert len(output.strip().splitlines()) == 1, output
        # the first server is untouched
        assert httpx.get(f"http://127.0.0.1:{first.port}/readyz").status_code == 200
    finally:
        first.kill()
    # the kernel drops the lock with the process, even on SIGKILL: a new server starts
    third = Serve(cli_env(data_dir))
    try:
        third.wait_ready()
    finally:
        third.kill()
