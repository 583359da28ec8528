"""FID throughput (images/s): our in-memory path (cvae.fid) against pytorch-fid's own `calculate_fid_given_paths`
over PNG files of the same images, with the same random-weight network, side by side in one process.

Both compute a whole FID between two halves of the first N MNIST test images, digits 0–4 against 5–9 (random
images when no data is found): features of every image, mean and covariance of each half, the Fréchet distance. Ours reads the decoded
uint8 tensors; pytorch-fid reads PNG files (written once beforehand, timed apart) through its DataLoader, PIL and
ToTensor. The network is random, so nothing is downloaded; in this process only, pytorch-fid's weight download is
replaced by the same random state dict (`--network inception`, its real InceptionV3 with scaled random weights) or its
InceptionV3 class by a wrapper that resizes and normalises like it around the same small network
(`--network small`, which shows what the data path costs when the network is cheap, as on a GPU). The two FID
values must agree; the script prints both.

    python benchmarks/bench_fid.py --data-dir ../shared/data --network small --images 2000 --rounds 3
    python benchmarks/bench_fid.py --data-dir ../shared/data --network inception --images 200 --rounds 1

    python benchmarks/bench_fid.py --distance-only 2048 3000   # the last stage alone, full-rank 2048-d statistics

On a 2-core CPU the Inception runs at ~3 images/s, so `--network inception` with 2,000 images takes ~20 minutes a
round for each side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cvae import fid  # noqa: E402

INCEPTION_LAYERS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                    "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                    "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool")


class SmallNet(nn.Module):
    """A cheap random feature network on [-1, 1] inputs: two strided convs and a global average, 64 features."""

    dims = 64

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 16, 5, stride=4), nn.ReLU(), nn.Conv2d(16, 64, 3, stride=2),
                                 nn.ReLU(), nn.AdaptiveAvgPool2d(1))

    def forward(self, x):
        return self.net(x)


class Normalised(nn.Module):
    """Ours: cvae.fid.activations resizes; the network maps [0, 1] to [-1, 1] as pytorch-fid does, then runs."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(2 * x - 1).flatten(1)


