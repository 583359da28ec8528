"""Interactive latency of the explorer on this CPU, and its start-up time.

    python benchmarks/bench_explorer.py [--checkpoint PATH] [--repeats N] [--startup-only]

Measures (medians): one live-preview decode (target < 5 ms), one 20×20 manifold backdrop in a single batched
decode (target < 50 ms), a face attribute toggle redrawing a 16-face grid (target < 50 ms) and an edit batch of
16 faces, and the start-up (offscreen): `bash scripts/setup.sh` when nothing changed (its stamp matches: no pip),
then seconds from spawning `bash scripts/launch.sh` (setup, the display check, `cvae-explorer`: what a user runs)
and from spawning `python -m explorer.app` to the splash on screen (target 1.5 s), to the main window shown, and
to the bundled models (plus the checkpoint) open. The default checkpoint is the bundled cVAE when present, else an
untrained ConditionalVAE of the default size. `--startup-only` measures the start-up alone. Importing this file
runs nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGETS_MS = {"preview decode (1 image)": 5.0, "backdrop decode (20×20, one call)": 50.0,
              "  same, label planes concatenated": 50.0, "face toggle → 16-face grid": 50.0,
              "face edit batch (16 encode + decode)": 100.0}


def _model(checkpoint: str | None):
    import torch

    from cvae.checkpoint import load_checkpoint
    from cvae.latent import prepare_for_inference
    from cvae.models import ConditionalVAEConfig, build_model
    if checkpoint is None:
        bundled = Path(__file__).resolve().parent.parent / "resources" / "mnist-cvae.pt"
        checkpoint = str(bundled) if bundled.is_file() else None
    if checkpoint is not None:
        original = load_checkpoint(checkpoint).model
        return prepare_for_inference(original), original, checkpoint  # as the explorer does
    torch.manual_seed(0)
    original = build_model(ConditionalVAEConfig())
    return prepare_for_inference(original), original, "untrained ConditionalVAE (default size)"


def _median_ms(fn, repeats: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_decodes(model, repeats: int, original=None) -> dict[str, float]:
    """Median decode times of the inference copy `model`; with `original` (the model it was made from), the same
    backdrop on the plain model too, alternating in one run."""
    import torch

    from cvae import latent as L
    labels = torch.tensor([3]) if model.conditional else None
    extra = [0.0] * (model.latent_dim - 2)

    def backdrop():  # the map's default plane: the latent itself (2-D) or a slice through dims 0 and 1
        L.decode_grid(model, (-3, 3), (-3, 3), 20, 20, labels)

    results = {"preview decode (1 image)": _median_ms(lambda: L.decode(model, [0.3, -0.7] + extra, labels), repeats)}
    if model.decoder.label_dim:  # side by side, alternating: the inference copy vs the plain (training) model
        plain = original.eval().to(memory_format=torch.channels_last) if original is not None else None
        folded, planes = [], []
        for _ in range(max(5, repeats // 5)):
            folded.append(_median_ms(backdrop, 1, warmup=1))
            if plain is not None:
                planes.append(_median_ms(lambda: L.decode_grid(plain, (-3, 3), (-3, 3), 20, 20, labels), 1,
                                         warmup=1))
        results["backdrop decode (20×20, one call)"] = statistics.median(folded)
        if planes:
            results["  same, label planes concatenated"] = statistics.median(planes)
    else:
        results["backdrop decode (20×20, one call)"] = _median_ms(backdrop, max(5, repeats // 5))
    return results


def bench_faces(repeats: int, checkpoint: str | None = None) -> dict[str, float]:
    """The face panels' decodes on a face model (the given checkpoint, else an untrained β-CVAE of the default
    size, 64×64 RGB, latent 128 — the same cost): a toggle redraws a 4×4 grid in one batched decode; an edit
    encodes 16 faces and decodes them under new attributes."""
    import torch

    from cvae import latent as L
    from cvae.checkpoint import load_checkpoint
    from cvae.latent import prepare_for_inference
    from cvae.models import BetaCVAEConfig, build_model
    torch.manual_seed(0)
    original = load_checkpoint(checkpoint).model if checkpoint else build_model(BetaCVAEConfig(label_every_layer=True))
    model = prepare_for_inference(original)
    attributes = (torch.rand(16, model.config.label_dim) < 0.3).float()
    images = torch.rand(16, *model.capabilities.image_shape)

    def toggle():
        attributes[:, 31] = 1 - attributes[:, 31]  # a toggle: the same z, one attribute flipped
        L.sample_prior(model, 16, attributes, seed=0)

    def edit():
        L.edit(model, images, attributes, attributes.flip(0))

    return {"face toggle → 16-face grid": _median_ms(toggle, repeats, warmup=3),
            "face edit batch (16 encode + decode)": _median_ms(edit, repeats, warmup=3)}


ROOT = Path(__file__).resolve().parent.parent


def bench_setup(repeats: int) -> dict[str, float]:
    """Seconds of `bash scripts/setup.sh` when nothing changed (median); a first run that did install (no stamp
    yet, or pyproject.toml / constraints.txt changed) is timed on its own."""
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        subprocess.run(["bash", "scripts/setup.sh"], cwd=ROOT, check=True)
        times.append(time.perf_counter() - start)
    results = {"setup.sh, nothing changed": statistics.median(times[1:])}
    if times[0] > 2 * max(times[1:]) + 0.5:
        results["setup.sh, first run (installed)"] = times[0]
    return results


def bench_startup(checkpoint: str | None, repeats: int, launch: bool = False) -> dict[str, float]:
    """Seconds from spawning `python -m explorer.app`, or with `launch` `bash scripts/launch.sh` (setup and the
    display check first, as a user starts it), offscreen, to each start-up step it reports (medians): the splash
    on screen (shown and exposed), the main window shown, the models open."""
    steps = {"Loading PyTorch…": "splash on screen", "window shown": "main window shown",
             "models open": "bundled models open"}
    times: dict[str, list[float]] = {name: [] for name in steps.values()}
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CVAE_EXPLORER_STARTUP_LOG="exit")
    for _ in range(repeats):
        args = ["bash", "scripts/launch.sh"] if launch else [sys.executable, "-m", "explorer.app"]
        if checkpoint and Path(checkpoint).is_file():
            args.append(checkpoint)
        start = time.perf_counter()
        process = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                   cwd=ROOT)
        for line in process.stderr:
            step = line.strip().removeprefix("startup: ")
            if step in steps:
                times[steps[step]].append(time.perf_counter() - start)
        if process.wait() != 0:
            raise RuntimeError(f"{' '.join(args[:2])} exited with {process.returncode}")
    return {name: statistics.median(values) for name, values in times.items() if values}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="checkpoint to decode with (default: bundled cVAE, else untrained)")
    parser.add_argument("--repeats", type=int, default=200, help="timed preview decodes (backdrop: a fifth)")
    parser.add_argument("--startup-repeats", type=int, default=3)
    parser.add_argument("--startup-only", action="store_true", help="only setup.sh, launch.sh and the start-up")
    parser.add_argument("--face-checkpoint", help="a face model for the face-panel decodes (default: untrained "
                        "β-CVAE of the default size)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads for the decodes (default: torch's)")
    args = parser.parse_args(argv)

    if hasattr(os, "getloadavg"):
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (figures degrade under load)")
    results = {}
    if not args.startup_only:
        import torch
        if args.threads:
            torch.set_num_threads(args.threads)
        model, original, name = _model(args.checkpoint)
        print(f"model: {name} (latent {model.latent_dim}); torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads")
        results = bench_decodes(model, args.repeats, original)
        results.update(bench_faces(max(5, args.repeats // 10), args.face_checkpoint))
    setup = bench_setup(max(3, args.startup_repeats))
    checkpoint = args.checkpoint if args.checkpoint else None
    launch = bench_startup(checkpoint, args.startup_repeats, launch=True)
    startup = bench_startup(checkpoint, args.startup_repeats)
    print(f"{'measure':<44}{'median':>12}{'target':>12}")
    for key, value in results.items():
        target = TARGETS_MS[key]
        print(f"{key:<44}{value:>9.2f} ms{target:>9.0f} ms  {'ok' if value < target else 'SLOW'}")
    for name, seconds in setup.items():
        target = "0.5" if "nothing changed" in name else ""
        print(f"{name:<44}{seconds:>10.2f} s{target:>10}{' s' if target else ''}")
    for prefix, figures in (("launch.sh → ", launch), ("python -m explorer.app → ", startup)):
        for name, seconds in figures.items():
            target = "1.5" if name.startswith("splash") else "~2"
            print(f"{prefix + name:<44}{seconds:>10.2f} s{target:>10} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
