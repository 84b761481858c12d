"""The embedded servers' launcher: attach instead of a second start, a stop safe to repeat."""

from __future__ import annotations

import socket
from pathlib import Path

import psutil
import pytest

from servicekit import embedded
from servicekit.embedded import (
    EmbeddedRedis,
    ServerError,
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
        monkeypatch.setattr(embedded, "_package_dir", lambda _name: None)
        monkeypatch.setattr(embedded, "DEBIAN_POSTGRES_ROOT", tmp_path)
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
        monkeypatch.setattr(embedded, "_package_dir", lambda _name: None)
        monkeypatch.setenv("PATH", str(tmp_path))

        with pytest.raises(ServerError):
            find_redis()
