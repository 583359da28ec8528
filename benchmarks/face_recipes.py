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


EDITS = ("single", "implied", "implied+direction")  # how each attribute is edited (cvae.attribute_edits)


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


def measure(path: Path, judge, held_out, count: int, train=None) -> dict:
    """PSNR, sharpness, generation gaps and edit success of one checkpoint by one judge; with `train` (its
    attribute rows and faces) also the implied edits and the implied edits along latent directions too."""
    checkpoint = load_checkpoint(path)
    model = checkpoint.model.float().eval()
    rows = train.labels.float() if train is not None else None
    control = attribute_control(model, judge, held_out, count=count, seed=0, implied_rows=rows)
    edits = {"single": edit_control(model, judge, held_out, count=count)}
    if train is not None:
        edits["implied"] = edit_control(model, judge, held_out, count=count, implied_rows=rows)
        edits["implied+direction"] = edit_control(model, judge, held_out, count=count, implied_rows=rows,
                                                  mode="both", directions=directions_for(checkpoint, model, train))
    samples = torch.cat(list(generated_batches(model, count, labels_like(held_out, count).float(), 250, seed=0)))
    return {
        "beta": checkpoint.train_config.get("beta"), "epochs": checkpoint.epoch,
        "psnr": edits["single"]["reconstruction_psnr"],
        "sharpness": sharpness(samples) / sharpness(held_out.images[:count]),
        "gaps": {name: row["gap"] for name, row in control.items()},
        "edits": {kind: {name: both_ways(row) for name, row in report["attributes"].items()}
                  for kind, report in edits.items()},
        "preservation": {kind: sum(r["preservation"] for r in report["attributes"].values())
                         / len(report["attributes"]) for kind, report in edits.items()},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*", type=Path)
    parser.add_argument("--train", help=f"comma-separated candidates to train first: {', '.join(RECIPES)}")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each trained candidate (default 2)")
    parser.add_argument("--work", type=Path, default=Path("runs/face-v2"), help="where candidates train")
    parser.add_argument("--limit", type=int, help="train candidates on the first N training faces only")
    parser.add_argument("--data-dir", default=os.environ.get("CVAE_DATA_DIR"))
    parser.add_argument("--judge", type=Path, action="append",
                        help="an attribute judge to measure with; repeat it for several, each gets its own rows "
                             "(default: the shipped resources/celeba-judge.pt)")
    parser.add_argument("--count", type=int, default=500, help="prior samples and held-out faces (default 500)")
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
    judges = args.judge or [Path(__file__).resolve().parents[1] / "resources" / "celeba-judge.pt"]
    print("gap: judge's on-rate − off-rate over prior samples (implied attributes set likewise); edit: (added + "
          "removed) / 2 on held-out faces, single flip / with implied attributes / and along latent directions; "
          "kept: other attributes unchanged; sharp: sample detail / real detail")
    print(f"{'checkpoint':24s} {'judge':12s} {'edit':17s} {'β':>4s} {'ep':>3s} {'PSNR':>6s} {'sharp':>5s} | "
          + " ".join(f"gap {a[:5]:5s}" for a in CONTROL_ATTRIBUTES) + " | "
          + " ".join(f"edit {a[:5]:5s}" for a in CONTROL_ATTRIBUTES) + " | kept")
    for path in args.checkpoints:
        for judge_path in judges:
            judge = load_checkpoint(judge_path).model.float().eval()
            row = measure(path, judge, held_out, args.count, train)
            gaps = " ".join(f"{row['gaps'][a]:9.2f}" for a in CONTROL_ATTRIBUTES)
            for kind in EDITS:
                edits = " ".join(f"{row['edits'][kind][a]:10.2f}" for a in CONTROL_ATTRIBUTES)
                print(f"{str(path)[-24:]:24s} {judge_path.stem[-12:]:12s} {kind:17s} {row['beta']:4g} "
                      f"{row['epochs']:3d} {row['psnr']:6.2f} {row['sharpness']:5.2f} | {gaps} | {edits} | "
                      f"{row['preservation'][kind]:.1%}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
