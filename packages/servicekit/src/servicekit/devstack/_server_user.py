"""Who a server runs as, and how it reaches its files without root's rights."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final

from servicekit.devstack._processes import ServerError

__all__ = ["SYSTEM_USER", "DataDir", "PrivateCopy", "common_parent", "hand_over", "server_user"]


SYSTEM_USER: Final = "servicekit"


@dataclass(frozen=True)
class DataDir:
    """The data directory as the server names it, and the open files that name needs."""

    name: str
    fds: tuple[int, ...] = ()


def server_user() -> str | None:
    """Who servers run as: ``None`` for us, or, when we are root, the system user."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    if sys.platform != "linux":
        raise ServerError("PostgreSQL refuses to run as root: run this as a regular user.")
    _ensure_system_user(SYSTEM_USER)
    return SYSTEM_USER


@contextmanager
def hand_over(data_dir: Path, user: str | None) -> Iterator[DataDir]:
    """``data_dir``, created and owned by ``user``, as that user's server can reach it.

    For another user, an open directory named ``/dev/fd/N`` in the server (on
    Linux, a link into ``/proc/self/fd``, which resolves without walking the
    path above, so the server needs no right to enter the checkout's parents).
    It is open while the ``with`` block runs, long enough to start the server,
    which keeps its inherited copy.
    """
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if user is None:
        yield DataDir(str(data_dir))
        return
    _give_tree(data_dir, user)
    fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield DataDir(f"/dev/fd/{fd}", (fd,))
    finally:
        os.close(fd)


def _give_tree(root: Path, user: str) -> None:
    """Make ``user`` the owner of ``root`` and of everything in it (data from a run as root).

    A tree whose top ``user`` already owns was handed over before: nothing to walk.
    """
    account = pwd.getpwnam(user)
    owner = (account.pw_uid, account.pw_gid)
    status = root.lstat()
    if (status.st_uid, status.st_gid) == owner:
        return
    for top, _, files in os.walk(root):
        directory = Path(top)
        for path in (directory, *(directory / name for name in files)):
            status = path.lstat()
            if (status.st_uid, status.st_gid) != owner:
                os.chown(path, *owner, follow_symlinks=False)


class PrivateCopy:
    """A new temporary directory holding a ``tree`` of binaries for another user.

    Only root and that user's group may enter it. Hard links where the file
    system allows (instant, no space), else copies; root's files still, which
    the server's user can run but not change. The launcher holds a lock on it
    while the server runs; a launcher killed before it could remove the copy
    leaves it unlocked, and the next copy made here removes it.
    """

    _PREFIX: ClassVar = f"{SYSTEM_USER}-binaries-"
    _LOCK: ClassVar = ".in-use"

    def __init__(self, path: Path, lock: int) -> None:
        self.path = path
        self._lock = lock

    @classmethod
    def make(cls, tree: Sequence[Path], user: str) -> PrivateCopy:
        """Copy (link) ``tree`` into a new private directory ``user`` can use."""
        cls._remove_abandoned()
        root = common_parent(tree)
        path = Path(tempfile.mkdtemp(prefix=cls._PREFIX))
        private = cls(path, _lock(path / cls._LOCK))
        try:
            for source in tree:
                target = path / source.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                if source.is_dir():
                    shutil.copytree(source, target, symlinks=True, copy_function=_link_or_copy)
                else:
                    _link_or_copy(source, target)
            shutil.chown(path, group=user)
            path.chmod(0o750)
        except BaseException:
            private.remove()
            raise
        return private

    def remove(self) -> None:
        """Delete the copy (its server has stopped)."""
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._lock)

    @classmethod
    def _remove_abandoned(cls) -> None:
        for path in Path(tempfile.gettempdir()).glob(f"{cls._PREFIX}*"):
            with contextlib.suppress(OSError):
                status = path.lstat()
                ours = stat.S_ISDIR(status.st_mode) and status.st_uid == os.geteuid()
                if ours and (lock := _try_lock(path / cls._LOCK)):
                    shutil.rmtree(path, ignore_errors=True)
                    os.close(lock)


def _lock(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _try_lock(path: Path) -> int | None:
    """An exclusive lock on existing ``path`` if nobody holds one, else ``None``."""
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def common_parent(tree: Sequence[Path]) -> Path:
    return Path(os.path.commonpath([path.parent for path in tree]))


def _link_or_copy(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _ensure_system_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        pass
    else:
        return
    useradd = shutil.which("useradd")
    if useradd is None:
        raise ServerError(
            f"PostgreSQL cannot run as root and there is no `useradd` to create the user {name!r}."
        )
    subprocess.run(  # noqa: S603 -- a fixed argument list
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        check=True,
        capture_output=True,
    )
