"""Face training throughput (images/s): our loop against a seed-style loop and the compute limit, same β-CVAE.

The model is the bundled face model's (scripts/build_face_models.py: β-CVAE, latent 128, 64×64 RGB, the 40
attributes as encoder channels and at every decoder layer). Side by side in one process, alternating rounds:

- seed-style loop: a torch Dataset that opens each JPEG with PIL per item and applies torchvision transforms
  (Resize, CenterCrop, ToTensor), the attributes as a float tensor, `DataLoader(batch_size=32, shuffle=True)`, fp32;
- our loop, fp32, batch 32: `trainer.Trainer` over the faces decoded once into the memory-mapped uint8 cache;
- our loop as the bundled model trains: batch 64, `--cpu-bf16` (bfloat16 autocast, fp32 weights);
- compute limits: forward, backward and Adam step over float batches already in memory, for both settings.

And the hardware view: the model's training FLOPs per image (forward + backward, counted by
torch.utils.flop_counter) times the images/s, against this CPU's peak matrix-multiply rate measured by the same
script (fp32 and bf16 square matmuls).

    python benchmarks/bench_face_training.py --data-dir ../shared/data-full [--images 2000] [--rounds 2]
    python benchmarks/bench_face_training.py --hardware-only [--recipe v2-read-critic]   # FLOPs and peak only
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cvae.data import load_dataset, resolve_data_dir  # noqa: E402
from cvae.data.faces import detect_layout, read_attribute_file, select_split  # noqa: E402
from cvae.models import build_model  # noqa: E402
from trainer import TrainConfig, Trainer  # noqa: E402

SEED_BATCH = 32


RECIPE = "face"  # the bundled recipe, or a candidate of benchmarks/face_recipes.py (--recipe)


def face_config():
    if RECIPE == "face":
        from scripts.build_face_models import RECIPES

        return RECIPES["face"].config
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from face_recipes import recipe

    return recipe(RECIPE, 1).config


def face_model():
    torch.manual_seed(0)
    return build_model(face_config())


def training_flops_per_image(batch: int = 16) -> float:
    """FLOPs of one training step (forward with the recipe's objective terms, backward) per image."""
    from torch.utils.flop_counter import FlopCounterMode

    model = face_model().train()
    terms = model.objective_terms()
    x, y = torch.rand(batch, 3, 64, 64), (torch.rand(batch, 40) < 0.3).float()
    with FlopCounterMode(display=False) as counter:
        model(x, y, 1.0, torch.Generator().manual_seed(0), terms, 1.0).loss.backward()
    return counter.get_total_flops() / batch


def peak_matmul_flops(dtype: torch.dtype, side: int = 1024, repeats: int = 3) -> float:
    """The best rate of `side`² square matrix multiplies on this machine, FLOP/s."""
    a, b = torch.rand(side, side).to(dtype), torch.rand(side, side).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * side ** 3 / best


class SeedStyleFaces(torch.utils.data.Dataset):
    """What the seed did: one PIL decode and a torchvision transform per item, every epoch."""

    def __init__(self, root: Path, size: int = 64):
        from torchvision import transforms

        layout = detect_layout(root)
        _, files, attributes = read_attribute_file(layout.attributes)
        keep = select_split(layout, files, "train")
        self.paths = [layout.images / files[i] for i in keep]
        self.attributes = attributes[keep].float()
        self.transform = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size),
                                             transforms.ToTensor()])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index):
        from PIL import Image

        with Image.open(self.paths[index]) as image:
            return self.transform(image.convert("RGB")), self.attributes[index]


def seed_loop(root: Path, images: int, beta: float) -> float:
    data = SeedStyleFaces(root)
    model = face_model().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(data, batch_size=SEED_BATCH, shuffle=True)
    seen, started = 0, time.perf_counter()
    for x, y in loader:
        loss = model.loss(x, y, beta=beta)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += x.shape[0]
        if seen >= images:
            break
    return seen / (time.perf_counter() - started)


