"""End to end: the stack ``make run`` starts, used the way the README shows, then stopped.

These tests start the real launcher (``python -m servicekit.devstack``) in a
subprocess, with its data in a temporary directory and every port free, and
talk to the services over real sockets.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from servicekit.devstack import SYSTEM_USER, free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 120.0


@dataclass
class Stack:
    """A running launcher and where its services listen."""

    process: subprocess.Popen[bytes]
    users: str
    items: str
    log: Path

    def descendants(self) -> list[psutil.Process]:
        """Every process the launcher started (servers and services)."""
        return psutil.Process(self.process.pid).children(recursive=True)

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        """Stop the launcher as a terminal's Ctrl-C would; its exit status."""
        self.process.send_signal(sig)
        return self.process.wait(timeout=60)


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a launcher whose data and ports are this test's own."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("USERS_", "ITEMS_", "DEVSTACK_"))
    }
    users_port, items_port = free_port(), free_port()
    env |= {
        "DEVSTACK_DATA_DIR": str(tmp_path / "data"),
        "DEVSTACK_POSTGRES_PORT": str(free_port()),
        "DEVSTACK_REDIS_PORT": str(free_port()),
        "USERS_PORT": str(users_port),
        "ITEMS_PORT": str(items_port),
        "ITEMS_JWKS_URL": f"http://127.0.0.1:{users_port}/.well-known/jwks.json",
        "USERS_LOG_FORMAT": "json",
        "ITEMS_LOG_FORMAT": "json",
    }
    return env


def start_stack(env: dict[str, str], log: Path, command: str = "run") -> Stack:
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
            [sys.executable, "-m", "servicekit.devstack", command],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return Stack(
        process=process,
        users=f"http://127.0.0.1:{env['USERS_PORT']}",
        items=f"http://127.0.0.1:{env['ITEMS_PORT']}",
        log=log,
    )


