"""Start a real nginx in front of the LMS with the shipped config template."""

import subprocess
from pathlib import Path
from string import Template

from deploy.render import render
from tests.conftest import ROOT, free_port, require_tool, wait_for_port

MAIN_CONFIG = """\
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log $dir/access.log;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    include $dir/lms.conf;
}
"""


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
    (directory / "nginx.conf").write_text(Template(MAIN_CONFIG).substitute(dir=directory))
    process = subprocess.Popen(
        [nginx, "-c", str(directory / "nginx.conf"), "-p", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, process)
    return process, port
