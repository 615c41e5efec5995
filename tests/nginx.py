"""Start a real nginx in front of the LMS with the shipped config template."""

import subprocess
from pathlib import Path

from tests.conftest import require_tool
from tests.servers import free_port, lms_site_config, wait_for_port, write_nginx_config


def start_nginx(
    directory: Path, lms_address: str, dcs_address: str
) -> tuple[subprocess.Popen, int]:
    nginx = require_tool("nginx")
    port = free_port()
    site = lms_site_config(port, lms_address, dcs_address, directory / "static")
    (directory / "lms.conf").write_text(site)
    config = write_nginx_config(directory, "lms.conf")
    process = subprocess.Popen(
        [nginx, "-c", str(config), "-p", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, process)
    return process, port
