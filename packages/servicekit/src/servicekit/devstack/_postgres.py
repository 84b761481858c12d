"""An embedded PostgreSQL server."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import tempfile
from dataclasses import replace
from urllib.parse import quote

from servicekit.devstack._binaries import PostgresBinaries, find_postgres
from servicekit.devstack._processes import ServerError, as_user, port_in_use, serves
from servicekit.devstack._server import EmbeddedServer
from servicekit.devstack._server_user import DataDir

__all__ = ["EmbeddedPostgres"]


class EmbeddedPostgres(EmbeddedServer):
    """A PostgreSQL server on 127.0.0.1:``port`` with its data in ``data_dir``.

    TCP only: no Unix-domain socket, whose path could be too long in a deep
    checkout. ``durable=False`` turns off fsync and friends: for tests, whose
    data does not need to survive a crash.
    """

    # PostgreSQL's "fast shutdown": roll back, disconnect, stop cleanly.
    stop_signal = signal.SIGINT
    log_name = "postgres.log"

    def url(self, database: str = "postgres") -> str:
        """``postgresql://`` URL of ``database`` on this server, as the superuser."""
        password = quote(self.password, safe="")
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def _start(self, data_dir: DataDir, user: str | None, timeout: float) -> None:
        found = find_postgres()
        postgres = self._runnable(found.postgres, found.tree, user)
        binaries = replace(found, bin_dir=postgres.parent)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(binaries, data_dir, user)
        argv = [
            str(binaries.postgres),
            "-D",
            data_dir.name,
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=200",
        ]
        if not self.durable:
            argv += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        what = f"PostgreSQL ({found.origin}) on port {self.port}"
        self._launch(
            argv, ready=self._ready, what=what, timeout=timeout, user=user, data_dir=data_dir
        )

    def _initdb(self, binaries: PostgresBinaries, data_dir: DataDir, user: str | None) -> None:
        # The password reaches initdb as an open file that has no name on disk.
        with tempfile.TemporaryFile("w+") as pwfile:
            if user is not None:
                os.fchown(pwfile.fileno(), pwd.getpwnam(user).pw_uid, -1)
            pwfile.write(self.password + "\n")
            pwfile.flush()
            result = subprocess.run(  # noqa: S603 -- argv is built here
                [
                    str(binaries.initdb),
                    "-D",
                    data_dir.name,
                    "-U",
                    "postgres",
                    f"--pwfile=/dev/fd/{pwfile.fileno()}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=peer",
                    "--encoding=UTF8",
                    *_locale_options(binaries),
                ],
                capture_output=True,
                text=True,
                check=False,
                pass_fds=(*data_dir.fds, pwfile.fileno()),
                **as_user(user),
            )
        if result.returncode != 0:
            raise ServerError(f"initdb failed in {self.data_dir}:\n{result.stdout}{result.stderr}")

    def _running_pid(self) -> int | None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if serves(pid, self.data_dir) else None

    def _ready(self) -> bool:
        # Line 8 of postmaster.pid is the server's status once it accepts connections.
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready" and port_in_use(self.port)


def _locale_options(binaries: PostgresBinaries) -> list[str]:
    # Unicode-aware lower()/ILIKE without depending on the machine's locales
    # where the server can (17+); else the C.UTF-8 locale glibc always has.
    if binaries.major_version() >= 17:
        return ["--locale-provider=builtin", "--builtin-locale=C.UTF-8"]
    return ["--locale=C.UTF-8"]
