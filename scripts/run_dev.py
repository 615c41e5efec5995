"""`make run`: migrate, seed the demo, start the DCS emulator and the dev server.

Development only (Django's runserver). Production serving: see docs/deployment.md.
The ports are LMS_PORT (default 8000) and DCS_PORT (default 8081), on 127.0.0.1;
when one is busy this stops before anything starts, with exit status 1. Ctrl-C
stops both processes.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the project's packages are importable

from local_servers import emulator_command, stop_processes, wait_for_port  # noqa: E402

PYTHON = sys.executable
DEMO_PASSWORD = "demo-pass"
DEFAULT_PORTS = {"LMS_PORT": 8000, "DCS_PORT": 8081}


def port_is_busy(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port` (as the servers would bind it)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as runserver does
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def read_ports(env: dict[str, str]) -> dict[str, int] | None:
    """The ports from `env` (or their defaults); None, once explained, if one is unusable."""
    try:
        ports = {name: int(env.get(name) or default) for name, default in DEFAULT_PORTS.items()}
    except ValueError as error:
        print(f"make run: LMS_PORT and DCS_PORT must be port numbers ({error})", file=sys.stderr)
        return None
    for name, port in ports.items():
        if port_is_busy(port):
            print(
                f"make run: port {port} ({name}) on 127.0.0.1 is in use. Stop what listens"
                f" there, or choose another port: make run {name}=<port>",
                file=sys.stderr,
            )
            return None
    return ports


def migrate_and_seed(env: dict[str, str]) -> bool:
    """Migrate the database and seed the demo; False, once explained, if a step failed."""

    def manage(*args: str) -> None:
        subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)

    try:
        manage("migrate", "--no-input", "-v", "0")
        manage("seed_demo", "--password", DEMO_PASSWORD)
    except subprocess.CalledProcessError as error:
        print(f"make run: {' '.join(error.cmd[1:])} failed ({error.returncode})", file=sys.stderr)
        return False
    return True


def print_welcome(lms_port: int, dcs_url: str) -> None:
    print(
        f"\n  Dream LMS:      http://127.0.0.1:{lms_port}/books/"
        f"\n  Django admin:   http://127.0.0.1:{lms_port}/admin/"
        f"\n  Local DCS:      {dcs_url}"
        f"\n  Demo logins (password {DEMO_PASSWORD!r}): demo-student (Class 7A),"
        " demo-publisher, demo-admin, demo-outsider"
        "\n  Ctrl-C stops both servers.\n",
        flush=True,
    )


def wait_for_an_exit(processes: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """Block until one of `processes` exits; that one."""
    while all(process.poll() is None for process in processes):
        time.sleep(0.5)
    return next(process for process in processes if process.poll() is not None)


def serve(env: dict[str, str], dcs_root: Path, lms_port: int, dcs_port: int) -> int:
    """Run the emulator and the dev server until one exits or Ctrl-C; the exit status."""
    processes = [
        subprocess.Popen(emulator_command(dcs_root, dcs_port), cwd=ROOT, env=env),
        subprocess.Popen(
            [PYTHON, "manage.py", "runserver", f"127.0.0.1:{lms_port}"], cwd=ROOT, env=env
        ),
    ]
    try:
        wait_for_port(dcs_port, processes[0])
        wait_for_port(lms_port, processes[1])
        print_welcome(lms_port, env["DCS_BASE_URL"])
        stopped = wait_for_an_exit(processes)
        print(f"\n  make run: {stopped.args[2]} exited ({stopped.returncode})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except RuntimeError as error:  # a server did not come up
        print(f"\n  make run: could not start: {error}", file=sys.stderr)
        return 1
    finally:
        stop_processes((process, signal.SIGINT) for process in processes)


def main() -> int:
    env = {**os.environ}
    env.setdefault("DEBUG", "true")
    ports = read_ports(env)
    if ports is None:
        return 1
    lms_port, dcs_port = ports["LMS_PORT"], ports["DCS_PORT"]
    # The LMS talks to the emulator this starts.
    env["DCS_BASE_URL"] = f"http://127.0.0.1:{dcs_port}"
    dcs_root = Path(env.setdefault("DCS_EMULATOR_ROOT", str(ROOT / "var" / "dcs")))
    dcs_root.mkdir(parents=True, exist_ok=True)
    if not migrate_and_seed(env):
        return 1
    return serve(env, dcs_root, lms_port, dcs_port)


if __name__ == "__main__":
    sys.exit(main())
