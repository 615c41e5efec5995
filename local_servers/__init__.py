"""Starting local servers: shared by the tests, the benchmark and `make run`.

`ports` (a free port, waiting until one listens), `nginx` (a self-contained
nginx.conf, the shipped LMS site template filled for a local run) and
`processes` (the command lines of redis and the DCS emulator, stopping a
process politely, then for good).
"""

from local_servers.nginx import (
    NGINX_MAIN_CONFIG,
    OFFLOAD_SECRET,
    complete_nginx_command,
    lms_site_config,
    nginx_command,
    write_nginx_config,
)
from local_servers.ports import free_port, wait_for_port
from local_servers.processes import emulator_command, redis_command, stop_process, stop_processes

__all__ = [
    "NGINX_MAIN_CONFIG",
    "OFFLOAD_SECRET",
    "complete_nginx_command",
    "emulator_command",
    "free_port",
    "lms_site_config",
    "nginx_command",
    "redis_command",
    "stop_process",
    "stop_processes",
    "wait_for_port",
    "write_nginx_config",
]
