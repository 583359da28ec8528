"""Training throughput (images/s): our loop against the seed report's loop and the pure compute limit.

All three train the same class-label cVAE (the seed report's architecture: 3×3 convs of 32 and 64 channels
with max-pool, hidden 512, latent 2, two stride-2 transposed convs) on the same real MNIST with batch 100 and
Adam 1e-3, side by side in one process, alternating rounds so that machine noise hits all of them alike:

- seed loop: torchvision's `MNIST` + `ToTensor` + `DataLoader` (batch 100, shuffled, no workers), PIL per item;
- our loop: `trainer.Trainer` over the dataset decoded once into uint8 tensors (held-out evaluation off);
- compute limit: forward, backward and Adam step over float batches already in memory, with the model laid out
  as our loop lays it out (channels-last); the same limit in the seed's NCHW layout is printed beside it.

    python benchmarks/bench_training_throughput.py --data-dir ../shared/data [--dataset mnist] [--rounds 3]

Fashion-MNIST (60,000 images) is the full-size alternative: --dataset fashion-mnist --data-dir <its folder>.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cvae.data import load_dataset  # noqa: E402
from cvae.data.idx import IDX_DATASETS, find_idx_file  # noqa: E402
from cvae.models import ConditionalVAEConfig, build_model  # noqa: E402
from trainer import TrainConfig, Trainer  # noqa: E402

BATCH = 100


def seed_model():
    torch.manual_seed(0)
    return build_model(ConditionalVAEConfig())  # defaults are the seed report's architecture


def torchvision_root(name: str, data_dir: Path, scratch: Path) -> Path:
    """torchvision's MNIST reads only extracted files: extract the .gz ones once into a scratch copy."""
    folder = IDX_DATASETS[name][0]
    raw = scratch / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        for kind in ("images-idx3", "labels-idx1"):
            stem = f"{prefix}-{kind}-ubyte"
            source = find_idx_file(data_dir, folder, stem)
            if source is None:
                raise SystemExit(f"no {stem}[.gz] under {data_dir}")
            if source.suffix == ".gz":
                with gzip.open(source) as src, open(raw / stem, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            else:
                shutil.copy(source, raw / stem)
    return scratch


def seed_loop(name: str, root: Path, images: int) -> float:
    """The seed report's way: PIL → ToTensor per item through a DataLoader."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    data = cls(str(root), train=True, download=False, transform=transforms.ToTensor())
    model = seed_model().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(data, batch_size=BATCH, shuffle=True)
    seen, started = 0, time.perf_counter()
    for x, y in loader:
        loss = model.loss(x, y)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += x.shape[0]
        if seen >= images:
            break
    return seen / (time.perf_counter() - started)


def our_loop(train, images: int, scratch: Path) -> float:
    subset = train.subset(images)
    config = TrainConfig(epochs=1, batch_size=BATCH, learning_rate=1e-3, device="cpu", sample_count=0)
    result = Trainer(seed_model(), subset, None, config, scratch / "bench.pt").run()
    return result.history[-1]["images_per_second"]


def compute_limit(train, images: int, memory_format=torch.channels_last) -> float:
    """Forward, backward and step only: batches are converted to float before the clock starts.

    By default the model is laid out as our loop lays it out (channels-last); `torch.contiguous_format` gives the
    limit of the seed's own layout."""
    model = seed_model().to(memory_format=memory_format).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(len(train))[:images]
    batches = [(train.images[i].float() / 255, train.labels[i]) for i in order.split(BATCH)]
    started = time.perf_counter()
    for x, y in batches:
        loss = model.loss(x, y)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return images / (time.perf_counter() - started)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("CVAE_DATA_DIR"))
    parser.add_argument("--dataset", default="mnist", choices=sorted(IDX_DATASETS))
    parser.add_argument("--images", type=int, default=10000, help="images per measurement (default 10000)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error("give --data-dir or set CVAE_DATA_DIR")
    train = load_dataset(args.dataset, args.data_dir, "train")
    images = min(args.images, len(train))
    rates: dict[str, list[float]] = {"seed loop (DataLoader + ToTensor)": [], "our loop (Trainer)": [],
                                     "compute limit (batches in memory)": [],
                                     "compute limit, seed's NCHW layout": []}
    print(f"{args.dataset}: {images} images per measurement, batch {BATCH}, {args.rounds} rounds, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        root = torchvision_root(args.dataset, Path(args.data_dir), scratch / "tv")
        for round_index in range(1, args.rounds + 1):
            measured = [seed_loop(args.dataset, root, images), our_loop(train, images, scratch),
                        compute_limit(train, images), compute_limit(train, images, torch.contiguous_format)]
            for key, value in zip(rates, measured):
                rates[key].append(value)
            print(f"round {round_index}: " + "  ".join(f"{v:7.0f}" for v in measured), flush=True)
    median = {k: statistics.median(v) for k, v in rates.items()}
    seed, ours, limit, nchw_limit = median.values()
    print("\nmedian images/s")
    for key, value in median.items():
        print(f"  {key:36s} {value:8.0f}")
    print(f"\nour loop / seed loop     = {ours / seed:.2f}x   (target >= 1.30x)")
    print(f"our loop / compute limit = {ours / limit:.1%}   (target >= 90%)")
    print(f"seed loop / its own (NCHW) compute limit = {seed / nchw_limit:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
