"""Compare face-model recipes side by side: what the body, the likelihood and the objective terms do to control
and to sharpness.

For each checkpoint: β and epochs from its training record, held-out reconstruction error (PSNR), the sharpness of
its prior samples over the held-out faces' (cvae.metrics.sharpness: 1 = as much fine detail as real faces), the
attribute judge's on/off gap for the six measured attributes, and editing success (mean of adding and removing).

Measure checkpoints you have:

    python benchmarks/face_recipes.py runs/sweep/b4.pt runs/sweep/b16.pt \\
        --data-dir ../shared/data-full --judge resources/celeba-judge.pt [--count 500]

or train the named candidates (RECIPES below: same seed, same epochs, on all 27,000 training faces; each run
checkpointed every epoch under --work, so a stopped comparison resumes where it was) and then measure them:

    python benchmarks/face_recipes.py --train today,v2-film,v2-concat,v2-read,v2-read-critic,v2-read-adversary \\
        --epochs 2 --work runs/face-v2 --data-dir ../shared/data-full
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project, and its scripts/ as a package

from cvae.checkpoint import load_checkpoint  # noqa: E402
from cvae.models import BetaCVAEConfig  # noqa: E402
from trainer import TrainConfig  # noqa: E402
from cvae.data import load_dataset  # noqa: E402
from cvae.metrics import (CONTROL_ATTRIBUTES, attribute_control, edit_control, generated_batches,  # noqa: E402
                          labels_like, sharpness)


# today's bundled recipe (scripts/build_face_models.py), then the second version's body — calibrated Gaussian
# (σ-VAE), β 1, residual encoder and resize-conv decoder with group norm, labels at every block — alone and with
# each objective term (cvae.models.objectives)
V2 = dict(architecture="residual", likelihood="calibrated")
RECIPES: dict[str, tuple[dict, float]] = {  # name: (BetaCVAEConfig fields, β)
    "today": (dict(label_every_layer=True, attribute_loss=100.0, attribute_flips=0.5), 16.0),
    "v2-film": (dict(V2, label_injection="film"), 1.0),
    "v2-concat": (dict(V2, label_injection="concat"), 1.0),
    "v2-adversary": (dict(V2, latent_adversary=10.0, adversary_warmup=1.0), 1.0),
    "v2-read": (dict(V2, attribute_loss=100.0), 1.0),
    "v2-read-critic": (dict(V2, attribute_loss=100.0, critic=10.0), 1.0),
    "v2-read-adversary": (dict(V2, attribute_loss=100.0, latent_adversary=10.0, adversary_warmup=1.0), 1.0),
    "v2-read-critic-adversary": (dict(V2, attribute_loss=100.0, critic=10.0, latent_adversary=10.0,
                                      adversary_warmup=1.0), 1.0),
    # half the widths: a quarter of the convolutions' cost, for the toggle's 30 ms and for CPU training hours
    "v2-slim-read-critic": (dict(V2, conv_channels=(16, 32, 64, 128), attribute_loss=100.0, critic=10.0), 1.0),
    # β 1 lets the code carry the attributes that β 16 squeezed out: a stronger reading loss to make up for it
    "v2-slim-read300-critic": (dict(V2, conv_channels=(16, 32, 64, 128), attribute_loss=300.0, critic=10.0), 1.0),
    # round 3: the same with the critic scaled to the reading term, so that it can pull against the textures
    "v2-slim-read300-critic300": (dict(V2, conv_channels=(16, 32, 64, 128), attribute_loss=300.0, critic=300.0),
                                  1.0),
    # round 4: rounds 2 and 3 painted stripes a few pixels wide that the reader read as attributes; read at 32×32
    # (area-averaged), so that only shapes count
    "v2-slim-read300-lowpass-critic300": (dict(V2, conv_channels=(16, 32, 64, 128), attribute_loss=300.0,
                                               attribute_read_size=32, critic=300.0), 1.0),
    # round 5: round 4 plus a residual block at 64×64 (16 wide): round 4's faces showed the last nearest resize's
    # 2×2 blocks, smoothed by one 3×3 conv only
    "v2-slim-read300-lowpass-critic300-full16": (dict(V2, conv_channels=(16, 32, 64, 128), attribute_loss=300.0,
                                                      attribute_read_size=32, critic=300.0, full_size_width=16),
                                                 1.0),
    # round 6: round 5 reading at 48×48: the full-size judge stopped seeing round 4's and 5's glasses, whose thin
    # frames 32×32 averages away; 48 keeps them, and its 2-pixel windows still erase a stripe that alternates every
    # pixel and halve one of period 3 (2-pixel-wide stripes pass)
    "v2-slim-read48-critic300-full16": (dict(V2, conv_channels=(16, 32, 64, 128), attribute_loss=300.0,
                                             attribute_read_size=48, critic=300.0, full_size_width=16), 1.0),
}


def recipe(name: str, epochs: int):
    """The candidate `name` as the build script's Recipe: the same seed, batch and schedule for every one."""
    from scripts.build_face_models import Recipe

    fields, beta = RECIPES[name]
    return Recipe(f"{name}.pt", BetaCVAEConfig(**fields),
                  TrainConfig(epochs=epochs, batch_size=64, lr_schedule="cosine", beta=beta, seed=12, device="cpu",
                              cpu_bf16=True, sample_count=0))


