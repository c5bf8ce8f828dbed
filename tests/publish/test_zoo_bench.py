"""``hub zoo bench`` end to end: real jobs (train, export + gate, push, verify) on a real `hub serve`, every
kept variant timed with onnxruntime beside PyTorch eager, the CSV written and merged into the hub's
leaderboard dataset repo; a re-run reuses the stages; ``hub zoo pick`` answers from the folder and the repo."""

from __future__ import annotations

import json
import uuid

from safetensors import safe_open

from hub.leaderboard.results import COLUMNS, from_csv
from hub.leaderboard.results import to_csv as csv_of

ZOO = """
[entries.lite0-32]
backbone = { name = "efficientnet-lite0", image_size = 32 }
dataset = "digits"
[entries.lite0-32.train]
epochs = 1
[entries.lite0-32.publish]
repo = "alice/lite0-32-{tag}"

[entries.scratch]
backbone = { name = "small-cnn", pretrained = false }
dataset = "digits"
[entries.scratch.train]
strategy = "fine-tune"
epochs = 1
[entries.scratch.publish]
repo = "alice/scratch-{tag}"

[entries.secret]
backbone = { name = "small-cnn", pretrained = false }
dataset = "digits"
[entries.secret.train]
strategy = "fine-tune"
epochs = 1
[entries.secret.publish]
repo = "alice/secret-{tag}"
private = true

[entries.broken]
backbone = "no-such-backbone"
dataset = "digits"
"""


