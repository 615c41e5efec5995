"""nginx for a local run: a self-contained nginx.conf around one site file, or the
complete nginx.conf `deploy/render.py --complete` renders, with its files in one folder."""

import getpass
from collections.abc import Mapping
from pathlib import Path
from string import Template

from deploy.render import SITE_TEMPLATE, render, render_complete

ROOT = Path(__file__).resolve().parent.parent

NGINX_MAIN_CONFIG = Template("""\
daemon off;
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log $access_log;
    default_type application/octet-stream;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    include $dir/$site;
}
""")


def write_nginx_config(
    directory: Path, site: str, *, workers: int = 1, access_log: bool = True
) -> Path:
    """A self-contained nginx.conf in `directory` that includes the server file `site`."""
    config = directory / "nginx.conf"
    config.write_text(
        NGINX_MAIN_CONFIG.substitute(
            dir=directory,
            site=site,
            workers=workers,
            access_log=f"{directory}/access.log" if access_log else "off",
        )
    )
    return config


def nginx_command(
    nginx: str,
    directory: Path,
    site_name: str,
    site: str,
    *,
    workers: int = 1,
    access_log: bool = True,
) -> list[str]:
    """Write `site` and its nginx.conf into `directory`; the command that serves them."""
    (directory / site_name).write_text(site)
    config = write_nginx_config(directory, site_name, workers=workers, access_log=access_log)
    return [nginx, "-c", str(config), "-p", str(directory)]


#: What local runs (tests, bench) share between nginx and an offload-mode LMS
#: (MEDIA_OFFLOAD_SECRET); never a production value.
OFFLOAD_SECRET = "local-offload-secret-0123456789"


#: The LMS's settings that nginx's offload locations share (render.py's values of the
#: same names).
SHARED_SETTINGS = (
    "DCS_CONNECT_TIMEOUT",
    "DCS_READ_TIMEOUT",
    "MEDIA_SEND_TIMEOUT",
    "MEDIA_MAX_STREAMS_PER_USER",
    "GUNICORN_KEEPALIVE",
)


def lms_site_config(
    port: int,
    lms_address: str,
    dcs_address: str,
    static_root: Path,
    store_address: str = "",
    lms_settings: Mapping[str, str] | None = None,
) -> str:
    """The shipped deploy/nginx/lms.conf.template, filled for a local run (with DCS's
    object store at `store_address` for presigned reads, when given), sharing the
    LMS's time limits and stream cap from `lms_settings` (its environment), as
    production's render does."""
    store = {"STORE_ADDRESS": store_address, "STORE_HOST": store_address} if store_address else {}
    shared = {name: value for name in SHARED_SETTINGS if (value := (lms_settings or {}).get(name))}
    template = (ROOT / "deploy" / "nginx" / "lms.conf.template").read_text()
    return render(
        template,
        {
            "LISTEN": f"127.0.0.1:{port}",
            "SERVER_NAME": "localhost",
            "LMS_ADDRESS": lms_address,
            "DCS_ADDRESS": dcs_address,
            "DCS_SCHEME": "http",
            "DCS_HOST": dcs_address,
            "STATIC_ROOT": str(static_root),
            "MEDIA_OFFLOAD_SECRET": OFFLOAD_SECRET,
            **store,
            **shared,
        },
    )


def complete_nginx_command(nginx: str, directory: Path, *sites: Mapping[str, str]) -> list[str]:
    """The shipped template as `render.py --complete` renders it, one site per value set,
    with nginx's pid, logs and temporary files in `directory`; the command that serves it
    (in the foreground)."""
    local = {
        "NGINX_USER": getpass.getuser(),
        "NGINX_PID": str(directory / "nginx.pid"),
        "NGINX_LOG_DIR": str(directory),
        "NGINX_TEMP_DIR": str(directory),
        "NGINX_WORKER_CONNECTIONS": "1024",
    }
    first, *others = sites
    config = directory / "nginx.conf"
    config.write_text(render_complete(SITE_TEMPLATE.read_text(), {**local, **first}, *others))
    return [nginx, "-c", str(config), "-p", str(directory), "-g", "daemon off;"]
