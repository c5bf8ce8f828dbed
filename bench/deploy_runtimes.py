"""Deploy runtimes: the e2e graph vs Python preprocessing + plain graph, and onnxruntime python/node/web, in one run.

    .venv/bin/python bench/deploy_runtimes.py --export runs/digits-lite0/export --out deploy_runtimes.json

Issue 23 point 6. Inputs: the export's own sample PNGs (8x8 digits) and photo-sized JPEGs made from
scikit-image's data images (astronaut, coffee, chelsea, rocket; synthetic images when scikit-image is
missing), cover-resized to each ``--size`` (default 640x480 and 1024x768), quality 90. Each file is
decoded once (``hub.runtime.preprocess.decode_rgb``: uint8 RGB HWC) and those pixels feed every path.

1. Python, batch 1, per image, interleaved round by round (the order rotates each round):
   (a) ``model_e2e.onnx`` on the decoded pixels; (b) ``preprocess_images`` (Pillow + numpy) + ``model.onnx``;
   (c) both from the file on disk (decode + run); plus the parts alone (decode, preprocess, plain graph).
   With 1 onnxruntime thread and with onnxruntime's default.
   onnxruntime's profiler then splits model_e2e.onnx's kernel time into in-graph Resize, the rest of
   the in-graph preprocessing, and the model's own nodes.
2. ``model_e2e.onnx`` ``session.run`` alone, same pixels, same warm-up and iterations, one runtime at a
   time: onnxruntime-python (1 thread, and default threads), onnxruntime-node (tests/js/node_modules,
   1 thread) and onnxruntime-web's wasm backend in headless Chromium (1 thread; page served from
   127.0.0.1 with COOP/COEP headers, timed with performance.now() in the page). Node and the page
   share the loop in bench/deploy_runtimes.mjs. The runtimes take turns for --rounds rounds (order
   rotating, each round its own warm-up, --iters/--rounds timed runs), so a burst of load on a shared
   machine does not fall on one runtime only.

Prints markdown tables; --out writes every number (raw times included) as JSON.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
NODE_MODULES = ROOT / "tests" / "js" / "node_modules"
ORT_WEB_DIST = ROOT / "hub" / "server" / "web" / "vendor" / "node_modules" / "onnxruntime-web" / "dist"
RUNNER = Path(__file__).resolve().parent / "deploy_runtimes.mjs"
WARM_PROFILE = 3  # profiled runs not counted
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")

PAGE = """<!doctype html><meta charset="utf-8"><title>deploy runtimes</title><pre id="status">running</pre>
<script type="module">
import * as ort from './ort/ort.wasm.min.mjs';
import { benchmark } from './deploy_runtimes.mjs';
try {
  const job = await (await fetch('job.json')).json();
  ort.env.wasm.wasmPaths = new URL('./ort/', location.href).href;
  ort.env.wasm.numThreads = job.threads;
  ort.env.wasm.proxy = false;
  const result = await benchmark(ort, job, {
    model: job.model, providers: ['wasm'],
    load: async (name) => new Uint8Array(await (await fetch(name)).arrayBuffer()),
  });
  result.runtime = 'onnxruntime-web (wasm)';
  result.version = ort.env.versions?.web ?? null;
  result.crossOriginIsolated = self.crossOriginIsolated;
  result.userAgent = navigator.userAgent;
  window.benchResult = JSON.stringify(result);
} catch (err) {
  window.benchResult = JSON.stringify({ error: String(err?.stack ?? err) });
}
document.getElementById('status').textContent = 'done';
</script>
"""


# ---------------------------------------------------------------- inputs

def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def photo_sources(count: int) -> list[tuple[str, np.ndarray]]:
    """RGB photos: scikit-image's data images, or smooth synthetic images without it."""
    try:
        import skimage.data as data

        return [(name, getattr(data, name)()) for name in PHOTOS[:count]]
    except ImportError:
        rng = np.random.default_rng(0)
        out = []
        for i in range(count):
            y, x = np.mgrid[0:480, 0:640]
            base = np.stack([(x * (i + 1)) % 256, (y * 2) % 256, ((x + y) // 3) % 256], axis=-1).astype(np.float32)
            noise = rng.normal(0, 12, base.shape)
            out.append((f"synthetic{i}", np.clip(base + noise, 0, 255).astype(np.uint8)))
        return out


def make_inputs(export: Path, work: Path, sizes: list[tuple[int, int]], photos: int) -> dict[str, dict]:
    """{set name: {"files": [...], "note": ...}}: the export's sample PNGs, then JPEGs per size."""
    from PIL import Image, ImageOps

    sets: dict[str, dict] = {}
    samples = sorted((export / "samples").glob("*.png"))
    if samples:
        w, h = Image.open(samples[0]).size
        sets[f"digits {w}x{h} PNG"] = {"files": samples, "note": "the export's samples/ (grey PNG)"}
    sources = photo_sources(photos)
    for width, height in sizes:
        folder = work / f"{width}x{height}"
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for name, pixels in sources:
            image = ImageOps.fit(Image.fromarray(pixels).convert("RGB"), (width, height), Image.Resampling.LANCZOS)
            path = folder / f"{name}.jpg"
            image.save(path, format="JPEG", quality=90)
            files.append(path)
        sets[f"photo {width}x{height} JPEG"] = {"files": files, "note": ", ".join(n for n, _ in sources)}
    return sets


def stats(times: list[float]) -> dict[str, float]:
    arr = np.asarray(times, dtype=np.float64)
    return {"p50": float(np.percentile(arr, 50)), "p90": float(np.percentile(arr, 90)),
            "min": float(arr.min()), "mean": float(arr.mean()), "n": int(arr.size)}


# ---------------------------------------------------------------- 1. Python paths

def python_paths(export: Path, sets: dict[str, dict], threads: int, warmup: int, iters: int) -> list[dict]:
    """Per input set: (a), (b), (c) and the parts, interleaved with a rotating order, batch 1."""
    from hub.runtime.preprocess import decode_rgb, preprocess_images
    from hub.runtime.session import make_session

    contract = json.loads((export / "config.json").read_text())["preprocessing"]
    plain = make_session(export / "onnx" / "model.onnx", threads=threads or None)
    e2e = make_session(export / "onnx" / "model_e2e.onnx", threads=threads or None)
    plain_in = plain.get_inputs()[0].name
    rows = []
    for name, spec in sets.items():
        files = spec["files"]
        pixels = [np.ascontiguousarray(decode_rgb(f)[None]) for f in files]  # decoded once: (1, H, W, 3)
        prepared = [preprocess_images([p[0]], contract) for p in pixels]
        methods = {
            "a_e2e_pixels": lambda k: e2e.run(None, {"image": pixels[k]})[1],
            "b_python_pixels": lambda k: plain.run(None, {plain_in: preprocess_images([pixels[k][0]], contract)})[0],
            "c_e2e_file": lambda k: e2e.run(None, {"image": decode_rgb(files[k])[None]})[1],
            "c_python_file": lambda k: plain.run(None, {plain_in: preprocess_images([files[k]], contract)})[0],
            "decode": lambda k: decode_rgb(files[k]),
            "preprocess": lambda k: preprocess_images([pixels[k][0]], contract),
            "plain_graph": lambda k: plain.run(None, {plain_in: prepared[k]})[0],
        }
        names = list(methods)
        times: dict[str, list[float]] = {m: [] for m in names}
        for i in range(warmup + iters):
            k = i % len(files)
            shift = i % len(names)
            for m in names[shift:] + names[:shift]:
                t0 = time.perf_counter()
                methods[m](k)
                if i >= warmup:
                    times[m].append((time.perf_counter() - t0) * 1e3)
        e2e_labels = [int(methods["a_e2e_pixels"](k)[0]) for k in range(len(files))]
        py_labels = [int(np.argmax(methods["b_python_pixels"](k)[0])) for k in range(len(files))]
        rows.append({"input": name, "threads": threads or "default", "images": len(files),
                     "shapes": [list(p.shape[1:]) for p in pixels],
                     "stats": {m: stats(t) for m, t in times.items()}, "times_ms": times,
                     "labels_e2e": e2e_labels, "labels_python": py_labels,
                     "top1_agree": sum(a == b for a, b in zip(e2e_labels, py_labels)) / len(files)})
    return rows


def profile_e2e(export: Path, sets: dict[str, dict], runs: int) -> list[dict]:
    """onnxruntime's own profile of model_e2e.onnx (1 thread): kernel time of the in-graph preprocessing
    (nodes the e2e builder added, prefixed ``e2e_``) by op type, vs the model's nodes."""
    import onnxruntime as ort

    from hub.runtime.preprocess import decode_rgb

    rows = []
    with tempfile.TemporaryDirectory(prefix="hub-deploy-prof-") as tmp:
        for name, spec in sets.items():
            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
            options.enable_profiling, options.profile_file_prefix = True, str(Path(tmp) / "e2e")
            options.log_severity_level = 3
            session = ort.InferenceSession(str(export / "onnx" / "model_e2e.onnx"), options,
                                           providers=["CPUExecutionProvider"])
            pixels = [np.ascontiguousarray(decode_rgb(f)[None]) for f in spec["files"]]
            for i in range(runs):
                session.run(None, {"image": pixels[i % len(pixels)]})
            events = json.loads(Path(session.end_profiling()).read_text())
            starts = sorted(e["ts"] for e in events if e.get("cat") == "Session" and e["name"] == "model_run")
            after = starts[WARM_PROFILE] if len(starts) > WARM_PROFILE else 0  # the first runs are warm-up
            counted = len([t for t in starts if t >= after]) or 1
            by_op: dict[str, float] = {}
            for e in events:
                if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= after:
                    part = "preprocessing" if e["name"].startswith("e2e_") else "model"
                    key = f"{part}:{e['args'].get('op_name')}"
                    by_op[key] = by_op.get(key, 0.0) + e["dur"] / 1e3 / counted
            rows.append({"input": name, "runs": counted, "ms_per_run": dict(sorted(by_op.items(), key=lambda kv: -kv[1]))})
    return rows


# ---------------------------------------------------------------- 2. runtimes

def write_job(export: Path, sets: dict[str, dict], folder: Path, threads: int, warmup: int, iters: int) -> dict:
    """The pixels as raw .bin files + job.json, read by Node and by the page; the model linked beside them."""
    from hub.runtime.preprocess import decode_rgb

    folder.mkdir(parents=True, exist_ok=True)
    job = {"model": "model_e2e.onnx", "node_modules": str(NODE_MODULES), "threads": threads,
           "warmup": warmup, "iters": iters, "inputs": []}
    for i, (name, spec) in enumerate(sets.items()):
        arrays = [np.ascontiguousarray(decode_rgb(f), dtype=np.uint8) for f in spec["files"]]
        (folder / f"input{i}.bin").write_bytes(b"".join(a.tobytes() for a in arrays))
        job["inputs"].append({"name": name, "file": f"input{i}.bin", "shapes": [list(a.shape) for a in arrays]})
    model = folder / "model_e2e.onnx"
    if not model.exists():
        model.symlink_to((export / "onnx" / "model_e2e.onnx").resolve())
    (folder / "job.json").write_text(json.dumps(job))
    return job


def load_pixels(folder: Path, job: dict) -> dict[str, list[np.ndarray]]:
    out = {}
    for spec in job["inputs"]:
        raw = np.frombuffer((folder / spec["file"]).read_bytes(), dtype=np.uint8)
        arrays, offset = [], 0
        for h, w, c in spec["shapes"]:
            arrays.append(np.ascontiguousarray(raw[offset:offset + h * w * c].reshape(1, h, w, c)))
            offset += h * w * c
        out[spec["name"]] = arrays
    return out


class PythonRuntime:
    """The same loop as deploy_runtimes.mjs, in onnxruntime-python (one session for every round)."""

    def __init__(self, export: Path, folder: Path, job: dict, threads: int) -> None:
        import onnxruntime

        from hub.runtime.session import make_session

        self.job, self.pixels = job, load_pixels(folder, job)
        started = time.perf_counter()
        self.session = make_session(export / "onnx" / "model_e2e.onnx", threads=threads or None)
        self.info = {"runtime": "onnxruntime-python", "version": onnxruntime.__version__,
                     "threads": threads or "default", "load_ms": (time.perf_counter() - started) * 1e3}

    def __call__(self) -> dict:
        result = {**self.info, "inputs": {}}
        for name, tensors in self.pixels.items():
            for i in range(self.job["warmup"]):
                self.session.run(None, {"image": tensors[i % len(tensors)]})
            times, labels = [], [None] * len(tensors)
            for i in range(self.job["iters"]):
                k = i % len(tensors)
                t0 = time.perf_counter()
                out = self.session.run(None, {"image": tensors[k]})
                times.append((time.perf_counter() - t0) * 1e3)
                labels[k] = int(out[1][0])
            result["inputs"][name] = {"times_ms": times, "labels": labels}
        return result

    def close(self) -> None:
        pass


class NodeRuntime:
    """A fresh `node bench/deploy_runtimes.mjs job.json` per round."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.node = folder, shutil.which("node")

    def __call__(self) -> dict:
        if not self.node:
            return {"runtime": "onnxruntime-node", "error": "node is not installed"}
        proc = subprocess.run([self.node, str(RUNNER), str(self.folder / "job.json")], capture_output=True,
                              text=True, timeout=900)
        if proc.returncode:
            return {"runtime": "onnxruntime-node", "error": proc.stderr.strip()[-2000:]}
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def close(self) -> None:
        pass


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",
                      ".js": "text/javascript", ".wasm": "application/wasm", ".onnx": "application/octet-stream",
                      ".bin": "application/octet-stream", ".json": "application/json"}

    def end_headers(self) -> None:  # cross-origin isolated: 5 us performance.now() instead of 100 us
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args) -> None:
        pass


class WebRuntime:
    """onnxruntime-web (wasm) in one headless Chromium, driven by selenium; each round loads the page afresh
    (new session, same warm-up) and reads the result the page leaves on ``window``."""

    def __init__(self, folder: Path, timeout: float) -> None:
        self.timeout, self.driver, self.server = timeout, None, None
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        driver_path = shutil.which("chromedriver")
        if not binary or not driver_path:
            self.error = "chromium / chromedriver not installed"
            return
        self.error = None
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        (folder / "index.html").write_text(PAGE)
        shutil.copy(RUNNER, folder / RUNNER.name)
        if not (folder / "ort").exists():
            (folder / "ort").symlink_to(ORT_WEB_DIST)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      functools.partial(_Handler, directory=str(folder)))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,1600", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
            options.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service(driver_path), options=options)

    def __call__(self) -> dict:
        if self.error:
            return {"runtime": "onnxruntime-web (wasm)", "error": self.error}
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver.get(f"http://127.0.0.1:{self.server.server_address[1]}/index.html?{time.time_ns()}")
        WebDriverWait(self.driver, self.timeout, poll_frequency=0.2).until(
            lambda d: d.execute_script("return window.benchResult"))
        result = json.loads(self.driver.execute_script("return window.benchResult"))
        result["chromium"] = self.driver.capabilities.get("browserVersion")
        result.setdefault("runtime", "onnxruntime-web (wasm)")
        return result

    def close(self) -> None:
        if self.driver is not None:
            self.driver.quit()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def run_rounds(runners: list, rounds: int) -> list[dict]:
    """Every runtime once per round, the order rotating; times concatenated, labels checked across rounds."""
    merged: list[dict | None] = [None] * len(runners)
    for r in range(rounds):
        order = list(range(len(runners)))
        order = order[r % len(order):] + order[:r % len(order)]
        for i in order:
            result = runners[i]()
            if "error" in result or merged[i] is None:
                if merged[i] is None or "error" in result:
                    merged[i] = {**result, "rounds": 1, "load_ms": [result.get("load_ms")]}
                continue
            if "error" in merged[i]:
                continue
            merged[i]["rounds"] += 1
            merged[i]["load_ms"].append(result["load_ms"])
            for name, data in result["inputs"].items():
                entry = merged[i]["inputs"][name]
                entry["times_ms"] += data["times_ms"]
                entry["labels_stable"] = entry.get("labels_stable", True) and entry["labels"] == data["labels"]
    return merged


def package_version(folder: Path) -> str | None:
    try:
        return json.loads((folder / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


# ---------------------------------------------------------------- tables

def fmt(s: dict) -> str:
    return f"{s['p50']:.2f} / {s['p90']:.2f}"


def table_paths(rows: list[dict]) -> str:
    lines = ["| input | ort threads | (a) e2e graph, pixels | (b) preprocess_images + plain graph, pixels | b/a (p50) "
             "| (c) file: decode + e2e | (c) file: preprocess_images(path) + plain | c b/a (p50) | top-1 a = b |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["stats"]
        lines.append(f"| {r['input']} | {r['threads']} | {fmt(s['a_e2e_pixels'])} | {fmt(s['b_python_pixels'])} | "
                     f"{s['b_python_pixels']['p50'] / s['a_e2e_pixels']['p50']:.2f} | {fmt(s['c_e2e_file'])} | "
                     f"{fmt(s['c_python_file'])} | {s['c_python_file']['p50'] / s['c_e2e_file']['p50']:.2f} | "
                     f"{r['top1_agree']:.2f} |")
    return "\n".join(lines)


def table_parts(rows: list[dict]) -> str:
    lines = ["| input | ort threads | decode file | preprocess_images (Pillow + numpy) | plain graph | e2e graph "
             "| e2e - plain (in-graph preprocessing) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["stats"]
        lines.append(f"| {r['input']} | {r['threads']} | {s['decode']['p50']:.2f} | {s['preprocess']['p50']:.2f} | "
                     f"{s['plain_graph']['p50']:.2f} | {s['a_e2e_pixels']['p50']:.2f} | "
                     f"{s['a_e2e_pixels']['p50'] - s['plain_graph']['p50']:+.2f} |")
    return "\n".join(lines)


def table_profile(rows: list[dict]) -> str:
    lines = ["| input | in-graph Resize | rest of in-graph preprocessing (+ softmax, argmax) | model nodes | total kernels |",
             "|---|---|---|---|---|"]
    for r in rows:
        ms = r["ms_per_run"]
        resize = sum(v for k, v in ms.items() if k == "preprocessing:Resize")
        pre = sum(v for k, v in ms.items() if k.startswith("preprocessing:")) - resize
        model = sum(v for k, v in ms.items() if k.startswith("model:"))
        lines.append(f"| {r['input']} | {resize:.2f} | {pre:.2f} | {model:.2f} | {resize + pre + model:.2f} |")
    return "\n".join(lines)


def table_runtimes(results: list[dict], names: list[str]) -> str:
    lines = ["| input | runtime | threads | p50 ms | p90 ms | x python 1 thread (p50) | labels = python |",
             "|---|---|---|---|---|---|---|"]
    base = next((r for r in results if r.get("runtime") == "onnxruntime-python" and r.get("threads") == 1), None)
    for name in names:
        for r in results:
            label = f"{r['runtime']} {r.get('version') or ''}".strip()
            if "error" in r:
                lines.append(f"| {name} | {label} | - | - | - | - | error: {r['error'].splitlines()[0][:80]} |")
                continue
            s = stats(r["inputs"][name]["times_ms"])
            b = stats(base["inputs"][name]["times_ms"])["p50"] if base else float("nan")
            same = (r["inputs"][name]["labels"] == base["inputs"][name]["labels"]
                    and r["inputs"][name].get("labels_stable", True)) if base else None
            lines.append(f"| {name} | {label} | {r['threads']} | {s['p50']:.2f} | {s['p90']:.2f} | "
                         f"{s['p50'] / b:.2f} | {'yes' if same else 'NO'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, default=ROOT / "runs" / "digits-lite0" / "export")
    parser.add_argument("--size", action="append", default=[], help="photo WIDTHxHEIGHT (repeatable; "
                        "default 640x480 and 1024x768)")
    parser.add_argument("--photos", type=int, default=4, help="photos per size (at most 4)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iters", type=int, default=100, help="timed runs per input set and path/runtime")
    parser.add_argument("--path-threads", default="1,0", help="ort threads for part 1 (0 = onnxruntime's default)")
    parser.add_argument("--profile-runs", type=int, default=20,
                        help="runs of onnxruntime's profiler on model_e2e.onnx per input set, "
                        f"the first {WARM_PROFILE} not counted (0: skip)")
    parser.add_argument("--rounds", type=int, default=4, help="part 2: the runtimes take turns this many times "
                        "(order rotating; each round its own warm-up and iters/rounds timed runs)")
    parser.add_argument("--skip-node", action="store_true")
    parser.add_argument("--skip-web", action="store_true")
    parser.add_argument("--web-timeout", type=float, default=600)
    parser.add_argument("--out", type=Path, help="write every number (raw times too) as JSON here")
    args = parser.parse_args(argv)
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in (args.size or ["640x480", "1024x768"])]
    if not (args.export / "onnx" / "model_e2e.onnx").is_file():
        parser.error(f"{args.export}/onnx/model_e2e.onnx missing: `make demo` (hub run digits-lite0) makes it")

    import onnxruntime
    import PIL

    started = time.perf_counter()
    versions = {"python": platform.python_version(), "onnxruntime-python": onnxruntime.__version__,
                "numpy": np.__version__, "pillow": PIL.__version__,
                "onnxruntime-node": package_version(NODE_MODULES / "onnxruntime-node"),
                "onnxruntime-web": package_version(ORT_WEB_DIST.parent)}
    node = shutil.which("node")
    if node:
        versions["node"] = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    report = {"command": "python " + " ".join([os.path.relpath(__file__, ROOT), *(argv if argv is not None else sys.argv[1:])]),
              "cpu": cpu_name(), "cpus": os.cpu_count(), "export": str(args.export), "versions": versions,
              "warmup": args.warmup, "iters": args.iters, "batch": 1,
              "loadavg_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="hub-deploy-bench-") as tmp:
        work = Path(tmp)
        sets = make_inputs(args.export, work / "files", sizes, args.photos)
        report["inputs"] = {n: {"files": [f.name for f in s["files"]], "note": s["note"]} for n, s in sets.items()}

        rows = []
        for threads in (int(t) for t in args.path_threads.split(",")):
            rows += python_paths(args.export, sets, threads, args.warmup, args.iters)
        report["python_paths"] = rows
        report["e2e_profile"] = profile = profile_e2e(args.export, sets, args.profile_runs) if args.profile_runs else []

        folder = work / "job"
        per_round = max(1, args.iters // args.rounds)
        job = write_job(args.export, sets, folder, 1, args.warmup, per_round)
        runners = [PythonRuntime(args.export, folder, job, 1), PythonRuntime(args.export, folder, job, 0)]
        if not args.skip_node:
            runners.append(NodeRuntime(folder))
        if not args.skip_web:
            runners.append(WebRuntime(folder, args.web_timeout))
        try:
            runtimes = run_rounds(runners, args.rounds)
        finally:
            for runner in runners:
                runner.close()
        for r in runtimes:
            if r.get("chromium"):
                versions["chromium"] = r["chromium"]
        report["runtimes"] = runtimes
    report["wall_s"] = round(time.perf_counter() - started, 1)
    report["loadavg_end"] = os.getloadavg()

    print(f"# deploy runtimes: {args.export} ({report['cpu']}, {report['cpus']} CPUs); batch 1, "
          f"{args.warmup} warm-up + {args.iters} timed runs per cell; {report['wall_s']} s; load average "
          f"{report['loadavg_start'][0]:.2f} at start, {report['loadavg_end'][0]:.2f} at end\n")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + "\n")
    for name, spec in report["inputs"].items():
        print(f"- {name}: {len(spec['files'])} images ({spec['note']})")
    print("\n## 1. End to end per image in Python, p50 / p90 ms (interleaved)\n")
    print(table_paths(rows))
    print("\n### The parts, p50 ms (same rounds)\n")
    print(table_parts(rows))
    if profile:
        print(f"\n### Where model_e2e.onnx spends its time: onnxruntime profiler, 1 thread, ms per run "
              f"(mean of {profile[0]['runs']})\n")
        print(table_profile(profile))
    print("\n## 2. model_e2e.onnx session.run, same uint8 pixels, per runtime\n")
    print(table_runtimes(runtimes, list(sets)))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
