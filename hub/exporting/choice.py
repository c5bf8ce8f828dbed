"""Which variant a deployer gets by default, decided on measured batch-1 latency on this machine.

Why a rule of its own: int8 is not faster everywhere. Before ORT's pre-processing, int8-static
ResNet-18 ran 25 ms against fp32's 17 ms, and int8 speed depends on the CPU's integer units
(:mod:`hub.runtime.machine`). So ``--target edge`` keeps an int8 variant only when it passed the
gate *and* is faster than fp32 here, and the report says what was chosen, why, and on which CPU;
``hub validate --rebench`` applies the same rule again on the deployer's machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import gate

INT8 = ("int8-dynamic", "int8-static")


def time_variants(kept: Mapping[str, Path], ref: gate.Reference, threads: int, iters: int) -> dict[str, float]:
    """Batch-1 p50 milliseconds of each variant on the gate's real samples."""
    import time

    from .bench import SETTLE_S, latency, ort_engine

    single = [feeds for feeds, _ in ref.passes[0].batches]
    timings = {}
    for name, path in kept.items():
        time.sleep(SETTLE_S)  # the gate's PyTorch reference ran just before: let its threads stop spinning
        timings[name] = round(latency(ort_engine(path, threads), single, warmup=3, iters=iters)["p50_ms"], 4)
    return timings


def decide(timings: Mapping[str, float], results: list[dict[str, Any]], gate_facts: Mapping[str, Any],
           machine: Mapping[str, Any]) -> dict[str, Any]:
    """``{"preferred", "why", "slower_int8"}`` for these timings; ``slower_int8`` maps each int8
    variant not faster than fp32 to its numbers, in words.

    Eligible to be preferred: fp32, or a variant that passed every criterion it was judged by
    (:func:`gate.passes_every_criterion`) with a sample count that passed too; with too few
    samples the gate cannot tell a variant's damage from noise, so fp32 stays preferred.
    """
    from ..runtime.machine import int8_units

    by_name = {r["variant"]: r for r in results}
    fp32 = timings.get("fp32")
    slower = {k: f"{v:.2f} ms vs fp32 {fp32:.2f} ms" for k, v in timings.items()
              if k in INT8 and fp32 is not None and v >= fp32}
    trusted = gate_facts.get("criterion") == "passed"
    eligible = {k: v for k, v in timings.items() if k not in slower and (
        k == "fp32" or (trusted and gate.passes_every_criterion(by_name.get(k, {}))))}
    preferred = min(eligible, key=eligible.get) if eligible else "fp32"
    where = f"{machine.get('cpu') or 'this CPU'} ({int8_units(dict(machine))}), onnxruntime {machine.get('onnxruntime')}"
    if preferred == "fp32" and not trusted and len(timings) > 1:
        why = "fp32: the gate's sample count did not pass, so no variant's accuracy can be trusted over fp32"
    elif preferred == "fp32":
        why = "fp32: no variant that passed the gate was faster at batch 1"
    else:
        why = (f"{preferred}: the fastest variant that passed every gate criterion, batch-1 p50 "
               f"{timings[preferred]:.2f} ms vs fp32 {fp32:.2f} ms")
    if slower:
        why += "; slower than fp32 here, so not used: " + "; ".join(f"{k} {v}" for k, v in sorted(slower.items()))
    return {"preferred": preferred, "why": f"{why} (measured on {where})", "slower_int8": slower}


def record(decision: Mapping[str, Any]) -> dict[str, Any]:
    """report.json's ``choice`` entry."""
    return {"preferred": decision["preferred"], "why": decision["why"],
            **({"runtime": decision["runtime"]} if decision.get("runtime") else {})}


def rebench(export_dir: Path, config: dict[str, Any], ref: gate.Reference, results: list[dict[str, Any]],
            gate_facts: Mapping[str, Any], machine: Mapping[str, Any], threads: int,
            others: Sequence[Any] = (), iters: int = 30) -> dict[str, Any]:
    """``hub validate --rebench``: time every variant here, re-choose the preferred one, rewrite config.json.

    Nothing is deleted (the folder is the deployer's): an int8 variant slower than fp32 on this
    machine stays in the folder but is not preferred, and the reason says so.
    """
    from ..fsutil import atomic_write_json_if_changed

    files = {name: Path(export_dir) / entry["file"] for name, entry in config["variants"].items()}
    timings = time_variants(files, ref, threads, iters)
    decision = decide(timings, results, gate_facts, machine)
    for result in results:
        if result["variant"] in timings:
            result["latency_ms_p50"] = timings[result["variant"]]
    for name, entry in config["variants"].items():
        entry["latency_ms_p50"] = timings[name]
    config["latency_ms_p50"] = dict(timings)
    config["preferred_variant"] = decision["preferred"]
    if others:  # OpenVINO / LiteRT variants: timed here too, and the fastest pair chosen again
        fmt_timings = time_formats(others, ref, threads, iters)
        for result in results:
            if result["variant"] in fmt_timings:
                result["latency_ms_p50"] = fmt_timings[result["variant"]]
        for k in others:
            config["formats"][k.runtime]["variants"][k.variant]["latency_ms_p50"] = fmt_timings[k.name]
        pick = decide_runtime(decision["preferred"], timings[decision["preferred"]], fmt_timings, results, gate_facts)
        config["preferred_runtime"] = {k: pick[k] for k in ("runtime", "variant", "latency_ms_p50")}
        decision["runtime"] = pick
    atomic_write_json_if_changed(Path(export_dir) / "config.json", config)
    return decision


def time_formats(kept: Sequence[Any], ref: gate.Reference, threads: int, iters: int) -> dict[str, float]:
    """Batch-1 p50 milliseconds of each kept OpenVINO / LiteRT variant, timed like the ONNX ones."""
    import time

    from ..runtime.backends import open_session
    from ..runtime.session import run
    from .bench import SETTLE_S, latency

    single = [feeds for feeds, _ in ref.passes[0].batches]
    timings = {}
    for k in kept:
        time.sleep(SETTLE_S)
        session = open_session(k.runtime, k.path, input_names=ref.input_names, precision=k.precision, threads=threads)
        timings[k.name] = round(latency(lambda feeds, s=session: run(s, feeds), single, warmup=3,
                                        iters=iters)["p50_ms"], 4)
    return timings


def decide_runtime(onnx_variant: str, onnx_ms: float, timings: Mapping[str, float], results: list[dict[str, Any]],
                   gate_facts: Mapping[str, Any]) -> dict[str, Any]:
    """The fastest (runtime, variant) pair a deployer may use: ONNX's preferred variant or a format's.

    Same eligibility as :func:`decide`: an fp32 graph always; a reduced precision (bf16, int8) only
    when it passed every criterion it was judged by on a sample count that passed.
    """
    by_name = {r["variant"]: r for r in results}
    trusted = gate_facts.get("criterion") == "passed"
    eligible = {f"onnxruntime:{onnx_variant}": onnx_ms}
    eligible.update({k: v for k, v in timings.items() if k.endswith(":fp32") or (
        trusted and gate.passes_every_criterion(by_name.get(k, {})))})
    best = min(eligible, key=eligible.get)
    runtime, _, variant = best.partition(":")
    others = ", ".join(f"{k} {v:.2f} ms" for k, v in sorted(eligible.items(), key=lambda kv: kv[1]) if k != best)
    why = (f"{best}: the fastest (runtime, precision) pair that passed the gate, batch-1 p50 {eligible[best]:.2f} ms"
           + (f" (then {others})" if others else ""))
    return {"runtime": runtime, "variant": variant, "latency_ms_p50": eligible[best], "why": why}
