"""`hub push` against a real `hub serve` with the stock client: one commit, card, no-op, tags."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import shutil
from pathlib import Path

import pytest
from huggingface_hub import ModelCard, hf_hub_download

from hub.publish import PublishError, RefusedFile, push


def test_push_big_export_one_commit_card_and_manifest(server, api, repo_id, big_export, tmp_path, caplog, token):
    caplog.set_level(logging.DEBUG)
    result = push(big_export, repo_id, endpoint=server.url, token=token)
    assert result.created_commit and result.url == f"{server.url}/{repo_id}?rev={result.commit_sha}"
    files = set(api.list_repo_files(repo_id))
    assert files == set(result.files) | {".gitattributes"}
    assert {"onnx/model.onnx", "onnx/model.onnx.data", "onnx/model.int8-dynamic.onnx", "model.safetensors",
            "config.json", "README.md", "hub_manifest.json", "curves.png", "onnx/test_data_set_0/input_0.pb"} <= files
    commits = api.list_repo_commits(repo_id)
    assert len(commits) == 2 and commits[0].commit_id == result.commit_sha  # creation + exactly one publish
    info = api.model_info(repo_id, files_metadata=True)
    big = next(s for s in info.siblings if s.rfilename == "onnx/model.onnx.data")
    assert big.size > 10_000_000 and big.lfs is not None  # went through the LFS path
    manifest = json.loads(Path(hf_hub_download(repo_id, "hub_manifest.json", endpoint=server.url,
                                               cache_dir=tmp_path / "c")).read_bytes())
    local = big_export / "onnx" / "model.onnx.data"
    assert manifest["files"]["onnx/model.onnx.data"] == {
        "sha256": hashlib.sha256(local.read_bytes()).hexdigest(), "size": local.stat().st_size}
    assert big.lfs.sha256 == manifest["files"]["onnx/model.onnx.data"]["sha256"]
    assert set(manifest["files"]) == set(result.files) - {"hub_manifest.json"}

    card = ModelCard.load(hf_hub_download(repo_id, "README.md", endpoint=server.url, cache_dir=tmp_path / "c"))
    data = card.data
    assert data.library_name == "onnx" and data.license == "apache-2.0"
    assert data.pipeline_tag == "image-classification" and data.base_model == "timm/resnet18.a1_in1k"
    assert {"onnx", "transfer-learning", "image", "resnet"} <= set(data.tags)
    assert data.datasets is None  # "cifar3" is not known to be a Hub dataset repo: no dangling link
    metrics = {(r.dataset_split, r.metric_type): r.metric_value for r in data.eval_results}
    assert metrics[("test", "accuracy")] == 0.91 and metrics[("test", "f1")] == 0.9
    assert ("test", "loss") not in metrics
    assert "![curves](curves.png)" in card.text and "from hub.runtime import load" in card.text
    assert "onnxruntime" in card.text and "| int8-dynamic | yes | 0.02 | 0.99 |" in card.text
    assert "accuracy (pytorch)" in card.text and "accuracy (onnx)" in card.text
    assert "| int8-dynamic | `onnx/model.int8-dynamic.onnx` | 0.5 | 1.5 | yes |" in card.text
    assert "train.epochs" in card.text
    assert info.card_data["library_name"] == "onnx"  # the server parsed the card's metadata too
    assert token not in caplog.text


def test_push_twice_is_a_noop_and_tag_reuses_the_commit(server, api, repo_id, export_dir, token):
    first = push(export_dir, repo_id, endpoint=server.url, token=token)
    again = push(export_dir, repo_id, endpoint=server.url, token=token, tag="v1")
    assert not again.created_commit and again.commit_sha == first.commit_sha
    assert len(api.list_repo_commits(repo_id)) == 2
    assert {t.name: t.target_commit for t in api.list_repo_refs(repo_id).tags} == {"v1": first.commit_sha}
    push(export_dir, repo_id, endpoint=server.url, token=token, tag="v1")  # same tag, same commit: fine

    (export_dir / "summary.json").write_text(json.dumps({"test": {"accuracy": 0.95}}))
    (export_dir / "onnx" / "model.int8-dynamic.onnx").unlink()
    changed = push(export_dir, repo_id, endpoint=server.url, token=token)
    assert changed.created_commit and changed.commit_sha != first.commit_sha
    assert "onnx/model.int8-dynamic.onnx" in changed.deleted
    assert "onnx/model.int8-dynamic.onnx" not in api.list_repo_files(repo_id)
    with pytest.raises(PublishError, match="tag 'v1' already names commit"):
        push(export_dir, repo_id, endpoint=server.url, token=token, tag="v1")
    assert len(api.list_repo_commits(repo_id)) == 3


def test_push_to_new_branch(server, api, repo_id, export_dir, token):
    main = push(export_dir, repo_id, endpoint=server.url, token=token)
    (export_dir / "summary.json").write_text(json.dumps({"test": {"accuracy": 0.5}}))
    branch = push(export_dir, repo_id, revision="exp/lr-sweep", endpoint=server.url, token=token, tag="exp-1")
    refs = api.list_repo_refs(repo_id)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": main.commit_sha,
                                                                 "exp/lr-sweep": branch.commit_sha}
    assert branch.url.endswith(f"?rev={branch.commit_sha}")  # the commit on the new branch
    with pytest.raises(PublishError, match="is a tag or commit"):
        push(export_dir, repo_id, revision="exp-1", endpoint=server.url, token=token)


@pytest.mark.parametrize("name, content", [
    ("pytorch_model.bin", b"\x80\x04K\x01."),
    ("onnx/weights.pt", b"PK\x03\x04...."),
    ("state.pkl", pickle.dumps({"a": 1})),
    ("disguised.json", pickle.dumps({"a": 1})),  # a pickle renamed: refused by content
    ("script.py", b"print('hi')"),
    ("model.safetensors", b"not safetensors at all"),
])
def test_disallowed_files_refused_before_anything_is_sent(server, api, repo_id, export_dir, name, content, token):
    path = export_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    with pytest.raises(RefusedFile, match=name.replace(".", r"\.")):
        push(export_dir, repo_id, endpoint=server.url, token=token)
    assert not api.repo_exists(repo_id)


def test_link_outside_export_refused(server, repo_id, export_dir, tmp_path, token):
    secret = tmp_path / "secret.json"
    secret.write_text("{}")
    (export_dir / "extra.json").symlink_to(secret)
    with pytest.raises(RefusedFile, match="outside the export folder"):
        push(export_dir, repo_id, endpoint=server.url, token=token)


def test_not_an_export_folder(server, repo_id, tmp_path, token):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("hi")
    with pytest.raises(PublishError, match="not an export folder"):
        push(tmp_path / "x", repo_id, endpoint=server.url, token=token)


def test_cli_push_token_never_printed_or_published(server, api, repo_id, export_dir, tmp_path, capsys, caplog,
                                                    monkeypatch, token, cli_main):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    assert cli_main(["-v", "push", str(export_dir), repo_id, "--tag", "v1"]) == 0
    out = capsys.readouterr()
    assert f"-> {server.url}/{repo_id}?rev=" in out.out and "tag v1" in out.out
    assert cli_main(["pull", f"{repo_id}@v1", "--out", str(tmp_path / "pulled")]) == 0
    out2 = capsys.readouterr()
    for text in (out.out, out.err, out2.out, out2.err, caplog.text):
        assert token not in text
    for file in (tmp_path / "pulled").rglob("*"):
        if file.is_file():
            assert token.encode() not in file.read_bytes(), file
    bad = tmp_path / "bad"
    shutil.copytree(export_dir, bad)
    (bad / "model.ckpt").write_bytes(b"x")
    assert cli_main(["push", str(bad), repo_id]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "model.ckpt" in err and "pickle" in err and len(err.splitlines()) == 1
    assert cli_main(["push", str(export_dir), repo_id, "--endpoint", server.url]) == 0  # unchanged: no commit
    assert "up to date" in capsys.readouterr().out
    assert len(api.list_repo_commits(repo_id)) == 2


def test_wrong_token_is_one_clear_error(server, repo_id, export_dir, token):
    with pytest.raises(PublishError, match="authentication refused") as exc:
        push(export_dir, repo_id, endpoint=server.url, token="wrong-" + token)
    assert token not in str(exc.value)
    with pytest.raises(PublishError, match="may not write"):
        push(export_dir, "bob/elsewhere", endpoint=server.url, token=token)