def our_loop(train, images: int, scratch: Path, batch: int, bf16: bool, beta: float) -> float:
    config = TrainConfig(epochs=1, batch_size=batch, learning_rate=1e-3, beta=beta, device="cpu", sample_count=0,
                         cpu_bf16=bf16)
    result = Trainer(face_model(), train.subset(images), None, config, scratch / "bench.pt").run()
    return result.history[-1]["images_per_second"]


def compute_limit(train, images: int, batch: int, bf16: bool, beta: float) -> float:
    model = face_model().to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(len(train))[:images]
    batches = [(train.images[i].float() / 255, train.labels[i]) for i in order.split(batch)]
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    started = time.perf_counter()
    for x, y in batches:
        with autocast:
            loss = model.loss(x, y, beta=beta)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return images / (time.perf_counter() - started)


def main(argv=None) -> int:
    from scripts.build_face_models import RECIPES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("CVAE_DATA_DIR"))
    parser.add_argument("--images", type=int, default=2000, help="faces per measurement (default 2000)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--recipe", default="face", help="the bundled recipe (face) or a face_recipes candidate")
    parser.add_argument("--hardware-only", action="store_true", help="FLOPs per image and peak matmul rates only")
    args = parser.parse_args(argv)
    global RECIPE
    RECIPE = args.recipe
    flops = training_flops_per_image()
    peaks = {"fp32": peak_matmul_flops(torch.float32), "bf16": peak_matmul_flops(torch.bfloat16)}
    print(f"{args.recipe}: {flops / 1e9:.2f} GFLOP per training image; peak matmul fp32 {peaks['fp32'] / 1e9:.1f}, "
          f"bf16 {peaks['bf16'] / 1e9:.1f} GFLOP/s", flush=True)
    if args.hardware_only:
        return 0
    root = resolve_data_dir(args.data_dir)
    face_root = root / "celebahq64" if (root / "celebahq64").is_dir() else root
    train = load_dataset("celeba", root, "train")
    images = min(args.images, len(train))
    beta = RECIPES["face"].train.beta
    bundled_batch = RECIPES["face"].train.batch_size
    names = ["seed-style loop (PIL + transforms + DataLoader, b32)", "our loop, fp32, b32",
             "compute limit, fp32, b32", f"our loop, bf16, b{bundled_batch} (the bundled recipe)",
             f"compute limit, bf16, b{bundled_batch}"]
    rates: dict[str, list[float]] = {name: [] for name in names}
    print(f"celeba: {images} faces per measurement, {args.rounds} rounds, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads", flush=True)
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        for round_index in range(1, args.rounds + 1):
            measured = [seed_loop(face_root, images, beta),
                        our_loop(train, images, scratch, SEED_BATCH, False, beta),
                        compute_limit(train, images, SEED_BATCH, False, beta),
                        our_loop(train, images, scratch, bundled_batch, True, beta),
                        compute_limit(train, images, bundled_batch, True, beta)]
            for name, value in zip(names, measured):
                rates[name].append(value)
            print(f"round {round_index}: " + "  ".join(f"{v:6.0f}" for v in measured), flush=True)
    seed, ours, limit, ours_bf16, limit_bf16 = (statistics.median(v) for v in rates.values())
    print("\nmedian images/s")
    for name, values in rates.items():
        print(f"  {name:55s} {statistics.median(values):7.0f}")
    print(f"\nour loop / seed-style loop, same fp32 b32      = {ours / seed:.2f}x   (target >= 1.30x)")
    print(f"our loop / compute limit, fp32 b32             = {ours / limit:.1%}   (target >= 90%)")
    print(f"bundled recipe (bf16 b{bundled_batch}) / seed-style loop     = {ours_bf16 / seed:.2f}x")
    print(f"bundled recipe / its compute limit             = {ours_bf16 / limit_bf16:.1%}")
    for name, rate, dtype in (("our loop, fp32", ours, "fp32"), ("bundled recipe, bf16", ours_bf16, "bf16")):
        print(f"{name}: {flops * rate / 1e9:.1f} GFLOP/s = {flops * rate / peaks[dtype]:.1%} of the {dtype} "
              "matmul peak   (aim >= 40%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