def train_candidates(names: list[str], epochs: int, work: Path, data_dir, limit: int | None = None) -> list[Path]:
    from scripts.build_face_models import train_recipe

    train = load_dataset("celeba", data_dir, "train", limit=limit)
    held_out = load_dataset("celeba", data_dir, "test")
    paths = []
    for name in names:
        checkpoint, seconds = train_recipe(name, recipe(name, epochs), train, held_out, work)
        print(f"{name}: {checkpoint.epoch} epochs, {seconds / 60:.1f} min of training", flush=True)
        paths.append(work / f"{name}.pt")
    return paths


EDITS = {"single": {}, "implied": {"implied": True},  # how each attribute is edited (cvae.attribute_edits)
         "implied+direction": {"implied": True, "mode": "both"}}
TARGETS = {"Eyeglasses": 0.95, "Smiling": 0.90, "Male": 0.95, "Blond_Hair": 0.60, "Wearing_Hat": 0.60,
           "Mustache": 0.50}  # issue 20's must-have edit success (implied edit, strength 1), both judges
TARGET_GAP, TARGET_PRESERVATION, TARGET_PSNR = 0.6, 0.90, 22.0


def directions_for(checkpoint, model, train):
    """The checkpoint's shipped attribute directions, or (a file saved before they were derived) the same rule
    applied now: cvae.derived's fit to the codes of the first DIRECTION_FACES training faces."""
    from cvae.derived import DIRECTION_FACES, Derived, directions_of
    from cvae.latent import encode_means

    shipped = Derived.of(checkpoint).attribute_directions
    if shipped is not None:
        return shipped.float()
    images, labels = train.images[:DIRECTION_FACES], train.labels[:DIRECTION_FACES]
    return directions_of(encode_means(model, images, labels), labels).float()


def both_ways(row: dict) -> float:
    """The mean of adding and removing success; either alone when no measured face could be edited the other way."""
    rates = [row[key] for key in ("add_success", "remove_success") if row[key] == row[key]]  # NaN: no such face
    return sum(rates) / len(rates) if rates else float("nan")


def measure(path: Path, judges: list, held_out, count: int, train, strengths=(1.0,)) -> list[dict]:
    """PSNR, sharpness, generation gaps (alone and with implied attributes) and edit success (each of EDITS at
    each strength) of one checkpoint: one row per judge, every judge reading the same decodes."""
    checkpoint = load_checkpoint(path)
    model = checkpoint.model.float().eval()
    rows = train.labels.float()
    control = {"single": attribute_control(model, judges, held_out, count=count, seed=0),
               "implied": attribute_control(model, judges, held_out, count=count, seed=0, implied_rows=rows)}
    directions = directions_for(checkpoint, model, train)
    edits = {}
    for strength in strengths:
        for kind, how in EDITS.items():
            edits[(kind, strength)] = edit_control(
                model, judges, held_out, count=count, implied_rows=rows if how.get("implied") else None,
                mode=how.get("mode", "label"), directions=directions, strength=strength)
    samples = torch.cat(list(generated_batches(model, count, labels_like(held_out, count).float(), 250, seed=0)))
    common = {"checkpoint": str(path), "beta": float(checkpoint.train_config.get("beta") or "nan"), "epochs": checkpoint.epoch,
              "faces": count, "psnr": edits[("single", strengths[0])][0]["reconstruction_psnr"],
              "sharpness": sharpness(samples) / sharpness(held_out.images[:count])}

    def by_judge(j: int) -> dict:
        per_edit = {f"{kind}@{strength:g}": report[j]["attributes"] for (kind, strength), report in edits.items()}
        return {**common,
                "gaps": {kind: {name: row["gap"] for name, row in report[j].items()}
                         for kind, report in control.items()},
                "edits": {key: {name: both_ways(row) for name, row in attrs.items()}
                          for key, attrs in per_edit.items()},
                "added": {key: {name: row["add_success"] for name, row in attrs.items()}
                          for key, attrs in per_edit.items()},
                "preservation": {key: sum(row["preservation"] for row in attrs.values()) / len(attrs)
                                 for key, attrs in per_edit.items()}}

    return [by_judge(j) for j in range(len(judges))]


