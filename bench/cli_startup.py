"""Cold-start wall time of the listing commands, against `import torch` in the same run.

Each command runs as a fresh process (the console script the user types),
interleaved round by round so machine noise hits all of them alike. Target
(issue 2): median <= 0.3 s for each listing command.

    .venv/bin/python bench/cli_startup.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
COMMANDS = {
    "hub --help": [str(BIN / "hub"), "--help"],
    "hub plugins": [str(BIN / "hub"), "plugins"],
    "hub list": [str(BIN / "hub"), "list"],
    "hub list backbones --json": [str(BIN / "hub"), "list", "backbones", "--json"],
    "hub zoo list": [str(BIN / "hub"), "zoo", "list"],
    "python -c 'import torch' (baseline)": [sys.executable, "-c", "import torch"],
}
TARGET_S = 0.3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.rounds):
        for name, argv in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           cwd=Path(__file__).resolve().parent.parent)
            times[name].append(time.perf_counter() - start)
    baseline = statistics.median(times["python -c 'import torch' (baseline)"])
    print(f"| command | median (s) | p90 (s) | vs import torch | target <= {TARGET_S}s |")
    print("|---|---|---|---|---|")
    failed = False
    for name, samples in times.items():
        med = statistics.median(samples)
        p90 = sorted(samples)[int(0.9 * (len(samples) - 1))]
        is_hub = name.startswith("hub")
        ok = "" if not is_hub else ("met" if med <= TARGET_S else "MISSED")
        failed |= ok == "MISSED"
        print(f"| `{name}` | {med:.3f} | {p90:.3f} | {med / baseline:.2f}x | {ok} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
