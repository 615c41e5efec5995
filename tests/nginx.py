"""Start a real nginx in front of the LMS with the shipped config template."""

import subprocess
from pathlib import Path

from deploy.render import render
from tests.conftest import ROOT, require_tool
from tests.servers import free_port, wait_for_port, write_nginx_config


def start_nginx(
    directory: Path, lms_address: str, dcs_address: str
) -> tuple[subprocess.Popen, int]:
    nginx = require_tool("nginx")
    port = free_port()
    template = (ROOT / "deploy" / "nginx" / "lms.conf.template").read_text()
    values = {
        "LISTEN": f"127.0.0.1:{port}",
        "SERVER_NAME": "localhost",
        "LMS_ADDRESS": lms_address,
        "DCS_ADDRESS": dcs_address,
        "DCS_SCHEME": "http",
        "DCS_HOST": dcs_address,
        "STATIC_ROOT": str(directory / "static"),
    }
    (directory / "lms.conf").write_text(render(template, values))
    config = write_nginx_config(directory, "lms.conf")
    process = subprocess.Popen(
        [nginx, "-c", str(config), "-p", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, process)
    return process, port
