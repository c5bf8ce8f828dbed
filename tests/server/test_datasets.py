"""Dataset repos on `hub serve`, driven by the stock clients: huggingface_hub and `datasets`.

`datasets` runs in a child process with HF_ENDPOINT pointing at the server, as a user runs it: it reads
the endpoint into several module constants at import time, so patching it in this process would test
our patching rather than the library.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from .conftest import use_xet

CARD = """---
license: mit
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
  - split: test
    path: data/test-*
dataset_info:
  features:
  - name: text
    dtype: string
  - name: label
    dtype:
      class_label:
        names:
          '0': neg
          '1': pos
---
# Reviews

Tiny reviews for the round trip.
"""

LOADER = r"""
import json, sys
import datasets
rid, rev = sys.argv[1], sys.argv[2]
ds = datasets.load_dataset(rid, revision=rev)
stream = datasets.load_dataset(rid, revision=rev, split="test", streaming=True)
print(json.dumps({"rows": {k: v.num_rows for k, v in ds.items()}, "names": ds["train"].features["label"].names,
                  "test": ds["test"]["text"][:3], "streamed": [r["text"] for r in stream][:3]}))
"""


def _reviews(folder: Path, word: str) -> Path:
    (folder / "data").mkdir(parents=True)
    for split, n in (("train", 30), ("test", 8)):
        texts = [f"{word} review {split} {i} <script>alert(1)</script>" for i in range(n)]
        pq.write_table(pa.table({"text": texts, "label": [i % 2 for i in range(n)]}),
                       folder / "data" / f"{split}-00000-of-00001.parquet")
    (folder / "README.md").write_text(CARD)
    return folder


def _load_in_child(server, tmp_path: Path, rid: str, rev: str, token: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_ENDPOINT": server.url, "HF_HOME": str(tmp_path / "hf-home"),
           "HF_DATASETS_CACHE": str(tmp_path / "ds-cache"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.pop("HF_TOKEN", None)
    if token:
        env["HF_TOKEN"] = token
    return subprocess.run([sys.executable, "-c", LOADER, rid, rev], env=env, capture_output=True, text=True,
                          timeout=180)


@pytest.mark.parametrize("xet", [False, True], ids=["lfs", "xet"])
def test_datasets_round_trip(server, alice: HfApi, anon: HfApi, tmp_path: Path, monkeypatch, xet: bool) -> None:
    """The bar: create, upload_folder (parquet + card), info, list, load_dataset, streaming."""
    if xet:  # the client as installed: hf_xet on (the server tests turn it off by default)
        use_xet(monkeypatch, tmp_path)
    word = f"rev{uuid.uuid4().hex[:8]}"
    rid = f"alice/{word}"
    url = alice.create_repo(rid, repo_type="dataset")
    assert url.endswith(f"/datasets/{rid}")
    commit = alice.upload_folder(repo_id=rid, repo_type="dataset", folder_path=_reviews(tmp_path / "ds", word))

    info = anon.dataset_info(rid)
    assert info.id == rid and info.sha == commit.oid and info.card_data["license"] == "mit"
    assert {s.rfilename for s in info.siblings} >= {"README.md", "data/train-00000-of-00001.parquet"}
    tree = {f.path: f for f in anon.list_repo_tree(rid, repo_type="dataset", recursive=True)}
    assert tree["data/train-00000-of-00001.parquet"].lfs is not None  # *.parquet is an LFS pattern
    assert [d.id for d in anon.list_datasets(search=word)] == [rid]
    assert [d.id for d in anon.list_datasets(author="alice", search=word, limit=5)] == [rid]
    assert [m.id for m in anon.list_models(search=word)] == []  # kinds are separate
    alice.create_repo(rid)  # a model repo with the same id is another repo, not a 409
    assert anon.model_info(rid).sha != info.sha

    loaded = _load_in_child(server, tmp_path, rid, commit.oid)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    got = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert got["rows"] == {"train": 30, "test": 8} and got["names"] == ["neg", "pos"]
    assert got["test"] == got["streamed"] == [f"{word} review test {i} <script>alert(1)</script>" for i in range(3)]


def test_dataset_repos_follow_the_model_auth_rules(server, alice: HfApi, bob: HfApi, anon: HfApi,
                                                   tmp_path: Path) -> None:
    rid = f"alice/private-{uuid.uuid4().hex[:8]}"
    with pytest.raises(HfHubHTTPError) as err:
        anon.create_repo(rid, repo_type="dataset")
    assert err.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as err:
        HfApi(endpoint=server.url, token="wrong-token").create_repo(rid, repo_type="dataset")
    assert err.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as err:
        bob.create_repo(rid, repo_type="dataset")
    assert err.value.response.status_code == 403

    alice.create_repo(rid, repo_type="dataset", private=True)
    alice.upload_file(path_or_fileobj=b"a,b\n1,2\n", path_in_repo="data.csv", repo_id=rid, repo_type="dataset")
    assert alice.dataset_info(rid).private
    for reader in (anon, bob):  # private: 404 to everyone else, on every read endpoint
        with pytest.raises(RepositoryNotFoundError):
            reader.dataset_info(rid)
        with pytest.raises(RepositoryNotFoundError):
            list(reader.list_repo_tree(rid, repo_type="dataset"))
        assert rid not in [d.id for d in reader.list_datasets(author="alice")]
    for path in (f"/datasets/{rid}/resolve/main/data.csv", f"/api/datasets/{rid}/xet-read-token/main",
                 f"/api/datasets/{rid}/refs", f"/datasets/{rid}"):
        assert httpx.get(server.url + path, headers={"authorization": "Bearer bob-token"}).status_code == 404, path
    with pytest.raises(HfHubHTTPError) as err:
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=rid, repo_type="dataset")
    assert err.value.response.status_code in (403, 404)
    loaded = _load_in_child(server, tmp_path, rid, "main")  # no token: `datasets` cannot see it
    assert loaded.returncode != 0

    moved = f"alice/moved-{uuid.uuid4().hex[:8]}"
    alice.move_repo(rid, moved, repo_type="dataset")
    assert alice.dataset_info(moved).private
    with pytest.raises(RepositoryNotFoundError):
        alice.dataset_info(rid)
    alice.delete_repo(moved, repo_type="dataset")
    with pytest.raises(RepositoryNotFoundError):
        alice.dataset_info(moved)


def test_unsupported_kinds_and_reserved_namespaces_are_one_clear_400(server, alice: HfApi) -> None:
    with pytest.raises(HfHubHTTPError) as err:
        alice.create_repo("alice/a-space", repo_type="space", space_sdk="gradio")
    assert err.value.response.status_code == 400 and "not Spaces" in err.value.response.headers["x-error-message"]
    r = httpx.post(f"{server.url}/api/repos/create", json={"name": "x", "type": "notebook"},
                   headers={"authorization": "Bearer alice-token"})
    assert r.status_code == 400 and "Unsupported repo type 'notebook'" in r.headers["x-error-message"]
    with pytest.raises(HfHubHTTPError) as err:  # a model namespace "datasets" would shadow dataset URLs
        HfApi(endpoint=server.url, token="alice-token").create_repo("datasets/x")
    assert err.value.response.status_code in (400, 403)


def _png(colour: tuple[int, int, int]) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, format="PNG")
    return out.getvalue()


def test_dataset_page_previews_rows_images_and_survives_bad_files(server, alice: HfApi, tmp_path: Path) -> None:
    word = f"page{uuid.uuid4().hex[:8]}"
    rid = f"alice/{word}"
    alice.create_repo(rid, repo_type="dataset")
    folder = _reviews(tmp_path / "ds", word)
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    images = pa.array([{"bytes": _png((255, 0, 0)), "path": "red.png"}, {"bytes": b"<svg onload=alert(1)>", "path": "x.svg"}],
                      type=image_type)
    pq.write_table(pa.table({"image": images, "label": [0, 1]}), folder / "data" / "images.parquet")
    (folder / "broken.parquet").write_bytes(b"this is not parquet at all")
    alice.upload_folder(repo_id=rid, repo_type="dataset", folder_path=folder)

    index = httpx.get(f"{server.url}/datasets", params={"search": word})
    assert index.status_code == 200 and f'href="/datasets/{rid}"' in index.text
    page = httpx.get(f"{server.url}/datasets/{rid}")
    assert page.status_code == 200, page.text[:500]
    html = page.text
    assert "Tiny reviews for the round trip." in html and 'id="files"' in html
    assert f"{word} review test 0 &lt;script&gt;" in html and "<script>alert" not in html  # escaped text
    assert html.count('src="data:image/png;base64,') == 1  # the PNG re-encoded; the "SVG" not shown
    assert "not decodable" in html and "onload" not in html
    assert "not a readable parquet file" in html  # broken file: listed, no preview, no 500
    assert "img-src 'self' data:" in page.headers["content-security-policy"]
    assert "script-src" not in page.headers["content-security-policy"]
    assert httpx.get(f"{server.url}/datasets/alice/no-such-{word}").status_code == 404


def test_a_parquet_file_too_large_to_preview_is_listed_without_a_preview(server, alice: HfApi, tmp_path: Path,
                                                                         monkeypatch) -> None:
    from hub.server.web import preview

    rid = f"alice/big-{uuid.uuid4().hex[:8]}"
    alice.create_repo(rid, repo_type="dataset")
    alice.upload_folder(repo_id=rid, repo_type="dataset", folder_path=_reviews(tmp_path / "ds", "big"))
    monkeypatch.setattr(preview, "MAX_FILE_BYTES", 100)  # the server runs in this process: a tiny budget
    page = httpx.get(f"{server.url}/datasets/{rid}")
    assert page.status_code == 200 and "too large to preview here" in page.text
    assert 'class="preview"' not in page.text and "data/train-00000-of-00001.parquet" in page.text