def _bench(main, capsys, *args):
    code = main(["zoo", "bench", *args, "--json"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out.strip() else None), captured.err


def test_zoo_bench_measures_publishes_merges_and_pick_answers(tmp_path, server, token, monkeypatch, capsys):
    from hub.cli import main

    monkeypatch.setenv("HF_TOKEN", token)
    zoo = tmp_path / "zoo.toml"
    zoo.write_text(ZOO.replace("{tag}", uuid.uuid4().hex[:8]))
    board = f"alice/leaderboard-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "bench"
    common = ["--zoo", str(zoo), "--out", str(out), "--endpoint", server.url, "--repo", board, "--iters", "5",
              "--threads", "1"]
    code, data, err = _bench(main, capsys, "lite0-32", "scratch", "secret", "broken", *common)
    # a broken entry is one line and a failing exit; the others are measured and published all the same
    assert code == 1 and "1 of 4 entries failed: broken:" in err and "no-such-backbone" in err, err[-3000:]
    assert set(data["failed"]) == {"broken"} and data["private"] == ["secret"]
    rows = data["rows"]
    for entry in ("lite0-32", "scratch"):
        export = out / entry / "export"
        config = json.loads((export / "config.json").read_text())
        mine = [r for r in rows if r["entry"] == entry]
        assert [r["variant"] for r in mine] == ["eager", *sorted(config["variants"], key=lambda v: v != "fp32")]
        for r in mine[1:]:  # each variant's accuracy is the gate's, on the whole test split
            assert r["metric_value"] == config["variants"][r["variant"]]["metrics"]["accuracy"]
            assert r["runtime"] == "onnxruntime" and r["samples"] == config["gate"]["samples"] == 269
        with safe_open(str(export / "model.safetensors"), "np") as f:
            weights = sum(f.get_tensor(k).size for k in f.keys())
        assert all(r["params"] <= weights and r["params"] > 0.9 * weights for r in mine)
        assert all(0 < r["gflops"] and 0 < r["latency_p50_ms"] <= r["latency_p90_ms"] and r["throughput_b32"] > 0
                   for r in mine)
        pushed = json.loads((out / entry / "stages.json").read_text())["stages"]["verify"]["inputs"]["commit"]
        assert {f"{r['repo']}@{r['repo_commit']}" for r in mine} == {pushed}
        assert {r["command"] for r in mine} == {f"hub zoo bench --zoo {zoo} {entry} --threads 1 --iters 5"}
        assert len(mine[0]["revision"]) == 12 and mine[0]["dataset"] == "digits"
    csv_path = out / "results" / next(iter((out / "results").iterdir())).name
    assert csv_path.read_text().splitlines()[0] == ",".join(COLUMNS)
    local = from_csv(csv_path.read_text())
    assert len(local) == len(rows)
    # the hub holds the same rows, as a dataset repo, but for the private entry's (its name stays local)
    from huggingface_hub import HfApi

    api = HfApi(endpoint=server.url, token=token)
    remote = api.hf_hub_download(board, f"results/{csv_path.name}", repo_type="dataset", local_dir=tmp_path / "dl")
    assert from_csv(open(remote).read()) == [r for r in local if r["entry"] != "secret"]
    assert {r["entry"] for r in local} == {"lite0-32", "scratch", "secret"}

    # again, one entry: every stage reused, its rows replaced, the other entry's rows kept
    code, again, err = _bench(main, capsys, "scratch", *common)
    assert code == 0, err[-2000:]
    assert [line.split(":")[1].strip() for line in err.splitlines() if "reused" in line] == \
        ["train", "export + validation gate", "pull + verify"]
    merged = from_csv(csv_path.read_text())
    assert sorted((r["entry"], r["variant"]) for r in merged) == sorted((r["entry"], r["variant"]) for r in local)
    assert [r for r in merged if r["entry"] == "scratch"] == \
        sorted(from_csv(csv_of(again["rows"])), key=lambda r: r["variant"])  # the re-timed rows replaced the old
    remote = api.hf_hub_download(board, f"results/{csv_path.name}", repo_type="dataset", local_dir=tmp_path / "dl2")
    assert from_csv(open(remote).read()) == [r for r in merged if r["entry"] != "secret"]

    # pick: the most accurate within a budget everything fits, from the folder and from the repo
    budget = max(r["latency_p50_ms"] for r in merged) + 1
    shared = [r for r in merged if r["entry"] != "secret"]
    for source, rows in ((str(out), merged), (board, shared)):
        best = max(rows, key=lambda r: (r["metric_value"], -r["latency_p50_ms"]))
        assert main(["zoo", "pick", "--dataset", "digits", "--max-latency-ms", str(budget), "--from", source,
                     "--endpoint", server.url, "--json"]) == 0
        answer = json.loads(capsys.readouterr().out)
        assert (answer["best"]["entry"], answer["best"]["variant"]) == (best["entry"], best["variant"])
    best = max(merged, key=lambda r: (r["metric_value"], -r["latency_p50_ms"]))
    fastest = min(merged, key=lambda r: r["latency_p50_ms"])
    assert main(["zoo", "pick", "--dataset", "digits", "--max-latency-ms", str(fastest["latency_p50_ms"] / 2),
                 "--from", str(out)]) == 1
    assert f"the fastest is {fastest['entry']} {fastest['variant']}" in capsys.readouterr().err
    assert main(["zoo", "pick", "--dataset", "digits", "--max-latency-ms", "5", "--from", "alice/no-such-board",
                 "--endpoint", server.url]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no leaderboard at" in err[0] and "hub zoo bench --all" in err[0]

    # the Python API: the same job and answer
    import hub

    done = hub.bench_zoo(["scratch"], out=out, zoo=zoo, threads=1, iters=5, publish=False)
    assert not done.failed and {r["variant"] for r in done.rows} == {r["variant"] for r in again["rows"]}
    # the re-bench re-timed scratch, and secret is the same model (a tie on accuracy, broken by latency)
    now = from_csv(csv_path.read_text())
    best = max(now, key=lambda r: (r["metric_value"], -r["latency_p50_ms"]))
    budget = max(r["latency_p50_ms"] for r in now) + 1
    answer = hub.pick("digits", budget, source=str(out))
    assert (answer.best["entry"], answer.best["variant"]) == (best["entry"], best["variant"])
    fastest = min(now, key=lambda r: r["latency_p50_ms"])
    assert hub.pick("digits", fastest["latency_p50_ms"] / 2, source=str(out)).best is None


def test_publishing_merges_into_the_hubs_file_and_never_overwrites_one_it_cannot_read(tmp_path, server, token,
                                                                                       monkeypatch):
    """The shared file holds other people's rows: they are kept; a file that cannot be parsed stops the push."""
    import pytest
    from huggingface_hub import HfApi

    from hub.leaderboard.collect import publish_rows
    from hub.publish.files import PublishError

    def row(entry, metric):  # the required columns only: the rest may be empty in a CSV
        return {"entry": entry, "variant": "fp32", "runtime": "onnxruntime", "task": "image-classification",
                "dataset": "digits", "metric": "accuracy", "metric_value": metric, "latency_p50_ms": 1.0,
                "cpu": "AMD EPYC", "threads": 2}

    monkeypatch.setenv("HF_TOKEN", token)
    api = HfApi(endpoint=server.url, token=token)
    board = f"alice/leaderboard-{uuid.uuid4().hex[:8]}"
    publish_rows([row("theirs", 0.91), row("mine", 0.5)], "amd-epyc-2t", board, server.url)  # created
    publish_rows([row("mine", 0.8)], "amd-epyc-2t", board, server.url)
    text = open(api.hf_hub_download(board, "results/amd-epyc-2t.csv", repo_type="dataset",
                                    local_dir=tmp_path / "a")).read()
    assert sorted((r["entry"], r["metric_value"]) for r in from_csv(text)) == [("mine", 0.8), ("theirs", 0.91)]
    api.upload_file(path_or_fileobj=b"entry,variant\nbroken,x\n", path_in_repo="results/amd-epyc-2t.csv",
                    repo_id=board, repo_type="dataset")
    head = api.dataset_info(board).sha
    with pytest.raises(PublishError, match="cannot be merged into .*no column.*nothing was pushed"):
        publish_rows([row("mine", 0.9)], "amd-epyc-2t", board, server.url)
    assert api.dataset_info(board).sha == head
