"""What both embedded servers share: where they live, how they start and stop."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

from servicekit.devstack._binaries import runs
from servicekit.devstack._processes import (
    ServerError,
    port_in_use,
    spawn_tied,
    stop_process,
    wait_until,
)
from servicekit.devstack._server_user import (
    DataDir,
    PrivateCopy,
    common_parent,
    hand_over,
    server_user,
)

__all__ = ["EmbeddedServer"]


class EmbeddedServer:
    """What both servers share: where they live, how they are launched and stopped."""

    stop_signal: ClassVar[signal.Signals]
    log_name: ClassVar[str]

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int,
        password: str,
        durable: bool = True,
        log_path: Path | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.password = password
        self.durable = durable
        self.log_path = log_path or self.data_dir.parent / self.log_name
        self._process: subprocess.Popen[bytes] | None = None
        self._private_copy: PrivateCopy | None = None
        self.attached = False
        """Whether `start` found the server already running (and `stop` will leave it)."""

    def start(self, timeout: float = 60.0) -> None:
        """Start the server (initialising its data directory if new), or attach to it."""
        if self._running_pid() is not None:
            self.attached = True
            return
        user = server_user()
        try:
            with hand_over(self.data_dir, user) as data_dir:
                self._start(data_dir, user, timeout)
        except BaseException:
            self.stop()  # a server that never became ready must not linger
            raise

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server if this launcher started it; a second call does nothing."""
        if self._process is not None:
            stop_process(self._process, self.stop_signal, timeout)
            self._process = None
        if self._private_copy is not None:
            self._private_copy.remove()
            self._private_copy = None

    def _start(self, data_dir: DataDir, user: str | None, timeout: float) -> None:
        raise NotImplementedError

    def _running_pid(self) -> int | None:
        raise NotImplementedError

    def _runnable(self, binary: Path, tree: Sequence[Path], user: str | None) -> Path:
        """``binary`` where ``user`` can run it: in place, or in a private copy of ``tree``."""
        if user is None or runs(binary, user=user):
            return binary
        self._private_copy = PrivateCopy.make(tree, user)
        linked = self._private_copy.path / binary.relative_to(common_parent(tree))
        if not runs(linked, user=user):
            raise ServerError(
                f"{binary.name} cannot run as the user {user!r}: it cannot reach {binary}, "
                f"nor the copy made for it in {self._private_copy.path.parent}. Run as a regular "
                f"user, or set TMPDIR to a directory {user!r} may enter."
            )
        return linked

    def _launch(
        self,
        argv: Sequence[str],
        *,
        ready: Callable[[], bool],
        what: str,
        timeout: float,
        user: str | None,
        data_dir: DataDir,
    ) -> None:
        if port_in_use(self.port):
            # Else the readiness check could be answered by whatever listens there.
            raise ServerError(
                f"{what}: port {self.port} is already in use by another program; choose another."
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = spawn_tied(
                argv, log=log, death_signal=self.stop_signal, user=user, pass_fds=data_dir.fds
            )
        wait_until(ready, process=self._process, timeout=timeout, what=what, log_path=self.log_path)
