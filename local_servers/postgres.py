"""A throwaway PostgreSQL cluster on 127.0.0.1, for the tests and the benchmark.

Debian's `postgresql` package puts its server programs in
/usr/lib/postgresql/<version>/bin, off PATH. `initdb` and `postgres` refuse to
run as root, so as root the cluster runs as the `postgres` user the package
creates, in a fresh folder under the system's temporary directory (a pytest
tmp_path is private to root). Nothing is fsync'ed: the cluster is thrown away.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from local_servers.ports import free_port, wait_for_port
from local_servers.processes import stop_process

USER = "lms"
DATABASE = "lms"


def postgres_bin(name: str) -> str | None:
    """A PostgreSQL server program (initdb, postgres): the newest installed, else PATH."""
    versions = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    return versions[-1] if versions else shutil.which(name)


def _run_as() -> dict:
    """Popen arguments that drop root to the `postgres` user; nothing when not root."""
    if os.geteuid() != 0:
        return {}
    account = pwd.getpwnam("postgres")
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


@dataclass
class Postgres:
    """One cluster: its folder, port and server process; `restart()` keeps both."""

    directory: Path
    port: int
    log_path: Path
    max_connections: int
    process: subprocess.Popen | None = None
    popen_extra: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"postgres://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def start(self) -> None:
        argv = [
            postgres_bin("postgres") or "postgres",
            "-D",
            str(self.directory / "data"),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={self.directory}",
            "-c",
            f"max_connections={self.max_connections}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own argv)
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **self.popen_extra,
                **_run_as(),
            )
        wait_for_port(self.port, self.process)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self._dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.1)

    def _dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={USER} dbname={database}"

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(self._dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def sql(self, statement: str) -> list[tuple]:
        """Run one statement in the LMS database; its rows."""
        import psycopg

        with psycopg.connect(self._dsn(DATABASE), autocommit=True) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def stop(self) -> None:
        """Fast shutdown: open client connections are cut, as on a real restart."""
        if self.process is not None:
            stop_process(self.process, signal.SIGINT, timeout=30)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_postgres(max_connections: int = 300, popen_extra: dict | None = None) -> Postgres:
    """initdb in a new temporary folder, start the server, create the `lms` database.

    `popen_extra` goes to every Popen of the server (e.g. the benchmark's preexec_fn).
    """
    initdb = postgres_bin("initdb")
    if initdb is None:
        raise FileNotFoundError("initdb: install Debian's postgresql package")
    directory = Path(tempfile.mkdtemp(prefix="lms-postgres-"))
    run_as = _run_as()
    if run_as:
        os.chown(directory, run_as["user"], run_as["group"])
    argv = [initdb, "-D", str(directory / "data"), "-U", USER, "--auth=trust", "-E", "UTF8"]
    subprocess.run(  # noqa: S603 (our own argv)
        [*argv, "--no-sync", "--no-instructions"],
        check=True,
        capture_output=True,
        timeout=120,
        **run_as,
    )
    server = Postgres(
        directory, free_port(), directory / "postgres.log", max_connections, None, popen_extra or {}
    )
    if run_as:
        server.log_path.touch()
        os.chown(server.log_path, run_as["user"], run_as["group"])
    server.start()
    server.create_database()
    return server
