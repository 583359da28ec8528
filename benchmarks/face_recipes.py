"""Compare face-model checkpoints side by side: what β (or width, or epochs) does to control and to sharpness.

For each checkpoint: β and epochs from its training record, held-out reconstruction error (PSNR), the sharpness of
its prior samples over the held-out faces' (cvae.metrics.sharpness: 1 = as much fine detail as real faces), the
attribute judge's on/off gap for the six measured attributes, and editing success (mean of adding and removing).

    python benchmarks/face_recipes.py runs/sweep/b4.pt runs/sweep/b16.pt runs/sweep/b64.pt \\
        --data-dir ../shared/data-full --judge resources/celeba-judge.pt [--count 500]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cvae.checkpoint import load_checkpoint  # noqa: E402
from cvae.data import load_dataset  # noqa: E402
from cvae.metrics import (CONTROL_ATTRIBUTES, attribute_control, edit_control, generated_batches,  # noqa: E402
                          labels_like, sharpness)


def measure(path: Path, judge, held_out, count: int) -> dict:
    checkpoint = load_checkpoint(path)
    model = checkpoint.model.float().eval()
    control = attribute_control(model, judge, held_out, count=count, seed=0)
    editing = edit_control(model, judge, held_out, count=count)
    samples = torch.cat(list(generated_batches(model, count, labels_like(held_out, count).float(), 250, seed=0)))
    return {
        "beta": checkpoint.train_config.get("beta"), "epochs": checkpoint.epoch,
        "psnr": editing["reconstruction_psnr"],
        "sharpness": sharpness(samples) / sharpness(held_out.images[:count]),
        "gaps": {name: row["gap"] for name, row in control.items()},
        "edits": {name: (row["add_success"] + row["remove_success"]) / 2
                  for name, row in editing["attributes"].items()},
        "preservation": sum(r["preservation"] for r in editing["attributes"].values()) / len(editing["attributes"]),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--data-dir", default=os.environ.get("CVAE_DATA_DIR"))
    parser.add_argument("--judge", type=Path, default=Path(__file__).resolve().parents[1] / "resources" /
                        "celeba-judge.pt")
    parser.add_argument("--count", type=int, default=500, help="prior samples and held-out faces (default 500)")
    args = parser.parse_args(argv)
    held_out = load_dataset("celeba", args.data_dir, "test")
    judge = load_checkpoint(args.judge).model.float().eval()
    print("gap: judge's on-rate − off-rate over prior samples; edit: (added + removed) / 2 on held-out faces; "
          "kept: other attributes unchanged; sharp: sample detail / real detail")
    print(f"{'checkpoint':28s} {'β':>5s} {'ep':>3s} {'PSNR':>6s} {'sharp':>6s} | "
          + " ".join(f"gap {a[:5]:5s}" for a in CONTROL_ATTRIBUTES) + " | "
          + " ".join(f"edit {a[:5]:5s}" for a in CONTROL_ATTRIBUTES) + " | kept")
    for path in args.checkpoints:
        row = measure(path, judge, held_out, args.count)
        gaps = " ".join(f"{row['gaps'][a]:9.2f}" for a in CONTROL_ATTRIBUTES)
        edits = " ".join(f"{row['edits'][a]:10.2f}" for a in CONTROL_ATTRIBUTES)
        print(f"{str(path)[-28:]:28s} {row['beta']:5g} {row['epochs']:3d} {row['psnr']:6.2f} {row['sharpness']:6.2f} | "
              f"{gaps} | {edits} | {row['preservation']:.1%}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
