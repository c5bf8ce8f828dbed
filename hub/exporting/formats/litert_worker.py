"""``python -m hub.exporting.formats.litert_worker WORK OUT``: litert-torch on a saved program.

Run by :func:`hub.exporting.formats.litert_format._convert` in its own process (why: see there).
``WORK`` holds ``model.pt2`` (``torch.export.save``) and ``example.npz`` (the batch-1 inputs, read
without pickle); the LiteRT flatbuffer is written to ``OUT``. A failure exits non-zero with the
converter's error as the last line of stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    import numpy as np
    import torch

    import litert_torch

    work, out = Path(argv[0]), argv[1]
    with np.load(work / "example.npz", allow_pickle=False) as data:
        example = tuple(torch.from_numpy(data[f"arr_{i}"]) for i in range(len(data.files)))
    program = torch.export.load(str(work / "model.pt2"))
    with torch.no_grad():
        edge = litert_torch.convert(program.module(), example)
    edge.export(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
