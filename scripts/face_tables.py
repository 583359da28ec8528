"""Print the README's face tables (markdown) from the metrics stored in the bundled face files.

    python scripts/face_tables.py [--judge resources/celeba-judge.pt] [--model resources/celeba-beta-cvae.pt]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cvae.checkpoint import load_checkpoint  # noqa: E402

RESOURCES = Path(__file__).resolve().parents[1] / "resources"


def judge_table(metrics: dict) -> str:
    lines = ["| attribute | accuracy | balanced accuracy | positive in the data |", "| --- | --- | --- | --- |"]
    for row in metrics["per_attribute"]:
        lines.append(f"| {row['name']} | {100 * row['accuracy']:.1f}% | {100 * row['balanced_accuracy']:.1f}% | "
                     f"{100 * row['positive_rate']:.1f}% |")
    lines.append(f"| **mean of 40** | **{100 * metrics['mean_accuracy']:.1f}%** | "
                 f"**{100 * metrics['mean_balanced_accuracy']:.1f}%** | (majority class: "
                 f"{100 * metrics['majority_accuracy']:.1f}%) |")
    return "\n".join(lines)


def control_table(metrics: dict) -> str:
    lines = ["| attribute | judged on when forced on | judged on when forced off | gap |", "| --- | --- | --- | --- |"]
    for name, row in metrics["attribute_control"].items():
        lines.append(f"| {name} | {100 * row['on_rate']:.1f}% | {100 * row['off_rate']:.1f}% | "
                     f"**{row['gap']:.2f}** |")
    return "\n".join(lines)


def editing_table(metrics: dict) -> str:
    editing = metrics["editing"]
    lines = ["| attribute flipped | success | added (was off) | removed (was on) | other 39 unchanged |",
             "| --- | --- | --- | --- | --- |"]
    for name, row in editing["attributes"].items():
        lines.append(f"| {name} | {100 * row['success']:.1f}% | {100 * row['add_success']:.1f}% | "
                     f"{100 * row['remove_success']:.1f}% | {100 * row['preservation']:.1f}% |")
    lines.append(f"\nReconstruction of the unedited decode: MSE {editing['reconstruction_mse']:.4f} per pixel "
                 f"(PSNR {editing['reconstruction_psnr']:.1f} dB) over {editing['faces']:,} held-out faces.")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge", type=Path, default=RESOURCES / "celeba-judge.pt")
    parser.add_argument("--model", type=Path, default=RESOURCES / "celeba-beta-cvae.pt")
    args = parser.parse_args(argv)
    if args.judge.is_file():
        print(judge_table(load_checkpoint(args.judge).metrics), end="\n\n")
    if args.model.is_file():
        metrics = load_checkpoint(args.model).metrics
        print(control_table(metrics), end="\n\n")
        print(editing_table(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
