"""`make run` (scripts/run_dev.py) stops at once, with exit status 1 and a clear message,
when its LMS or DCS port is taken; it starts nothing and touches no database then."""

import socket
import subprocess
import sys

import pytest

from local_servers import free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.wire


@pytest.mark.parametrize("busy", ["LMS_PORT", "DCS_PORT"])
def test_a_busy_port_fails_loudly(busy, tmp_path):
    ports = {"LMS_PORT": free_port(), "DCS_PORT": free_port()}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports[busy]))
        holder.listen()
        result = subprocess.run(
            [sys.executable, "scripts/run_dev.py"],
            cwd=ROOT,
            env={
                "PATH": "/usr/bin:/bin",
                **{name: str(port) for name, port in ports.items()},
                "DCS_EMULATOR_ROOT": str(tmp_path / "dcs"),
                "DATABASE_URL": f"sqlite:///{tmp_path / 'never.sqlite3'}",
            },
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"port {ports[busy]} ({busy}) on 127.0.0.1 is in use" in result.stderr
    assert "Dream LMS:" not in result.stdout  # no ready banner
    assert not (tmp_path / "never.sqlite3").exists()  # nothing ran


def test_a_port_that_is_no_number(tmp_path):
    result = subprocess.run(
        [sys.executable, "scripts/run_dev.py"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "LMS_PORT": "eight-thousand"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "LMS_PORT and DCS_PORT must be port numbers" in result.stderr