def markdown(results: dict[str, list[dict]]) -> str:
    """The README's two-judge tables: per checkpoint, one row per figure (generation gaps, edit success per edit
    kind, added alone and both ways) with every judge's reading in each cell, side by side ("0.95 / 0.97"), and
    ✓ where issue 20's target holds for every judge (a target counts only when both judges meet it)."""
    def cell(values: list[float], target: float | None, percent: bool = False) -> str:
        text = " / ".join(f"{v:.1%}" if percent else f"{v:.2f}" for v in values)
        return text + (" ✓" if target is not None and all(v >= target for v in values) else "")

    lines = []
    for path, rows in results.items():
        first = rows[0]
        lines += [f"**{Path(path).name}**: {first['epochs']} epochs, β {first['beta']:g}, {first['faces']:,} "
                  f"held-out faces, PSNR {first['psnr']:.1f} dB (target ≥ {TARGET_PSNR:g}"
                  f"{' ✓' if first['psnr'] >= TARGET_PSNR else ''}), sample sharpness {first['sharpness']:.2f}; "
                  f"judges: {' / '.join(row['judge'] for row in rows)}", "",
                  "| figure | " + " | ".join(CONTROL_ATTRIBUTES) + " | kept |",
                  "| --- | " + " | ".join("---" for _ in CONTROL_ATTRIBUTES) + " | --- |"]
        for kind in first["gaps"]:
            cells = [cell([row["gaps"][kind][a] for row in rows], TARGET_GAP if kind == "implied" else None)
                     for a in CONTROL_ATTRIBUTES]
            lines.append(f"| gap, {kind} | " + " | ".join(cells) + " | |")
        for figure, label in (("added", "added"), ("edits", "both ways")):
            for kind in first[figure]:
                must = kind == "implied@1" and figure == "edits"
                cells = [cell([row[figure][kind][a] for row in rows], TARGETS[a] if must else None)
                         for a in CONTROL_ATTRIBUTES]
                kept = cell([row["preservation"][kind] for row in rows], TARGET_PRESERVATION if must else None,
                            percent=True) if figure == "edits" else ""
                lines.append(f"| edit {kind}, {label} | " + " | ".join(cells) + f" | {kept} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*", type=Path)
    parser.add_argument("--train", help=f"comma-separated candidates to train first: {', '.join(RECIPES)}")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each trained candidate (default 2)")
    parser.add_argument("--work", type=Path, default=Path("runs/face-v2"), help="where candidates train")
    parser.add_argument("--limit", type=int, help="train candidates on the first N training faces only")
    parser.add_argument("--data-dir", default=os.environ.get("CVAE_DATA_DIR"))
    parser.add_argument("--judge", type=Path, action="append",
                        help="an attribute judge to measure with; repeat it for several, all reading the same "
                             "decodes (default: both shipped judges, resources/celeba-judge.pt and "
                             "celeba-judge-lowpass.pt)")
    parser.add_argument("--count", type=int, default=500, help="prior samples and held-out faces (default 500)")
    parser.add_argument("--strength", type=float, action="append",
                        help="edit strength; repeat it for several (default 1)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--markdown", action="store_true", help="print the README's two-judge tables too")
    args = parser.parse_args(argv)
    if args.train:
        names = [n.strip() for n in args.train.split(",") if n.strip()]
        unknown = sorted(set(names) - set(RECIPES))
        if unknown:
            parser.error(f"unknown candidate {', '.join(unknown)}; expected some of {', '.join(RECIPES)}")
        args.checkpoints = [*train_candidates(names, args.epochs, args.work, args.data_dir, args.limit),
                            *args.checkpoints]
    if not args.checkpoints:
        parser.error("give checkpoints to measure, or --train candidates")
    held_out = load_dataset("celeba", args.data_dir, "test")
    train = load_dataset("celeba", args.data_dir, "train")
    resources = Path(__file__).resolve().parents[1] / "resources"
    judge_paths = args.judge or [resources / "celeba-judge.pt", resources / "celeba-judge-lowpass.pt"]
    judges = [load_checkpoint(p).model.float().eval() for p in judge_paths]
    strengths = tuple(args.strength or (1.0,))
    print("gap: judge's on-rate − off-rate over prior samples, alone / implied attributes set likewise; edit: "
          "(added + removed) / 2 on held-out faces, single flip / with implied attributes / and along latent "
          "directions, @strength; kept: other attributes unchanged; sharp: sample detail / real detail")
    edit_kinds = [f"{kind}@{s:g}" for s in strengths for kind in EDITS]
    print(f"{'checkpoint':24s} {'judge':12s} {'figure':22s} {'β':>4s} {'ep':>3s} {'PSNR':>6s} {'sharp':>5s} | "
          + " ".join(f"{a[:10]:>10s}" for a in CONTROL_ATTRIBUTES) + " | kept")
    results = {}
    for path in args.checkpoints:
        rows = measure(path, judges, held_out, args.count, train, strengths)
        for row, judge_path in zip(rows, judge_paths):
            row["judge"] = judge_path.stem
            head = f"{str(path)[-24:]:24s} {judge_path.stem[-12:]:12s}"
            tail = f"{row['beta']:4g} {row['epochs']:3d} {row['psnr']:6.2f} {row['sharpness']:5.2f} |"
            for kind in row["gaps"]:
                print(f"{head} {'gap ' + kind:22s} {tail} "
                      + " ".join(f"{row['gaps'][kind][a]:10.2f}" for a in CONTROL_ATTRIBUTES) + " |", flush=True)
            for kind in edit_kinds:
                print(f"{head} {'edit ' + kind:22s} {tail} "
                      + " ".join(f"{row['edits'][kind][a]:10.2f}" for a in CONTROL_ATTRIBUTES)
                      + f" | {row['preservation'][kind]:.1%}", flush=True)
        results[str(path)] = rows
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    if args.markdown:
        print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
