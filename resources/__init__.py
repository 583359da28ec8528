"""Bundled checkpoints, trained by the project on real MNIST (scripts/build_bundled_models.py) and CelebA-HQ
(scripts/build_face_models.py)."""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent
# The order the explorer lists them in: the latent map's model first, then the face model, the judges last.
ORDER = ("mnist-cvae.pt", "fashion-cvae.pt", "celeba-beta-cvae.pt", "mnist-vae.pt", "mnist-ae.pt", "mnist-judge.pt",
         "fashion-judge.pt", "celeba-judge.pt", "celeba-judge-lowpass.pt")


def bundled_checkpoints() -> list[Path]:
    """The checkpoint files shipped in this package, in display order (unknown extras after, by name)."""
    present = {p.name: p for p in FOLDER.glob("*.pt")}
    ordered = [present.pop(name) for name in ORDER if name in present]
    return ordered + [present[name] for name in sorted(present)]
