"""Pick the Fashion-MNIST cVAE's recipe by measurement: train named variants on the complete 60,000 training
images and compare them on the 10,000 test images.

For each variant: test loss (negative ELBO, one posterior sample, seed 0, nats), conditional accuracy (1,000 prior
samples per class at temperature 1, read by the bundled Fashion judge) and reconstruction accuracy (the judge
reading the decoded posterior means of the test images under their own labels: what the decoder can draw at all),
overall and for the three classes the first Fashion model drew worst (Coat, Sandal, Shirt), and the training time
(the epochs' training steps from the run's history, without the per-epoch test passes).

    python benchmarks/fashion_recipes.py --data-dir /usr/share/datasets/fashion-mnist [--variants plain,wide]
        [--epochs 20] [--work runs/fashion-recipes]

Runs are checkpointed every epoch under --work and resume where they stopped; a finished variant is only measured.
The `digit-recipe` variant is the first bundled Fashion model's recipe (the digit cVAE's, unchanged): copy a run
of it to WORK/digit-recipe.pt to measure it without training it again. The shipped recipe
(scripts/build_bundled_models.py FASHION_RECIPES) is the variant chosen from this table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from build_bundled_models import FASHION_RECIPES, MNIST_RECIPES, Recipe, train_recipe  # noqa: E402
from cvae.checkpoint import load_checkpoint  # noqa: E402
from cvae.data import load_dataset  # noqa: E402
from cvae.metrics import conditional_accuracy, mean_loss_terms, reconstruction_accuracy  # noqa: E402

WATCHED = ("Coat", "Sandal", "Shirt")


def variants(epochs: int) -> dict[str, Recipe]:
    """The candidates, each a change of the digit cVAE's recipe (the first Fashion model's), all with the Fashion
    build's training settings (seed, schedule, bfloat16) and `epochs`."""
    train = dataclasses.replace(FASHION_RECIPES["cvae"].train, epochs=epochs)
    config = dataclasses.replace(MNIST_RECIPES["cvae"].config)
    plain = {"warp_probability": 0.0, "decoder_dropout": 0.0}
    changes = {
        "digit-recipe": {},  # warp-conditioned augmentation on half the images, decoder dropout 0.1
        "plain": plain,  # neither regulariser (60,000 images)
        # twice the conv channels in encoder and decoder, the hidden layer halved: the same file size (~13 MB)
        "wide-conv": {"conv_channels": (64, 128), "hidden_dim": 512},
        "plain-wide-conv": {**plain, "conv_channels": (64, 128), "hidden_dim": 512},
        # the class-reading loss (--class-loss): decodes under a drawn class must be read as it by a reader
        # trained alongside on the real images (never the judge, which is trained apart and only measures)
        "class-read-10": {"class_loss": 10.0},
        "plain-class-read-10": {**plain, "class_loss": 10.0},
        "plain-class-read-30": {**plain, "class_loss": 30.0},
        "plain-class-read-100": {**plain, "class_loss": 100.0},
    }
    return {name: Recipe(f"{name}.pt", dataclasses.replace(config, **change), train) for name, change in changes.items()}


def measure(checkpoint, judge, test) -> dict:
    model = checkpoint.model.float().eval()
    names = checkpoint.label_names
    terms = mean_loss_terms(model, test, beta=1.0, seed=0)
    conditional, conditional_per_class = conditional_accuracy(model, judge, per_class=1000, seed=0)
    reconstructed, reconstructed_per_class = reconstruction_accuracy(model, judge, test)
    return {"test_nelbo": terms["nelbo"], "conditional_accuracy": conditional,
            "conditional_per_class": dict(zip(names, conditional_per_class)),
            "reconstruction_accuracy": reconstructed,
            "reconstruction_per_class": dict(zip(names, reconstructed_per_class)),
            "parameters": sum(p.numel() for p in model.parameters())}


@torch.no_grad()
def sample_sheet(models: list, per_class: int = 8, seed: int = 0) -> torch.Tensor:
    """One image: for each model a block of prior samples (a row per class, the same codes in every row and every
    block), blocks side by side, so that the recipes can be compared by eye."""
    from torchvision.utils import make_grid

    z = torch.randn(per_class, models[0].latent_dim, generator=torch.Generator().manual_seed(seed))
    blocks = []
    for model in models:
        rows = [model.decode(z, torch.full((per_class,), label)) for label in range(model.config.label_dim)]
        blocks.append(make_grid(torch.cat(rows), nrow=per_class, padding=1, pad_value=0.4))
    gap = torch.ones(3, blocks[0].shape[1], 6)
    return torch.cat([part for block in blocks for part in (block, gap)][:-1], dim=2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("CVAE_DATA_DIR"))
    parser.add_argument("--variants", help="comma-separated (default: all)")
    parser.add_argument("--epochs", type=int, default=FASHION_RECIPES["cvae"].train.epochs)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "fashion-recipes")
    parser.add_argument("--judge", type=Path, default=ROOT / "resources" / "fashion-judge.pt")
    parser.add_argument("--sheet", type=Path, help="also write a PNG of prior samples of the chosen variants, side by "
                        "side (a row per class)")
    args = parser.parse_args(argv)
    candidates = variants(args.epochs)
    chosen = [v.strip() for v in (args.variants or ",".join(candidates)).split(",") if v.strip()]
    unknown = [v for v in chosen if v not in candidates]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; expected some of {', '.join(candidates)}")
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    train = load_dataset("fashion-mnist", args.data_dir, "train")
    test = load_dataset("fashion-mnist", args.data_dir, "test")
    judge = load_checkpoint(args.judge).model.float().eval()
    args.work.mkdir(parents=True, exist_ok=True)
    results_path = args.work / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name in chosen:
        checkpoint = train_recipe(name, candidates[name], train, test, args.work)
        row = measure(checkpoint, judge, test)
        seconds = sum(epoch.get("seconds", 0) for epoch in checkpoint.history)  # training steps, not test passes
        results[name] = {**row, "epochs": checkpoint.epoch, "train_seconds": seconds}
        results_path.write_text(json.dumps(results, indent=2))
    print(f"{'variant':20s} {'params':>9s} {'ep':>3s} {'min':>5s} {'nats':>7s} {'cond %':>7s} {'recon %':>8s} | "
          + " ".join(f"{w:>13s}" for w in WATCHED) + "   (conditional / reconstruction %)")
    for name, row in results.items():
        minutes = f"{row['train_seconds'] / 60:5.1f}" if row.get("train_seconds") else "    ?"
        watched = " ".join(f"{100 * row['conditional_per_class'][w]:6.1f}/{100 * row['reconstruction_per_class'][w]:5.1f}"
                           for w in WATCHED)
        print(f"{name:20s} {row['parameters']:9,d} {row['epochs']:3d} {minutes} {row['test_nelbo']:7.1f} "
              f"{100 * row['conditional_accuracy']:7.1f} {100 * row['reconstruction_accuracy']:8.1f} | {watched}")
    if args.sheet:
        from torchvision.utils import save_image

        models = [load_checkpoint(args.work / candidates[name].name).model.float().eval() for name in chosen]
        save_image(sample_sheet(models), args.sheet)
        print(f"wrote {args.sheet}: prior samples of {', '.join(chosen)}, left to right, a row per class")
    return 0


if __name__ == "__main__":
    sys.exit(main())
