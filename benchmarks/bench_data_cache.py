"""Face loading with and without the decoded-image cache, and training throughput from the map vs from memory.

Loads the CelebA-HQ-layout training split (27,000 of the full set's 30,000 faces) four ways:

- serial decode into memory: every JPEG decoded one after another into one tensor (what every run did before
  the cache; `cvae.data.faces.DECODE_THREADS = 1`, cache off);
- threaded decode into memory: the same on a thread pool (cache off, `$CVAE_CACHE_DIR=off`);
- first load: decoded once on the thread pool straight into a new cache file (a fresh, empty cache folder);
- cached load: the finished file mapped (median of several loads, each parsing the attribute file and checking
  every image's size and time again, as a new process does), plus one full read of its pages after asking the
  kernel to drop them (`posix_fadvise(DONTNEED)`), the cost a first epoch pays from a cold disk cache.

Then trains a small β-CVAE (convolutions 8/16/32, hidden 64, latent 16: small, so that the data path weighs as
much as it can against the compute) through `trainer.Trainer` on the first `steps × batch` training faces,
from the in-memory tensor and from the map, side by side in alternating rounds; evaluation and previews off.
Before that, the data path alone: one shuffled epoch of float batches cut from each.

    python benchmarks/bench_data_cache.py --data-dir ../shared/data-full [--steps 50] [--rounds 8]

Many short alternating rounds rather than a few long ones: on a shared machine the load changes from minute to
minute, and the median of each round's map/memory ratio is what stays put.

Without ../shared/data-full, ../shared/data (5,000 faces) is the fallback.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cvae.data.faces as faces  # noqa: E402
from cvae.data import load_dataset  # noqa: E402
from cvae.models import BetaCVAEConfig, build_model  # noqa: E402
from trainer import TrainConfig, Trainer  # noqa: E402

HERE = Path(__file__).resolve().parents[1]
DEFAULT_DATA = [HERE.parent / "shared" / "data-full", HERE.parent / "shared" / "data"]


def timed(function):
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def drop_pages(folder: Path) -> None:
    """Ask the kernel to forget the cached pages of the cache files (no root needed; advisory)."""
    for path in folder.glob("*.u8"):
        with open(path, "rb") as handle:
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def loading(data_dir: Path, cache: Path, repeats: int) -> dict[str, float]:
    results = {}
    threads = faces.DECODE_THREADS
    faces.DECODE_THREADS = 1
    try:
        results["serial decode into memory (before)"], serial = timed(
            lambda: load_dataset("celeba", data_dir, "train", image_size=64, cache_dir=False))
    finally:
        faces.DECODE_THREADS = threads
    results[f"threaded decode into memory ({threads} threads)"], memory = timed(
        lambda: load_dataset("celeba", data_dir, "train", image_size=64, cache_dir=False))
    results["first load: decode into a new cache file"], built = timed(
        lambda: load_dataset("celeba", data_dir, "train", image_size=64, cache_dir=cache))
    times = []
    for _ in range(repeats):
        faces._ATTRIBUTE_MEMO.clear()  # as in a new process: the attribute file is parsed again
        seconds, mapped = timed(lambda: load_dataset("celeba", data_dir, "train", image_size=64, cache_dir=cache))
        times.append(seconds)
    results[f"cached load: map the file (median of {repeats})"] = statistics.median(times)
    assert torch.equal(serial.images, memory.images) and torch.equal(memory.images, built.images)
    assert torch.equal(built.images, mapped.images) and torch.equal(memory.labels, mapped.labels)
    print(f"{len(mapped)} training faces, {tuple(mapped.images.shape[1:])}, "
          f"{mapped.images.numel() / 1e6:.0f} MB decoded; identical tensors all four ways")
    del built, mapped  # pages still mapped cannot be dropped
    gc.collect()
    drop_pages(cache)
    mapped = load_dataset("celeba", data_dir, "train", image_size=64, cache_dir=cache)
    flat = mapped.images.view(-1)
    results["one read of every page of the map, dropped first"], _ = timed(lambda: int(flat[::4096].sum()))
    return results


def batch_rate(data, batch: int) -> float:
    """Images/s of the data path alone: one shuffled epoch of float batches cut from the set, no model."""
    start = time.perf_counter()
    seen = 0
    for images, _ in data.batches(batch, shuffle=True, generator=torch.Generator().manual_seed(0)):
        seen += images.shape[0]
    return seen / (time.perf_counter() - start)


def train_rate(data, steps: int, batch: int, scratch: Path) -> float:
    torch.manual_seed(0)
    model = build_model(BetaCVAEConfig(image_size=(64, 64), conv_channels=(8, 16, 32), hidden_dim=64,
                                       latent_dim=16, num_attributes=len(data.label_names)))
    config = TrainConfig(epochs=1, batch_size=batch, device="cpu", sample_count=0)
    result = Trainer(model, data.subset(steps * batch), None, config, scratch / "bench.pt").run()
    return result.history[-1]["images_per_second"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="folder holding celebahq64/ (default ../shared/data-full, "
                                                      "else ../shared/data)")
    parser.add_argument("--steps", type=int, default=50, help="training steps per measurement (default 50)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=8, help="alternating training rounds (default 8; 0: loading "
                                                              "only)")
    parser.add_argument("--repeats", type=int, default=5, help="cached loads to time (default 5)")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or next((d for d in DEFAULT_DATA if (d / "celebahq64").is_dir()), None)
    if data_dir is None:
        raise SystemExit("no face data: pass --data-dir (a folder holding celebahq64/)")
    print(f"data: {data_dir}   torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs")
    scratch = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    try:
        cache = scratch / "cache"
        for name, seconds in loading(data_dir, cache, args.repeats).items():
            print(f"  {name:48s} {seconds:8.3f} s")
        if args.rounds < 1:
            return 0
        memory = load_dataset("celeba", data_dir, "train", image_size=64, cache_dir=False)
        mapped = load_dataset("celeba", data_dir, "train", image_size=64, cache_dir=cache)
        print(f"\ncutting batches only (one shuffled epoch of batch {args.batch_size}, no model; images/s):")
        cut: dict[str, list[float]] = {"from memory": [], "from the map": []}
        for _ in range(3):
            for name, data in (("from memory", memory), ("from the map", mapped)):
                cut[name].append(batch_rate(data, args.batch_size))
        print("  median: " + "  ".join(f"{k} {statistics.median(v):,.0f}" for k, v in cut.items()))
        steps = min(args.steps, len(memory) // args.batch_size)
        print(f"\ntraining: small β-CVAE, {steps} steps of batch {args.batch_size} per measurement, "
              f"{args.rounds} alternating rounds (images/s)")
        rates: dict[str, list[float]] = {"from memory": [], "from the map": []}
        for round_index in range(1, args.rounds + 1):
            for name, data in (("from memory", memory), ("from the map", mapped)):
                rates[name].append(train_rate(data, steps, args.batch_size, scratch))
            print(f"  round {round_index}: " + "  ".join(f"{k} {v[-1]:7.1f}" for k, v in rates.items()), flush=True)
        medians = {k: statistics.median(v) for k, v in rates.items()}
        ratios = [m / r for m, r in zip(rates["from the map"], rates["from memory"])]
        print("median: " + "  ".join(f"{k} {v:.1f}" for k, v in medians.items())
              + f"   map / memory: {medians['from the map'] / medians['from memory']:.3f} (medians), "
              f"{statistics.median(ratios):.3f} (median of the rounds' ratios: "
              + ", ".join(f"{r:.2f}" for r in ratios) + ")")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
