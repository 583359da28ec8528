"""Retrain and re-evaluate the bundled face models from scratch on CelebA-HQ 64×64, then write resources/*.pt.

    python scripts/build_face_models.py --data-dir ../shared/data-full                 # judge, then the β-CVAE
    python scripts/build_face_models.py --data-dir ../shared/data-full --only judge
    python scripts/build_face_models.py --data-dir ../shared/data-full --only judge2   # the low-pass judge
    python scripts/build_face_models.py --data-dir ../shared/data-full --only face --evaluate-only
    python scripts/build_face_models.py --data-dir ../shared/data-full --directions-only  # add directions only

The loader's held-out rule splits the 30,000 faces into 27,000 training and 3,000 held-out faces. The judge trains
on training faces 1–25,000 and tunes its per-attribute thresholds on training faces 25,001–27,000 (on another
folder: all training faces but the last 2,000, and those); the β-CVAE trains on all training faces. Every figure (judge accuracy, attribute control, editing) is measured on the held-out faces
only. Runs are checkpointed under --work every epoch and resume where they stopped; each bundled file is written
in half precision without optimizer state, with its metrics and the derived data the face panels need without a
data folder (cvae.derived); no image is stored.
Wall times on this project's 2-core CPU (bfloat16 autocast): judge ~15 min, β-CVAE ~2 min per epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cvae.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from cvae.data import ImageDataset, load_dataset  # noqa: E402
from cvae.derived import ATTRIBUTE_ROWS, DIRECTION_FACES, SAMPLE_FACES, add_attribute_directions, derive  # noqa: E402
from cvae.metrics import (attribute_accuracy, attribute_control, edit_control, generated_batches,  # noqa: E402
                          labels_like, mean_loss_terms, sharpness)
from cvae.models import AttributeJudgeConfig, BetaCVAEConfig, build_model  # noqa: E402
from cvae.models.attribute_judge import choose_thresholds  # noqa: E402
from trainer import TrainConfig  # noqa: E402

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
THRESHOLD_FACES = 2_000  # the last training faces: they tune the judge's thresholds and are never trained on


@dataclass
class Recipe:
    name: str
    config: object
    train: TrainConfig


RECIPES = {
    "judge": Recipe("celeba-judge.pt", AttributeJudgeConfig(),
                    TrainConfig(epochs=20, batch_size=128, lr_schedule="cosine", seed=11, device="cpu",
                                cpu_bf16=True, sample_count=0)),
    # the second, independent judge: another architecture reading low-passed faces (32×32), trained with blur, noise
    # and colour augmentation, so that a texture only a CNN at full size reads does not count as an attribute
    "judge2": Recipe("celeba-judge-lowpass.pt",
                     AttributeJudgeConfig(body="residual", read_size=32, conv_channels=(32, 64, 128, 256),
                                          hidden_dim=256, augment_shift=2, augment_blur=1.0, augment_noise=0.05,
                                          augment_colour=0.2),
                     TrainConfig(epochs=8, batch_size=128, lr_schedule="cosine", seed=13, device="cpu",
                                 cpu_bf16=True, sample_count=0)),
    # β 16 and the attributes at every decoder layer; the attribute-reading loss (weight 100) is what made the
    # toggles move the judge in the CPU budget (README, "Bundled face model": the β sweep and the loss compared)
    "face": Recipe("celeba-beta-cvae.pt", BetaCVAEConfig(label_every_layer=True, attribute_loss=100.0,
                                                         attribute_flips=0.5),
                   TrainConfig(epochs=16, batch_size=64, lr_schedule="cosine", beta=16.0, seed=12, device="cpu",
                               cpu_bf16=True)),
}


def part(data: ImageDataset, start: int, stop: int) -> ImageDataset:
    return ImageDataset(data.name, data.split, data.images[start:stop], data.labels[start:stop], data.label_names,
                        data.label_kind, dict(data.info))


def train_recipe(key: str, recipe: Recipe, train, test, work: Path):
    """The digit build's training step (resume where it stopped, refuse another recipe's run): (checkpoint, its
    training seconds as that step records them, earlier epochs of an interrupted or finished run included)."""
    from scripts.build_bundled_models import train_recipe as train_or_resume

    checkpoint = train_or_resume(key, recipe, train, test, work)
    return checkpoint, float(checkpoint.metrics.get("train_seconds", 0.0))


def bundle(checkpoint, path: Path):
    """Half precision, no optimizer state, loaded back so that metrics describe exactly the weights shipped."""
    checkpoint.training_state = None
    return load_checkpoint(save_checkpoint(checkpoint, path, half=True))


def attach_face_support(checkpoint, model, train, held_out, faces: int = SAMPLE_FACES,
                        rows: int = ATTRIBUTE_ROWS) -> None:
    """What the face panels need without a data folder, all derived, no image (cvae.derived, what the training
    loop's save writes too): the encodings (posterior means) and attributes of a few held-out faces for Interpolate
    and Edit, training attribute rows and rates for Generate's "sample attributes like the data" (and implied edits),
    the held-out faces' encodings and the attribute directions of the training faces' encodings; of the weights
    shipped (`model`, the half-precision file loaded back)."""
    checkpoint.derived = derive(model, train, held_out, sample_faces=faces, attribute_rows=rows).to_dict()


def build_judge(train, held_out, work: Path, out: Path, evaluate_only: bool, key: str = "judge") -> dict:
    recipe = RECIPES[key]
    if evaluate_only:
        checkpoint, seconds = load_checkpoint(out / recipe.name), 0.0
    else:
        checkpoint, seconds = train_recipe(key, recipe, part(train, 0, len(train) - THRESHOLD_FACES), held_out,
                                           work)
    judge = checkpoint.model.float().eval()
    tuning = part(train, len(train) - THRESHOLD_FACES, len(train))
    judge.thresholds.copy_(choose_thresholds(judge.logits(tuning.images.float() / 255), tuning.labels))
    shipped = bundle(checkpoint, out / recipe.name)
    metrics = {"held_out_images": len(held_out), "threshold_images": len(tuning), "epochs": shipped.epoch,
               **attribute_accuracy(shipped.model, held_out)}
    if seconds:
        metrics["train_seconds"] = round(seconds)
    shipped.metrics = metrics
    save_checkpoint(shipped, out / recipe.name, half=True)
    return metrics


def build_face(train, held_out, work: Path, out: Path, evaluate_only: bool) -> dict:
    recipe = RECIPES["face"]
    judge = load_checkpoint(out / RECIPES["judge"].name).model.float().eval()
    if evaluate_only:
        checkpoint, seconds = load_checkpoint(out / recipe.name), 0.0
    else:
        checkpoint, seconds = train_recipe("face", recipe, train, held_out, work)
    shipped = bundle(checkpoint, out / recipe.name)
    model = shipped.model.float().eval()
    metrics = {"held_out_images": len(held_out), "epochs": shipped.epoch, "beta": recipe.train.beta}
    metrics.update({f"test_{k}": v for k, v in mean_loss_terms(model, held_out, beta=1.0, seed=0).items()})
    metrics["attribute_control"] = attribute_control(model, judge, held_out, count=1000, seed=0)
    metrics["editing"] = edit_control(model, judge, held_out, count=1000)
    samples = torch.cat(list(generated_batches(model, 1000, labels_like(held_out, 1000).float(), 250, seed=0)))
    metrics["sample_sharpness_ratio"] = sharpness(samples) / sharpness(held_out.images[:1000])
    if seconds:
        metrics["train_seconds"] = round(seconds)
    shipped.metrics = metrics
    attach_face_support(shipped, model, train, held_out)
    save_checkpoint(shipped, out / recipe.name, half=True)
    return metrics


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("CVAE_DATA_DIR"))
    parser.add_argument("--work", default="runs/faces", type=Path)
    parser.add_argument("--out", default=RESOURCES, type=Path)
    parser.add_argument("--only", default="judge,face")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="measure the files already in --out again (no training)")
    parser.add_argument("--directions-only", action="store_true",
                        help="give the face file in --out the latent attribute directions of its training faces "
                             "(cvae.derived.add_attribute_directions), every other entry kept as it is; no "
                             "training, no measuring")
    parser.add_argument("--device", default="cpu",
                        help="cpu (the bundled files; bfloat16 autocast), cuda[:N] or auto (mixed precision on CUDA)")
    parser.add_argument("--face-epochs", type=int, help="epochs of the β-CVAE (default: the recipe's)")
    args = parser.parse_args(argv)
    for recipe in RECIPES.values():
        recipe.train.device = args.device
    if args.face_epochs:
        RECIPES["face"].train.epochs = args.face_epochs
    keys = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = sorted(set(keys) - set(RECIPES))
    if unknown:
        parser.error(f"unknown model {', '.join(unknown)}; expected {', '.join(RECIPES)}")
    if args.directions_only:
        path = args.out / RECIPES["face"].name
        derived = add_attribute_directions(path, args.data_dir)
        print(f"{path}: attribute directions {tuple(derived.attribute_directions.shape)} from the first "
              f"{DIRECTION_FACES} training faces", flush=True)
        return 0
    train = load_dataset("celeba", args.data_dir, "train")
    held_out = load_dataset("celeba", args.data_dir, "test")
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for key in ("judge", "judge2"):
        if key in keys:
            summary[key] = build_judge(train, held_out, args.work, args.out, args.evaluate_only, key)
            print(json.dumps({k: v for k, v in summary[key].items() if k != "per_attribute"}), flush=True)
    if "face" in keys:
        summary["face"] = build_face(train, held_out, args.work, args.out, args.evaluate_only)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
