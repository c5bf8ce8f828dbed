"""The embedded default: no endpoint, no token -> a local `hub serve` started once and reused."""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from hub.publish import embedded, push, snapshot


@pytest.fixture
def hub_home(tmp_path, monkeypatch):
    home = tmp_path / "hub-home"
    monkeypatch.setenv("HUB_HOME", str(home))
    yield home / "serve"
    embedded.stop_server()


def _state(data: Path) -> dict:
    return json.loads((data / "embedded.json").read_text())


def test_embedded_server_started_reused_and_restarted(hub_home, export_dir, tmp_path, capsys, cli_main):
    first = push(export_dir, "demo/model", tag="v1")
    assert first.embedded and first.endpoint.startswith("http://127.0.0.1:") and first.created_commit
    state = _state(hub_home)
    token_file = hub_home / "embedded-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(hub_home.stat().st_mode) == 0o700
    token = token_file.read_text().split()[0]
    assert token.encode() not in Path(f"/proc/{state['pid']}/cmdline").read_bytes()  # not visible in ps

    again = push(export_dir, "demo/model")  # reuses the running server: same pid, no new commit
    assert _state(hub_home)["pid"] == state["pid"] and not again.created_commit
    folder = snapshot("demo/model@v1")
    assert folder.name == first.commit_sha

    assert cli_main(["push", str(export_dir), "model"]) == 0  # namespace from whoami: local/model
    assert cli_main(["pull", "local/model", "--out", str(tmp_path / "pulled")]) == 0
    out = capsys.readouterr()
    assert "local hub serve at http://127.0.0.1:" in out.out and "-> http://127.0.0.1:" in out.out
    assert (tmp_path / "pulled" / "config.json").is_file()

    os.kill(state["pid"], 15)  # the server went away: the next command starts a new one on the same data
    embedded._terminate(state["pid"])
    folder = snapshot("demo/model@v1")
    assert _state(hub_home)["pid"] != state["pid"] and folder.name == first.commit_sha

    leaked = [p for p in [*hub_home.rglob("*"), *tmp_path.joinpath("pulled").rglob("*")]
              if p.is_file() and p != token_file and token.encode() in p.read_bytes()]
    assert leaked == []  # not in published files, LFS objects, git objects or the server log
    assert token not in out.out + out.err
    assert embedded.stop_server() and not (hub_home / "embedded.json").exists()


def test_endpoint_or_token_disables_the_embedded_default(hub_home, server, export_dir, token, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_TOKEN", token)
    result = push(export_dir, "alice/not-embedded")
    assert not result.embedded and result.endpoint == server.url
    assert not (hub_home / "embedded.json").exists()


def test_serve_status_and_stop_for_the_embedded_hub(hub_home, export_dir, capsys, cli_main):
    assert cli_main(["serve", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"running": False, "data": str(hub_home)}
    push(export_dir, "demo/model")
    assert cli_main(["serve", "status", "--json"]) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["running"] and state["answering"] and state["pid"] == _state(hub_home)["pid"]
    assert cli_main(["serve", "--stop"]) == 0
    assert "stopped the embedded hub" in capsys.readouterr().out
    assert not embedded._is_alive(state["pid"]) and not (hub_home / "embedded.json").exists()
    assert cli_main(["serve", "stop"]) == 0 and "was not running" in capsys.readouterr().out
    assert cli_main(["serve", "status"]) == 0 and "not running" in capsys.readouterr().out
    assert (hub_home / "repos" / "models" / "demo" / "model.json").exists()  # stopping keeps the repos


def _wait_gone(pid: int, timeout: float) -> bool:
    """Whether ``pid`` exited (reaped or a zombie) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in embedded._children:
            if proc.pid == pid:
                proc.poll()
        if not embedded._is_alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def started(hub_home):
    """Start the embedded server (no push needed); kill it at the end whatever the test did to it."""
    pids = []

    def start() -> dict:
        embedded.ensure_server()
        state = _state(hub_home)
        pids.append(state["pid"])
        return state

    yield start
    for pid in pids:
        if embedded._is_our_server(pid):
            embedded._terminate(pid)


def test_embedded_server_stops_when_its_data_folder_is_deleted(hub_home, started):
    pid = started()["pid"]
    shutil.rmtree(hub_home)
    assert _wait_gone(pid, 20), "the embedded server outlived its deleted data folder"


def test_embedded_server_stops_after_its_idle_timeout_and_requests_keep_it(hub_home, started, monkeypatch):
    monkeypatch.setenv("HUB_EMBEDDED_IDLE_S", "2")
    state = started()
    assert state["idle_timeout"] == 2
    token = (hub_home / "embedded-token").read_text().split()[0]
    for _ in range(8):  # 4 s of requests every 0.5 s: twice the idle timeout, the server stays
        assert embedded._answers(state["url"], token)
        time.sleep(0.5)
    assert embedded._is_alive(state["pid"])
    assert _wait_gone(state["pid"], 30), "the embedded server ignored HUB_EMBEDDED_IDLE_S"
    assert "no request for 2 s" in (hub_home / "embedded.log").read_text()
    assert embedded.server_status() is None
    embedded.ensure_server()  # the next command starts a new one over the same data
    assert _state(hub_home)["pid"] != state["pid"]
    embedded.stop_server()


def test_a_bad_idle_timeout_is_one_clean_error(hub_home, monkeypatch):
    monkeypatch.setenv("HUB_EMBEDDED_IDLE_S", "soon")
    with pytest.raises(embedded.PublishError, match="HUB_EMBEDDED_IDLE_S='soon'"):
        embedded.ensure_server()
    assert not (hub_home / "embedded.json").exists()


def test_the_watchdog_sees_a_folder_deleted_and_created_again(tmp_path):
    from hub.server.watchdog import Watchdog

    class FakeServer:
        should_exit = False

    data = tmp_path / "data"
    data.mkdir()
    server = FakeServer()
    dog = Watchdog(server, data, interval=0.02)
    assert dog.check() is None
    data.rmdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere").rename(data)  # same path, another folder
    dog.start()
    deadline = time.monotonic() + 10
    while not server.should_exit and time.monotonic() < deadline:
        time.sleep(0.02)
    dog.stop()
    assert server.should_exit and "deleted and created again" in dog.reason


def test_serve_status_says_since_when_and_reads_old_state_files(hub_home, started, monkeypatch, capsys, cli_main):
    monkeypatch.setenv("HUB_EMBEDDED_IDLE_S", "0")  # never idles out
    state = started()
    assert cli_main(["serve", "status", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    started_at = datetime.fromisoformat(shown["started"])
    assert started_at.tzinfo is not None and abs(datetime.now(timezone.utc) - started_at).total_seconds() < 120
    assert shown["data"] == str(hub_home) == state["data"] and shown["idle_timeout"] == 0
    assert cli_main(["serve", "status"]) == 0
    text = capsys.readouterr().out
    assert f"since {shown['started']}" in text and str(hub_home) in text and "no idle timeout" in text

    (hub_home / "embedded.json").write_text(json.dumps({"pid": state["pid"], "url": state["url"]}))  # older
    assert cli_main(["serve", "status", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["running"] and shown["started"] is None and shown["data"] == str(hub_home)
    assert cli_main(["serve", "status"]) == 0 and "since an unknown time" in capsys.readouterr().out
