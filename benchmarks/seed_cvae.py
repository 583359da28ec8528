"""The seed report's cVAE, retrained the report's way, and evaluated exactly like the bundled cVAE.

Recipe (from the seed report): the class-label cVAE with 3×3 convs of 32 and 64 channels and max-pool, hidden
512, latent 2, two stride-2 transposed convs; torchvision `MNIST` + `ToTensor` + `DataLoader` (batch 100,
shuffled), Adam 1e-3, 15 epochs, on the same 20,000 real training images. Evaluated on the complete 10,000-image
test set: negative ELBO per image in nats (`cvae.metrics.mean_loss_terms`, seed 0) and conditional accuracy
over 10,000 prior samples read by the bundled judge (`cvae.metrics.conditional_accuracy`, seed 0).

    python benchmarks/seed_cvae.py --data-dir ../shared/data [--epochs 15] [--judge resources/mnist-judge.pt]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_training_throughput import seed_model, torchvision_root  # noqa: E402
from cvae.checkpoint import Checkpoint, load_checkpoint, save_checkpoint  # noqa: E402
from cvae.data import load_dataset  # noqa: E402
from cvae.metrics import conditional_accuracy, mean_loss_terms  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def train_seed_way(root: Path, epochs: int) -> torch.nn.Module:
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    data = datasets.MNIST(str(root), train=True, download=False, transform=transforms.ToTensor())
    model = seed_model().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, epochs + 1):
        started, total, seen = time.perf_counter(), 0.0, 0
        for x, y in DataLoader(data, batch_size=100, shuffle=True):
            loss = model.loss(x, y)["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * x.shape[0]
            seen += x.shape[0]
        print(f"epoch {epoch}: train loss {total / seen:.2f} ({seen / (time.perf_counter() - started):.0f} img/s)",
              file=sys.stderr, flush=True)
    return model.eval()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("CVAE_DATA_DIR"))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--judge", type=Path, default=ROOT / "resources" / "mnist-judge.pt")
    parser.add_argument("--save", type=Path, default=ROOT / "runs" / "seed-cvae.pt",
                        help="where the retrained seed model is kept (reused by --evaluate-only)")
    parser.add_argument("--evaluate-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error("give --data-dir or set CVAE_DATA_DIR")
    torch.manual_seed(0)
    if args.evaluate_only:
        model = load_checkpoint(args.save).model
    else:
        with tempfile.TemporaryDirectory() as scratch:
            model = train_seed_way(torchvision_root("mnist", Path(args.data_dir), Path(scratch)), args.epochs)
        train = load_dataset("mnist", args.data_dir, "train")
        save_checkpoint(Checkpoint(model=model, label_names=train.label_names, dataset=train.describe(),
                                   train_config={"recipe": "seed report", "epochs": args.epochs}, epoch=args.epochs),
                        args.save)
    test = load_dataset("mnist", args.data_dir, "test")
    result = {"test_nelbo": mean_loss_terms(model, test, seed=0)["nelbo"]}
    if args.judge.exists():
        result["conditional_accuracy"] = conditional_accuracy(model, load_checkpoint(args.judge).model,
                                                              per_class=1000, seed=0)[0]
    else:
        print(f"no judge at {args.judge}: conditional accuracy skipped", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
