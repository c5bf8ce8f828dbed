"""The embedded default: no endpoint, no token -> a local `hub serve` started once and reused."""

from __future__ import annotations

import json
import os
import stat
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
