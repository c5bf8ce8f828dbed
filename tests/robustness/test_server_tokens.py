"""Hashed tokens in the operator's token file: a leaked file must not leak credentials."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hub.server.serving import start_background
from hub.server.auth import hash_token, parse_token_env, parse_token_file


def hub_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub", *args], input=stdin, capture_output=True, text=True,
                          env={**os.environ}, timeout=60)


def test_hash_token_helper_matches_python_one_liner():
    out = hub_cli("serve", "hash-token", stdin="s3cret-token\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == hash_token("s3cret-token")
    import hashlib

    assert out.stdout.strip() == "sha256:" + hashlib.sha256(b"s3cret-token").hexdigest()
    new = hub_cli("serve", "hash-token", "--new")
    token = new.stdout.split("token: ", 1)[1].split()[0]
    assert hash_token(token) in new.stdout and len(token) > 40


def test_hashed_entries_authenticate_and_the_hash_itself_does_not(tmp_path: Path):
    tokens_file = tmp_path / "tokens.txt"
    tokens_file.write_text(f"# hashed\n{hash_token('alice-secret')} alice team\nbob-plain bob\n")
    tokens, orgs = parse_token_file(tokens_file)
    assert "alice-secret" not in tokens_file.read_text()
    with start_background(tmp_path / "data", tokens=tokens, orgs=orgs) as server:
        def whoami(token: str) -> httpx.Response:
            return httpx.get(f"{server.url}/api/whoami-v2", headers={"authorization": f"Bearer {token}"})

        assert whoami("alice-secret").json()["name"] == "alice"
        assert [o["name"] for o in whoami("alice-secret").json()["orgs"]] == ["team"]
        assert whoami("bob-plain").json()["name"] == "bob"  # clear entries keep working
        assert whoami(hash_token("alice-secret")).status_code == 401  # the leaked line is no token
        assert whoami(hash_token("alice-secret")[7:]).status_code == 401
        assert whoami("alice-secreT").status_code == 401
        r = httpx.post(f"{server.url}/api/repos/create", json={"name": "team/m"},
                       headers={"authorization": "Bearer alice-secret"})
        assert r.status_code == 200, r.text


def test_hashed_entries_from_the_environment():
    tokens = parse_token_env(f"{hash_token('t1')}:carol,plain:dave")
    assert tokens == {hash_token("t1"): "carol", "plain": "dave"}


@pytest.mark.parametrize("entry", ["sha256:abc", "sha256:" + "G" * 64, "SHA256:" + "0" * 63])
def test_malformed_hash_is_refused_with_the_line(tmp_path: Path, entry: str):
    path = tmp_path / "tokens.txt"
    path.write_text(f"ok-token alice\n{entry} bob\n")
    with pytest.raises(ValueError, match=r"tokens.txt:2: .*hash-token"):
        parse_token_file(path)
    out = hub_cli("serve", "--data", str(tmp_path / "d"), "--port", "0", "--token-file", str(path))
    assert out.returncode == 1 and "tokens.txt:2" in out.stderr and len(out.stderr.strip().splitlines()) == 1
