"""Start a real nginx in front of the LMS with the shipped config template."""

import subprocess
from pathlib import Path

from local_servers import free_port, lms_site_config, nginx_command, wait_for_port
from tests.conftest import require_tool


def start_nginx(
    directory: Path,
    lms_address: str,
    dcs_address: str,
    store_address: str = "",
    lms_settings: dict[str, str] | None = None,
) -> tuple[subprocess.Popen, int]:
    nginx = require_tool("nginx")
    port = free_port()
    site = lms_site_config(
        port, lms_address, dcs_address, directory / "static", store_address, lms_settings
    )
    process = subprocess.Popen(
        nginx_command(nginx, directory, "lms.conf", site),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, process)
    return process, port
