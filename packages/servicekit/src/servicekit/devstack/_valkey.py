"""An embedded Valkey (or Redis) server."""

from __future__ import annotations

import shutil
import signal
import socket
from pathlib import Path
from urllib.parse import quote

from servicekit.devstack._binaries import find_redis
from servicekit.devstack._processes import serves
from servicekit.devstack._server import EmbeddedServer
from servicekit.devstack._server_user import DataDir

__all__ = ["EmbeddedRedis"]


class EmbeddedRedis(EmbeddedServer):
    """A Valkey (or Redis) server on 127.0.0.1:``port`` with its data in ``data_dir``.

    Durable: snapshots plus an append-only file, so data survives a restart.
    Always: no eviction, because revocations must never be dropped.
    """

    stop_signal = signal.SIGTERM
    log_name = "valkey.log"

    @property
    def _config_path(self) -> Path:
        return self.data_dir / "valkey.conf"

    @property
    def _pid_path(self) -> Path:
        return self.data_dir / "valkey.pid"

    def url(self, db: int = 0) -> str:
        """``redis://`` URL of logical database ``db`` on this server."""
        return f"redis://:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{db}"

    def _start(self, data_dir: DataDir, user: str | None, timeout: float) -> None:
        found = find_redis()
        binary = self._runnable(found, (found,), user)
        self._write_config(data_dir, user)
        self._launch(
            [str(binary), f"{data_dir.name}/{self._config_path.name}"],
            ready=self._ready,
            what=f"{found.name} on port {self.port}",
            timeout=timeout,
            user=user,
            data_dir=data_dir,
        )

    def _write_config(self, data_dir: DataDir, user: str | None) -> None:
        persistence = (
            "save 300 1\nsave 60 1000\nappendonly yes\nappendfsync everysec\n"
            if self.durable
            else 'save ""\nappendonly no\n'
        )
        config = (
            f"bind 127.0.0.1\nport {self.port}\nprotected-mode yes\n"
            f'requirepass "{self.password}"\n'
            f'dir "{data_dir.name}"\npidfile "{data_dir.name}/{self._pid_path.name}"\n'
            "daemonize no\nmaxmemory-policy noeviction\n" + persistence
        )
        self._config_path.touch(mode=0o600)
        self._config_path.write_text(config)
        if user is not None:
            shutil.chown(self._config_path, user=user, group=user)

    def _running_pid(self) -> int | None:
        try:
            pid = int(self._pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if serves(pid, self.data_dir) else None

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                password = self.password.encode()
                sock.sendall(
                    b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n*1\r\n$4\r\nPING\r\n"
                    % (len(password), password)
                )
                reply = b""
                while b"PONG" not in reply and b"-" not in reply[:1]:
                    chunk = sock.recv(256)
                    if not chunk:
                        break
                    reply += chunk
                return b"+PONG" in reply
        except OSError:
            return False
