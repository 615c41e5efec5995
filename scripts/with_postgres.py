"""Run a command with DATABASE_URL pointing at a throwaway PostgreSQL cluster.

    python scripts/with_postgres.py .venv/bin/pytest tests/integration tests/emulator

Debian's `postgresql` package provides the server programs; the cluster lives in a
temporary folder on a free port (local_servers/postgres.py) and is removed afterwards.
The suite's test database (`test_lms`) is created on it by pytest-django, and the
servers the tests start use it too (tests/conftest.py, `database_url`).
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the project's packages are importable

from local_servers.postgres import start_postgres  # noqa: E402


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        server = start_postgres()
    except (FileNotFoundError, subprocess.CalledProcessError) as error:
        print(f"with_postgres.py: cannot start PostgreSQL: {error}", file=sys.stderr)
        return 1
    try:
        print(f"with_postgres.py: DATABASE_URL={server.url}", flush=True)
        env = {**os.environ, "DATABASE_URL": server.url}
        return subprocess.run(argv, cwd=ROOT, env=env, check=False).returncode
    finally:
        server.remove()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