def test_images(data_dir: str | None, count: int) -> tuple[torch.Tensor, str]:
    try:
        from cvae.data import load_dataset

        data = load_dataset("mnist", data_dir, "test")
        low = data.images[data.labels < 5][:count // 2]
        high = data.images[data.labels >= 5][:count // 2]
        if len(low) + len(high) == 2 * (count // 2):
            return torch.cat([low, high]), f"MNIST test images, {count // 2} of digits 0-4 against {count // 2} of 5-9"
    except Exception as exc:  # no data folder: the benchmark still runs
        print(f"(no MNIST: {exc}; using random images)", file=sys.stderr)
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (count, 1, 28, 28), dtype=torch.uint8, generator=generator), \
        f"two sets of {count // 2} random 28×28 images"


def write_pngs(images: torch.Tensor, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        array = image.permute(1, 2, 0).squeeze(2).numpy()
        Image.fromarray(array).save(folder / f"{i:05d}.png")


def networks(kind: str):
    """(ours, install_theirs): our network, and a function that makes pytorch-fid build the same one."""
    import pytorch_fid.fid_score as fid_score
    import pytorch_fid.inception as pytorch_fid_inception

    torch.manual_seed(0)
    if kind == "inception":
        state = random_inception_weights()
        ours = fid.FidInception(state)

        def install():
            pytorch_fid_inception.load_state_dict_from_url = lambda *args, **kwargs: state
        return ours, install, fid.INCEPTION_DIMS

    small = SmallNet().eval()

    class TheirsSmall(nn.Module):
        """pytorch-fid's InceptionV3 interface (list of (N, D, 1, 1) maps) around the same small network, with its
        resize_input and normalize_input steps."""

        BLOCK_INDEX_BY_DIM = {SmallNet.dims: 3}

        def __init__(self, output_blocks=(3,), **kwargs):
            super().__init__()
            self.inner = small

        def forward(self, x):
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            return [self.inner(2 * x - 1)]

    def install():
        fid_score.InceptionV3 = TheirsSmall
    return Normalised(small).eval(), install, SmallNet.dims


def random_inception_weights(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random FID Inception weights under the .pth file's keys, scaled so that the pool features vary (He-scaled
    convolutions, batch norms near the identity); the default initialisation gives nearly constant features."""
    with torch.device("meta"):
        skeleton = fid.FidInception().state_dict()  # shapes only
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in skeleton.items():
        _, index, rest = key.split(".", 2)
        shape = value.shape
        if rest.endswith("num_batches_tracked"):
            tensor = torch.zeros((), dtype=torch.long)
        elif len(shape) == 4:
            tensor = torch.randn(shape, generator=generator) * (2 / shape[1:].numel()) ** 0.5
        elif rest.endswith(("running_var", "bn.weight")):
            tensor = 1 + 0.1 * torch.rand(shape, generator=generator)
        else:
            tensor = 0.1 * torch.randn(shape, generator=generator)
        state[f"{INCEPTION_LAYERS[int(index)]}.{rest}"] = tensor
    state["fc.weight"], state["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)
    return state


def ours_fid(first: torch.Tensor, second: torch.Tensor, network, batch_size: int):
    """(FID, both sets' statistics)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fid.FewSamplesWarning)
        stats = [fid.statistics(fid.activations(images, network, batch_size)) for images in (first, second)]
    return fid.frechet_distance(*stats[0], *stats[1]), stats


def distance_seconds(stats) -> tuple[float, float]:
    """The last stage alone on the same statistics: ours (symmetric eigensolvers) and pytorch-fid's (scipy sqrtm)."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    started = time.perf_counter()
    fid.frechet_distance(*stats[0], *stats[1])
    ours = time.perf_counter() - started
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calculate_frechet_distance(*stats[0], *stats[1])
    return ours, time.perf_counter() - started


def theirs_fid(paths: list[str], batch_size: int, dims: int, workers: int) -> float:
    from pytorch_fid.fid_score import calculate_fid_given_paths

    with warnings.catch_warnings():  # scipy deprecating sqrtm(disp=...), and its "Matrix is singular" below D samples
        warnings.simplefilter("ignore")
        return float(calculate_fid_given_paths(paths, batch_size, "cpu", dims, num_workers=workers))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("CVAE_DATA_DIR"))
    parser.add_argument("--images", type=int, default=2000, help="images in all, split into two halves")
    parser.add_argument("--network", choices=("small", "inception"), default="small")
    parser.add_argument("--batch-size", type=int, default=50, help="pytorch-fid's default, used by both")
    parser.add_argument("--workers", type=int, default=None,
                        help="pytorch-fid's DataLoader workers (default: min(8, CPUs), as its command does)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    parser.add_argument("--distance-only", type=int, nargs=2, metavar=("DIMS", "SAMPLES"),
                        help="time only the Fréchet distance, ours against pytorch-fid's, on statistics of SAMPLES "
                        "random DIMS-d features per set")
    args = parser.parse_args(argv)
    if args.distance_only:
        dims, count = args.distance_only
        rng = np.random.default_rng(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fid.FewSamplesWarning)
            stats = [fid.statistics(rng.normal(size=(count, dims)) * scale) for scale in (1.0, 1.2)]
        ours, theirs = distance_seconds(stats)
        print(f"Fréchet distance of {dims}-d statistics from {count} samples each: ours {ours:.2f} s, pytorch-fid "
              f"(scipy sqrtm) {theirs:.2f} s, ratio {theirs / ours:.1f}×")
        return 0
    workers = args.workers if args.workers is not None else min(8, len(os.sched_getaffinity(0)))

    import pytorch_fid.fid_score as fid_score
    fid_score.tqdm = lambda iterable: iterable  # no progress bar in the timings

    images, described = test_images(args.data_dir, args.images)
    half = len(images) // 2
    first, second = images[:half], images[half:2 * half]
    ours_network, install_theirs, dims = networks(args.network)
    install_theirs()
    print(f"FID between {described}, {args.network} network with random weights, "
          f"batch {args.batch_size}, torch {torch.__version__}, {torch.get_num_threads()} threads, pytorch-fid "
          f"{workers} loader workers", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-fid-") as scratch:
        paths = [Path(scratch) / "first", Path(scratch) / "second"]
        started = time.perf_counter()
        write_pngs(first, paths[0])
        write_pngs(second, paths[1])
        png_seconds = time.perf_counter() - started
        ours_times, theirs_times = [], []
        for round_ in range(args.rounds):
            started = time.perf_counter()
            ours_value, stats = ours_fid(first, second, ours_network, args.batch_size)
            ours_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            theirs_value = theirs_fid([str(p) for p in paths], args.batch_size, dims, workers)
            theirs_times.append(time.perf_counter() - started)
            print(f"round {round_ + 1}: ours {2 * half / ours_times[-1]:.1f} img/s, pytorch-fid "
                  f"{2 * half / theirs_times[-1]:.1f} img/s", flush=True)

    ours_distance, theirs_distance = distance_seconds(stats)
    ours_rate = 2 * half / statistics.median(ours_times)
    theirs_rate = 2 * half / statistics.median(theirs_times)
    with_png = 2 * half / (statistics.median(theirs_times) + png_seconds)
    print()
    print(f"| path | images/s (median of {args.rounds}) |")
    print("| --- | --- |")
    print(f"| ours: cvae.fid from in-memory uint8 tensors | {ours_rate:,.1f} |")
    print(f"| pytorch-fid calculate_fid_given_paths over PNG files | {theirs_rate:,.1f} |")
    print(f"| pytorch-fid, counting the PNG writing ({png_seconds:.1f} s) too | {with_png:,.1f} |")
    print(f"ratio ours / pytorch-fid: {ours_rate / theirs_rate:.2f}× ({ours_rate / with_png:.2f}× counting the PNGs)")
    print(f"of which the Fréchet distance of {dims}-d statistics alone: ours {ours_distance:.2f} s, pytorch-fid "
          f"{theirs_distance:.2f} s")
    difference = abs(ours_value - theirs_value) / max(abs(theirs_value), 1e-300)
    print(f"FID: ours {ours_value:.9g}, pytorch-fid {theirs_value:.9g} (relative difference {difference:.1e})")
    return 0 if difference < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
