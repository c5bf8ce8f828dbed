"""``hub zoo bench`` and ``hub zoo pick``: the leaderboard of accuracy x latency, and a model for a budget."""

from __future__ import annotations

from pathlib import Path

import click

from ..leaderboard.results import LEADERBOARD_REPO

from ._output import echo_json, echo_table, safe


@click.command("bench")
@click.argument("entries", nargs=-1)
@click.option("--all", "all_entries", is_flag=True, help="Every entry of the catalogue.")
@click.option("--zoo", "zoo_path", type=click.Path(dir_okay=False), default=None,
              help="Catalogue file (default: $HUB_ZOO, ./zoo.toml, or the one shipped with the hub).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("zoo-bench"), show_default=True,
              help="One job folder per entry (re-runs reuse unchanged stages) and results/<machine>.csv.")
@click.option("--threads", type=click.IntRange(1, 256), default=2, show_default=True,
              help="onnxruntime and torch threads while timing.")
@click.option("--iters", type=click.IntRange(5, 10_000), default=50, show_default=True,
              help="Timed batch-1 runs per variant.")
@click.option("--endpoint", help="Hub endpoint (default: HF_ENDPOINT, else a local `hub serve`).")
@click.option("--repo", "leaderboard_repo", default=LEADERBOARD_REPO, show_default=True,
              help="Dataset repo the CSV is merged into.")
@click.option("--no-push", is_flag=True, help="Measure only: publish neither the models nor the CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print the measured rows as JSON.")
def zoo_bench(entries, all_entries, zoo_path, out, threads, iters, endpoint, leaderboard_repo, no_push,
              as_json) -> None:
    """Train, gate and publish what is missing for ENTRIES, time every kept variant, and write the leaderboard."""
    from ..api import bench_zoo
    from ..errors import ZooError

    if all_entries == bool(entries):
        raise click.UsageError("name the entries to bench, or pass --all (not both)")
    command = "hub zoo bench" + (f" --zoo {zoo_path}" if zoo_path else "") + (" --no-push" if no_push else "")
    done = bench_zoo(None if all_entries else entries, out=out, threads=threads, iters=iters, publish=not no_push,
                     endpoint=endpoint, zoo=zoo_path, leaderboard_repo=leaderboard_repo, command=command,
                     note=lambda m: click.echo(safe(f"== {m}"), err=True))
    if as_json:
        echo_json({"rows": done.rows, "csv": str(done.csv_path) if done.rows else None, "published": done.published,
                   "publish_error": done.publish_error, "private": done.private, "failed": done.failed,
                   "skipped": done.skipped})
    else:
        echo_table(("entry", "variant", "metric", "p50 ms", "p90 ms", "thr/s b32", "MB", "GFLOPs"),
                   [(r["entry"], r["variant"], f"{r['metric_value']:.4f}", f"{r['latency_p50_ms']:.2f}",
                     f"{r['latency_p90_ms']:.2f}", f"{r['throughput_b32']:.0f}", _num(r["size_mb"], ".1f"),
                     _num(r["gflops"], ".3f")) for r in done.rows])
        if done.rows:
            click.echo(f"leaderboard: {done.csv_path}" + (f" (published: {done.published})" if done.published else ""))
        if done.private:
            click.echo(safe(f"not published (private entries, kept in {done.csv_path}): {', '.join(done.private)}"))
    problems = [f"{k}: {v}" for k, v in done.failed.items()]
    if done.failed:
        tried = len(done.failed) + len({r["entry"] for r in done.rows})
        problems[0] = f"{len(done.failed)} of {tried} entries failed: {problems[0]}"
    if done.publish_error:
        problems.append(f"the rows are in {done.csv_path} but not on the hub: {done.publish_error}")
    if problems:
        raise ZooError("; ".join(problems))


def _num(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


@click.command("pick")
@click.option("--dataset", required=True, help="The dataset the model must have been measured on.")
@click.option("--max-latency-ms", type=click.FloatRange(min=0, min_open=True), required=True,
              help="Budget: p50 latency at batch 1, in milliseconds.")
@click.option("--runtime", type=click.Choice(["onnxruntime", "pytorch"]), default=None,
              help="Only rows that run on this runtime.")
@click.option("--max-size-mb", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Budget: model file size in MB.")
@click.option("--from", "source", default=None,
              help="A leaderboard CSV, a folder `hub zoo bench` wrote, or a dataset repo (default: ./zoo-bench "
                   "if it has results, else the hub's zoo/leaderboard).")
@click.option("--endpoint", help="Hub endpoint when reading a repo (default: HF_ENDPOINT, else a local `hub serve`).")
@click.option("--any-machine", is_flag=True, help="Also use rows measured on other CPUs (their latencies may not hold here).")
@click.option("--threads", type=click.IntRange(1, 65_536), default=None,
              help="Only rows measured with this many threads.")
@click.option("--metric", default=None, help="The metric to rank by, where a dataset's rows measure several.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable answer.")
def zoo_pick(dataset, max_latency_ms, runtime, max_size_mb, source, endpoint, any_machine, threads, metric,
             as_json) -> None:
    """The most accurate entry/variant for DATASET within the latency (and size) budget, measured on this machine."""
    from ..api import pick

    answer = pick(dataset, max_latency_ms, runtime=runtime, max_size_mb=max_size_mb, source=source, endpoint=endpoint,
                  any_machine=any_machine, threads=threads, metric=metric)
    where = answer.source
    if as_json:
        echo_json({"source": where, "best": answer.best, "fits": answer.fits, "closest": answer.closest,
                   "reasons": answer.reasons})
    elif answer.best:
        b = answer.best
        click.echo(safe(f"{b['entry']} {b['variant']} ({b['runtime']}): {b['metric']} {b['metric_value']:.4f}, "
                        f"{b['latency_p50_ms']:.2f} ms p50 at batch 1 ({b['threads']} thread{'' if b['threads'] == 1 else 's'}), "
                        f"{_num(b['size_mb'], '.1f')} MB"
                        + (f" -> {b['repo']}@{b['repo_commit'][:12]}" if b.get("repo") else "")))
        click.echo(safe(f"  {len(answer.fits)} of the measured variants fit; from {where}"), err=True)
    else:
        click.echo(safe(f"none fits {max_latency_ms:g} ms on {dataset}: " + "; ".join(answer.reasons)), err=True)
    if not answer.best:
        raise click.exceptions.Exit(1)
