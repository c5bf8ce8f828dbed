"""The leaderboard table: CSV round trip, bounded parsing of untrusted files, the Pareto front, merging
per machine, and picking for a budget. Torch-free: the page and ``hub zoo pick`` read it without torch."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.leaderboard import results
from hub.leaderboard.results import LeaderboardError, from_csv, merge, pareto, pick, to_csv


def row(entry="a", variant="fp32", metric=0.9, p50=5.0, cpu="AMD EPYC", threads=2, size=10.0, runtime="onnxruntime",
        dataset="digits", **extra):
    return {"entry": entry, "variant": variant, "runtime": runtime, "runtime_version": "1.0",
            "task": "image-classification", "dataset": dataset, "split": "test", "revision": "abc", "samples": 269,
            "metric": "accuracy", "metric_value": metric, "params": 1000, "gflops": 0.25, "size_mb": size,
            "latency_p50_ms": p50, "latency_p90_ms": p50 * 1.2, "throughput_b32": 100.0, "threads": threads,
            "cpu": cpu, "isa": ["avx2", "fma"], "cores": 2, "repo": "zoo/a", "repo_commit": "0" * 40,
            "hub_commit": "abc", "date": "2026-12-06", "command": f"hub zoo bench {entry} --threads {threads}",
            **extra}


def test_a_csv_round_trips_with_the_timm_style_header():
    rows = [row(), row("b", "int8-dynamic", 0.85, 1.5)]
    text = to_csv(rows)
    assert text.splitlines()[0] == ",".join(results.COLUMNS)
    back = from_csv(text)
    assert [(r["entry"], r["variant"], r["metric_value"], r["latency_p50_ms"], r["samples"]) for r in back] == \
        [("a", "fp32", 0.9, 5.0, 269), ("b", "int8-dynamic", 0.85, 1.5, 269)]
    assert back[0]["isa"] == "avx2 fma" and back[0]["command"] == "hub zoo bench a --threads 2"


@pytest.mark.parametrize("mutate, message", [
    (lambda t: t.replace("latency_p50_ms", "latency"), "no column latency_p50_ms"),
    (lambda t: t.replace(",5,", ",fast,", 1), "test.csv:2: latency_p50_ms = 'fast' is not a number"),
    (lambda t: t.replace(",5,", ",-5,", 1), "must be a finite number >= 0"),
    (lambda t: t.replace(",0.9,", ",nan,", 1), "metric_value = 'nan' must be a finite number"),
    (lambda t: t.replace("\na,", "\n,", 1), "test.csv:2: empty 'entry'"),
    (lambda t: t + "x" * (results.MAX_BYTES + 1), "larger than 4 MiB"),
    (lambda t: t.replace("hub zoo bench a", "y" * (results.MAX_FIELD + 10)), "not valid CSV"),
    # numbers that parse but are no measurement: each would overflow an axis or a format on the page
    (lambda t: t.replace(",0.9,", ",1e400,", 1), "metric_value = '1e400' is out of range"),
    (lambda t: t.replace(",0.9,", ",1.7e308,", 1), "metric_value = '1.7e308' is out of range (at most 1e+06)"),
    (lambda t: t.replace(",1000,", "," + "9" * 400 + ",", 1), "is out of range (at most 1e+13)"),
    (lambda t: t.replace(",5,", ",1_000,", 1), "latency_p50_ms = '1_000' is not a number"),
    (lambda t: t.replace(",5,", ",-0,", 1), "latency_p50_ms = '-0' must be a finite number >= 0"),
    (lambda t: t.replace(",269,", ",2.5e2,", 1), "samples = '2.5e2' is not a whole number"),
    (lambda t: t.replace(",5,", ",\u0665,", 1), "is not a number"),  # an Arabic-Indic five
])
def test_a_bad_file_is_one_error_naming_the_row(mutate, message):
    with pytest.raises(LeaderboardError, match=re.escape(message)):
        from_csv(mutate(to_csv([row(p50=5)])), "test.csv")


metric = st.floats(0, 1, allow_nan=False)
latency = st.floats(0.01, 1000, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(metric, latency), min_size=1, max_size=30))
def test_the_pareto_front_is_exactly_the_rows_nothing_beats(points):
    rows = [row(f"e{i}", metric=m, p50=p) for i, (m, p) in enumerate(points)]
    front = pareto(rows)
    ids = {r["entry"] for r in front}

    def beaten(r):  # another row at most as slow and strictly better, or strictly faster and as good
        return any((o["latency_p50_ms"] <= r["latency_p50_ms"] and o["metric_value"] > r["metric_value"])
                   or (o["latency_p50_ms"] < r["latency_p50_ms"] and o["metric_value"] >= r["metric_value"])
                   for o in rows if o is not r)
    for r in rows:
        if r["entry"] in ids:
            assert not beaten(r)
        else:  # left out: beaten (an exact tie with a front row is on the front too)
            assert beaten(r)
    assert [r["latency_p50_ms"] for r in front] == sorted(r["latency_p50_ms"] for r in front)


def test_merge_replaces_an_entrys_rows_on_the_same_machine_only():
    old = [row("a", "fp32"), row("a", "fp16"), row("b"), row("a", cpu="Intel Xeon")]
    new = [row("a", "fp32", metric=0.95)]
    merged = merge(old, new)
    assert sorted((r["entry"], r["variant"], r["cpu"], r["metric_value"]) for r in merged) == [
        ("a", "fp32", "AMD EPYC", 0.95), ("a", "fp32", "Intel Xeon", 0.9), ("b", "fp32", "AMD EPYC", 0.9)]


def test_pick_is_the_most_accurate_within_the_budget_and_says_what_is_closest_when_none_fits():
    rows = [row("big", metric=0.95, p50=40, size=90), row("mid", metric=0.93, p50=8, size=20),
            row("mid", "int8", metric=0.93, p50=3, size=5), row("small", metric=0.80, p50=1, size=2),
            row("big", "eager", metric=0.95, p50=30, size=90, runtime="pytorch"),
            row("other", metric=0.99, p50=0.1, dataset="fashion")]
    assert pick(rows, dataset="digits", max_latency_ms=50).best["entry"] == "big"
    best = pick(rows, dataset="digits", max_latency_ms=10).best  # same accuracy: the faster variant
    assert (best["entry"], best["variant"]) == ("mid", "int8")
    assert pick(rows, dataset="digits", max_latency_ms=50, runtime="pytorch").best["variant"] == "eager"
    assert pick(rows, dataset="digits", max_latency_ms=50, max_size_mb=10).best["variant"] == "int8"
    none = pick(rows, dataset="digits", max_latency_ms=0.5)
    assert none.best is None and none.closest["entry"] == "small" and "1.00 ms" in none.reasons[0]
    assert pick(rows, dataset="digits", max_latency_ms=50, cpu="AMD EPYC").best["entry"] == "big"
    with pytest.raises(LeaderboardError, match="measured on: AMD EPYC.*--any-machine"):
        pick(rows, dataset="digits", max_latency_ms=50, cpu="Intel Xeon")
    with pytest.raises(LeaderboardError, match="no row for dataset 'cifar' \\(it has: digits, fashion\\)"):
        pick(rows, dataset="cifar", max_latency_ms=50)
    # rows of another thread count or another metric never compete with these
    more = rows + [row("threaded", metric=0.99, p50=2, threads=8), row("lm", metric=12.0, p50=1, metric_name="x")]
    more[-1]["metric"] = "perplexity"
    with pytest.raises(LeaderboardError, match="different metrics \\(accuracy, perplexity\\).*--metric"):
        pick(more, dataset="digits", max_latency_ms=50)
    assert pick(more, dataset="digits", max_latency_ms=50, metric="accuracy").best["entry"] == "threaded"
    assert pick(more, dataset="digits", max_latency_ms=50, metric="accuracy", threads=2).best["entry"] == "big"
    assert pick(more, dataset="digits", max_latency_ms=50, metric="perplexity").best["entry"] == "lm"


def test_cli_pick_answers_from_a_folder_and_fails_with_one_line(tmp_path, capsys):
    from hub.cli import main
    from hub.runtime.machine import describe

    here = describe()["cpu"]
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "m.csv").write_text(to_csv([row("fast", metric=0.9, p50=2, cpu=here),
                                                        row("slow", metric=0.97, p50=20, cpu=here)]))
    assert main(["zoo", "pick", "--dataset", "digits", "--max-latency-ms", "5", "--from", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("fast fp32 (onnxruntime): accuracy 0.9000, 2.00 ms")
    assert main(["zoo", "pick", "--dataset", "digits", "--max-latency-ms", "1", "--from", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "none fits 1 ms on digits: the fastest is fast fp32 at 2.00 ms" in err
    (tmp_path / "results" / "bad.csv").write_text("entry,variant\nx,y\n")
    assert main(["zoo", "pick", "--dataset", "digits", "--max-latency-ms", "5", "--from", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.csv: no column" in err[0] and "Traceback" not in err[0]


def test_cli_bench_refuses_unknown_entries_before_anything_is_written(tmp_path, capsys):
    from hub.cli import main

    out = tmp_path / "out"
    assert main(["zoo", "bench", "digits-lite00", "--out", str(out), "--no-push"]) == 1
    err = capsys.readouterr().err
    assert "digits-lite0" in err and not out.exists()  # did-you-mean, and no folder
    assert main(["zoo", "bench", "--out", str(out)]) == 2
    assert "name the entries to bench, or pass --all" in capsys.readouterr().err


def test_all_means_every_entry_hub_run_can_run(tmp_path):
    from hub.leaderboard.collect import runnable
    from hub.zoo import load_catalogue

    names, skipped = runnable(load_catalogue(None))  # the shipped catalogue
    assert "digits-lite0" in names and "fashion-resnet18-simclr" not in names
    assert list(skipped) == ["fashion-resnet18-simclr"] and "pre-training entry" in skipped["fashion-resnet18-simclr"]


def test_pick_sources_that_do_not_exist_are_one_error(tmp_path):
    from hub.leaderboard.sources import load_rows

    with pytest.raises(LeaderboardError, match="no such file or folder, and not a NAMESPACE/NAME repo id"):
        load_rows(str(tmp_path / "nope.csv"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(LeaderboardError, match=r"no \*\.csv \(nor results/\*\.csv\) here"):
        load_rows(str(tmp_path / "empty"))
    bom = tmp_path / "excel.csv"  # a spreadsheet's byte-order mark does not hide the header
    bom.write_bytes(b"\xef\xbb\xbf" + to_csv([row()]).encode())
    assert load_rows(str(bom))[0][0]["entry"] == "a"
