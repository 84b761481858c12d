"""Children tied to the launcher, and the local ports they listen on."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import IO, Any, Final

__all__ = [
    "ServerError",
    "as_user",
    "free_port",
    "pid_alive",
    "port_in_use",
    "serves",
    "set_parent_death_signal",
    "spawn_tied",
    "stop_process",
    "tail",
    "wait_until",
    "wait_until_serving",
]


_PR_SET_PDEATHSIG: Final = 1


class ServerError(RuntimeError):
    """A server could not be found, started or stopped; the message says why."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


def set_parent_death_signal(death_signal: signal.Signals, *, expected_parent: int) -> None:
    """Have the kernel send this process ``death_signal`` when its parent exits (Linux).

    If the parent is already gone (no longer ``expected_parent``), exit at once.
    Elsewhere this does nothing: stop servers with `stop()`.
    """
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(death_signal))
    if os.getppid() != expected_parent:
        os._exit(1)


def spawn_tied(
    argv: Sequence[str],
    *,
    death_signal: signal.Signals,
    log: IO[bytes] | None = None,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    """Start a child that gets ``death_signal`` when this process exits, however it exits.

    The child runs in a session of its own, so a Ctrl-C in the terminal reaches
    only the launcher, which then stops its children in order. Its output goes
    to ``log`` (both streams), or to ours. It runs as ``user`` if given, and
    inherits the open files ``pass_fds`` under the same numbers.
    """
    tie = partial(set_parent_death_signal, death_signal, expected_parent=os.getpid())
    return subprocess.Popen(  # noqa: S603 -- argv is built by the launcher, never from input
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
        env=dict(env) if env is not None else None,
        start_new_session=True,
        pass_fds=tuple(pass_fds),
        preexec_fn=tie,  # noqa: PLW1509 -- launchers fork from their only thread
        **as_user(user),
    )


def as_user(user: str | None) -> dict[str, Any]:
    """Popen arguments that run a child as ``user``, with that user's groups only."""
    if user is None:
        return {}
    return {"user": user, "group": user, "extra_groups": []}


def stop_process(
    process: subprocess.Popen[bytes], stop_signal: signal.Signals, timeout: float
) -> None:
    """Send ``stop_signal``; kill the process if it has not exited within ``timeout``."""
    if process.poll() is not None:
        return
    process.send_signal(stop_signal)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def wait_until_serving(
    url: str, process: subprocess.Popen[bytes], *, what: str, timeout: float = 60.0
) -> None:
    """Wait for ``url`` to answer 200; `ServerError` if ``process`` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"{what} exited with status {process.returncode} while starting")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url, timeout=1) as response,  # noqa: S310 -- our own http URL
        ):
            if response.status == 200:
                return
        time.sleep(0.2)
    raise ServerError(f"{what} did not become ready at {url} within {timeout:g}s")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serves(pid: int, data_dir: Path) -> bool:
    """Whether process ``pid`` is alive and works in ``data_dir`` (True if unknowable).

    Both servers make their data directory their working directory, whatever
    name they were given for it.
    """
    if not pid_alive(pid):
        return False
    if sys.platform != "linux":
        return True
    try:
        return Path(f"/proc/{pid}/cwd").readlink() == data_dir
    except OSError:
        return False


def wait_until(
    ready: Callable[[], bool],
    *,
    process: subprocess.Popen[bytes],
    timeout: float,
    what: str,
    log_path: Path,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"{what} exited with status {process.returncode}.\n{tail(log_path)}")
        if ready():
            return
        time.sleep(0.05)
    raise ServerError(f"{what} did not become ready within {timeout:g}s.\n{tail(log_path)}")


def tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"(no log at {path})"
    return f"Last lines of {path}:\n" + "\n".join(f"  {line}" for line in text)