def wait_ready(stack: Stack, *urls: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    pending = list(urls)
    while pending and time.monotonic() < deadline:
        assert stack.process.poll() is None, (
            f"the launcher exited:\n{stack.log.read_text()[-3000:]}"
        )
        try:
            if httpx.get(pending[0], timeout=2).status_code == 200:
                pending.pop(0)
                continue
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    assert not pending, f"not ready: {pending}\n{stack.log.read_text()[-3000:]}"


def wait_for_output(stack: Stack, text: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while text not in stack.log.read_text():
        assert stack.process.poll() is None, stack.log.read_text()
        assert time.monotonic() < deadline, f"no {text!r} in:\n{stack.log.read_text()}"
        time.sleep(0.2)


@pytest.fixture
def running(stack_env: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    stack = start_stack(stack_env, tmp_path / "stack.log")
    try:
        wait_ready(stack, f"{stack.users}/health/ready", f"{stack.items}/health/ready")
        yield stack
    finally:
        if stack.process.poll() is None:
            stack.stop()


def register_log_in_and_create(
    users: httpx.Client, items: httpx.Client
) -> tuple[dict[str, str], dict[str, Any]]:
    """The first steps of the README's walk-through: the bearer header and the item created."""
    registered = users.post(
        "/users/", json={"email": "ada@example.com", "password": "correct horse battery"}
    )
    assert registered.status_code == 201, registered.text
    login = users.post(
        "/auth/token", data={"username": "ada@example.com", "password": "correct horse battery"}
    )
    assert login.status_code == 200, login.text
    bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}

    assert users.get("/users/me", headers=bearer).json()["email"] == "ada@example.com"
    created = items.post("/items/", json={"name": "Lamp", "description": "Brass"}, headers=bearer)
    assert created.status_code == 201, created.text
    item: dict[str, Any] = created.json()
    assert item["owner_id"] == registered.json()["id"]
    return bearer, item


def test_the_readme_walkthrough_then_a_clean_stop_and_a_restart(
    running: Stack, stack_env: dict[str, str], tmp_path: Path
) -> None:
    with (
        httpx.Client(base_url=running.users, timeout=10) as users,
        httpx.Client(base_url=running.items, timeout=10) as items,
    ):
        bearer, item = register_log_in_and_create(users, items)
        assert [found["id"] for found in items.get("/items/").json()] == [item["id"]]
        fetched = items.get(f"/items/{item['id']}")
        assert fetched.status_code == 200
        head = items.head(f"/items/{item['id']}")
        assert (head.status_code, head.content, head.headers["etag"]) == (
            200,
            b"",
            fetched.headers["etag"],
        )
        assert (
            items.get(
                f"/items/{item['id']}", headers={"If-None-Match": fetched.headers["etag"]}
            ).status_code
            == 304
        )
        patched = items.patch(
            f"/items/{item['id']}",
            json={"name": "Desk lamp"},
            headers=bearer | {"If-Match": fetched.headers["etag"]},
        )
        assert patched.status_code == 200
        assert patched.json()["version"] == 2
        kept = items.post("/items/", json={"name": "Chair"}, headers=bearer).json()
        assert items.delete(f"/items/{item['id']}", headers=bearer).status_code == 204
        assert items.get(f"/items/{item['id']}").status_code == 404
        _log_out_ends_the_token_at_items(users, items)
        _make_an_admin_with_make_cli(users, stack_env)
        _a_deleted_accounts_items_go_with_it(users, items)

    children = running.descendants()
    assert len(children) >= 6  # PostgreSQL (and its workers), Valkey, two services, two workers
    assert running.stop() == 0
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"left running after Ctrl-C: {alive}"

    again = start_stack(stack_env, tmp_path / "restart.log")
    try:
        wait_ready(again, f"{again.users}/health/ready", f"{again.items}/health/ready")
        relogin = httpx.post(
            f"{again.users}/auth/token",
            data={"username": "ada@example.com", "password": "correct horse battery"},
        )
        assert relogin.status_code == 200, "the account survived the restart"
        assert httpx.get(f"{again.items}/items/{kept['id']}").json()["name"] == "Chair"
        # A token from before the restart verifies: the signing key is stored, not regenerated.
        assert httpx.get(f"{again.users}/users/me", headers=bearer).status_code == 200
    finally:
        again.stop()


def test_a_killed_launcher_leaves_no_server_behind(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    before = _private_copies()  # of the binaries, made when the servers' user needs them
    stack = start_stack(stack_env, tmp_path / "servers.log", command="servers")
    wait_for_output(stack, "Press Ctrl-C")
    servers = stack.descendants()
    assert servers
    private_copies = _private_copies() - before

    stack.process.kill()  # SIGKILL: no chance to clean up
    stack.process.wait(timeout=10)

    _, alive = psutil.wait_procs(servers, timeout=30)
    assert not alive, f"orphaned: {alive}"

    again = start_stack(stack_env, tmp_path / "again.log", command="servers")
    wait_for_output(again, "Press Ctrl-C")
    assert again.stop() == 0
    assert not private_copies & _private_copies(), "the next launcher removes what was left"


def test_a_bad_setting_stops_start_up_naming_the_variable(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    env = stack_env | {"ITEMS_MAX_BODY_BYTES": "lots", "DEVSTACK_DATA_DIR": str(tmp_path / "bad")}
    stack = start_stack(env, tmp_path / "bad.log")

    status = stack.process.wait(timeout=READY_TIMEOUT)

    output = stack.log.read_text()
    assert status != 0
    assert "ITEMS_MAX_BODY_BYTES" in output
    assert "Traceback" not in output
    assert not _processes_mentioning(str(tmp_path / "bad"))


def _processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(text in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


@pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0,
    reason="as root only: the server then runs as another user, who cannot enter the directory",
)
def test_make_run_from_a_checkout_under_a_directory_only_root_may_enter(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    """As a new user would: ``make run`` in a copy of this checkout under a 0700 directory.

    Its PostgreSQL and Valkey run as the system user ``servicekit``, who may not
    enter that directory; nothing outside the checkout may be changed to let it.
    """
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    checkout = private / "a checkout"
    _copy_working_tree(ROOT, checkout)
    above = _ownership_and_modes(checkout.parents)
    env = {k: v for k, v in stack_env.items() if k not in {"DEVSTACK_DATA_DIR", "VIRTUAL_ENV"}}
    env["PATH"] = _path_with_uv(env["PATH"], checkout)
    log = tmp_path / "make-run.log"
    with log.open("ab") as output:
        make = subprocess.Popen(
            ["make", "run"],  # noqa: S607 -- make from PATH, as a user types it
            cwd=checkout,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = Stack(
        process=make,
        users=f"http://127.0.0.1:{env['USERS_PORT']}",
        items=f"http://127.0.0.1:{env['ITEMS_PORT']}",
        log=log,
    )
    try:
        wait_ready(stack, f"{stack.users}/health/ready", f"{stack.items}/health/ready")
        with (
            httpx.Client(base_url=stack.users, timeout=10) as users,
            httpx.Client(base_url=stack.items, timeout=10) as items,
        ):
            _, item = register_log_in_and_create(users, items)
            assert items.get(f"/items/{item['id']}").status_code == 200
        children = stack.descendants()
    finally:
        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C in the terminal: the whole foreground group
        make.wait(timeout=60)

    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"left running after Ctrl-C: {alive}"
    assert "ready:" in log.read_text()
    assert _ownership_and_modes(checkout.parents) == above
    assert private.stat().st_mode & 0o777 == 0o700


def _path_with_uv(path: str, checkout: Path) -> str:
    """``PATH`` for ``make`` in ``checkout``: this checkout's virtual environment off it.

    uv as on a fresh machine, where ``make`` bootstraps it into ``.tools/``: this
    checkout's bootstrapped copy, linked there, else the uv on ``PATH``.
    """
    venv_bin = str(ROOT / ".venv" / "bin")
    kept = [entry for entry in path.split(os.pathsep) if entry != venv_bin]
    tools = ROOT / ".tools"
    if tools.is_dir():
        shutil.copytree(tools, checkout / ".tools", symlinks=True, copy_function=os.link)
        return os.pathsep.join(entry for entry in kept if not (Path(entry) / "uv").exists())
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.skip("needs uv (make test runs the tests under it)")
    return os.pathsep.join([str(Path(uv).parent), *kept])


def _copy_working_tree(source: Path, destination: Path) -> None:
    """The files git would clone, as they are in the working tree now (edits included)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=source,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        path = source / name
        if path.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination / name)


def _ownership_and_modes(paths: Sequence[Path]) -> list[tuple[str, int, int, int]]:
    return [(str(p), p.stat().st_uid, p.stat().st_gid, p.stat().st_mode) for p in paths]


def _private_copies() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob(f"{SYSTEM_USER}-binaries-*"))


def _log_out_ends_the_token_at_items(users: httpx.Client, items: httpx.Client) -> None:
    login = users.post(
        "/auth/token", data={"username": "ada@example.com", "password": "correct horse battery"}
    ).json()
    bearer = {"Authorization": f"Bearer {login['access_token']}"}
    assert items.post("/items/", json={"name": "Stool"}, headers=bearer).status_code == 201
    refreshed = users.post("/auth/refresh", json={"refresh_token": login["refresh_token"]})
    assert refreshed.status_code == 200
    bearer = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}

    assert users.post("/auth/logout", headers=bearer).status_code == 204

    assert items.post("/items/", json={"name": "Stool"}, headers=bearer).status_code == 401


def _make_an_admin_with_make_cli(users: httpx.Client, env: dict[str, str]) -> None:
    """What `make cli SERVICE=users ARGS="create-admin …"` runs, beside the running stack."""
    made = subprocess.run(  # noqa: S603 -- our own interpreter and module
        [
            *(sys.executable, "-m", "servicekit.devstack", "cli", "--service", "users", "--"),
            *("create-admin", "root@example.com", "--password-stdin"),
        ],
        input=b"the admin's own passphrase",
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stdout.decode() + made.stderr.decode()
    login = users.post(
        "/auth/token",
        data={"username": "root@example.com", "password": "the admin's own passphrase"},
    )
    listed = users.get(
        "/users/", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert listed.status_code == 200
    assert {user["email"] for user in listed.json()} == {"ada@example.com", "root@example.com"}


def _a_deleted_accounts_items_go_with_it(users: httpx.Client, items: httpx.Client) -> None:
    """Through the workers `make run` starts: users' relay, items' consumer."""
    credentials = {"email": "leaving@example.com", "password": "correct horse battery"}
    assert users.post("/users/", json=credentials).status_code == 201
    login = users.post(
        "/auth/token",
        data={"username": credentials["email"], "password": credentials["password"]},
    )
    bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    owner = users.get("/users/me", headers=bearer).json()["id"]
    made = [
        items.post("/items/", json={"name": f"Lamp {n}"}, headers=bearer).json() for n in range(3)
    ]

    assert users.delete("/users/me", headers=bearer).status_code == 204

    deadline = time.monotonic() + 15
    left = made
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = items.get("/items/", params={"owner_id": owner}).json()
    assert left == []
    assert all(items.get(f"/items/{item['id']}").status_code == 404 for item in made)
