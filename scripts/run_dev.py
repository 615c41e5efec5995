"""`make run`: migrate, seed the demo, start the DCS emulator and the dev server.

Development only (Django's runserver). Production serving: see the README.
Ctrl-C stops both processes.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the project's packages are importable

from local_servers import emulator_command, stop_processes, wait_for_port  # noqa: E402

PYTHON = sys.executable
DEMO_PASSWORD = "demo-pass"


def main() -> int:
    env = {**os.environ}
    env.setdefault("DEBUG", "true")
    env.setdefault("DCS_BASE_URL", "http://127.0.0.1:8081")
    dcs_root = Path(env.setdefault("DCS_EMULATOR_ROOT", str(ROOT / "var" / "dcs")))
    dcs_root.mkdir(parents=True, exist_ok=True)

    def manage(*args: str) -> None:
        subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)

    manage("migrate", "--no-input", "-v", "0")
    manage("seed_demo", "--password", DEMO_PASSWORD)
    port = env["DCS_BASE_URL"].rsplit(":", 1)[-1].rstrip("/")
    processes = [
        subprocess.Popen(emulator_command(dcs_root, port), cwd=ROOT, env=env),
        subprocess.Popen([PYTHON, "manage.py", "runserver", "127.0.0.1:8000"], cwd=ROOT, env=env),
    ]
    try:
        wait_for_port(int(port), processes[0])
        wait_for_port(8000, processes[1])
        print(
            "\n  Dream LMS:      http://127.0.0.1:8000/books/"
            "\n  Django admin:   http://127.0.0.1:8000/admin/"
            f"\n  Local DCS:      {env['DCS_BASE_URL']}"
            f"\n  Demo logins (password {DEMO_PASSWORD!r}): demo-student (Class 7A),"
            " demo-publisher, demo-admin, demo-outsider"
            "\n  Ctrl-C stops both servers.\n",
            flush=True,
        )
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except RuntimeError as error:  # a server did not come up
        print(f"\n  Could not start: {error}", file=sys.stderr)
        return 1
    finally:
        stop_processes((process, signal.SIGINT) for process in processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
