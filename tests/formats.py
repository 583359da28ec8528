"""Tiny fixtures written in the real on-disk formats: IDX files (gzipped or not) and CelebA-style folders."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
from PIL import Image

ATTRIBUTES = [f"Attr_{i}" for i in range(40)]
# the real CelebA attribute names (public), for what needs the six measured attributes by name
CELEBA_NAMES = ("5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
                "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair "
                "Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face "
                "Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair "
                "Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young").split()


def write_idx(path: Path, array: np.ndarray, compress: bool) -> Path:
    code = {np.uint8: 0x08}[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def make_mnist(root: Path, train: int = 64, test: int = 32, compress: bool = True, size: int = 28,
               folder: str = "MNIST", seed: int = 0) -> Path:
    """A torchvision-layout MNIST: <root>/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].

    Each digit class gets its own blob position, so a model can learn something in a few steps.
    """
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, count in (("train", train), ("t10k", test)):
        labels = (np.arange(count) % 10).astype(np.uint8)
        rng.shuffle(labels)
        images = (rng.random((count, size, size)) * 40).astype(np.uint8)
        for i, label in enumerate(labels):
            r, c = divmod(int(label), 4)
            top, left = 2 + r * (size // 4), 2 + c * (size // 5)
            images[i, top:top + size // 4, left:left + size // 5] = 230
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images, compress)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, compress)
    return root


def face_jpeg(path: Path, rng: np.random.Generator, height: int, width: int) -> None:
    Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8)).save(path, format="JPEG")


def make_celeba_hq(root: Path, count: int = 20, size: int = 16, seed: int = 0, names=ATTRIBUTES) -> Path:
    """CelebA-HQ style: images/N.jpg (1-based) + CelebAMask-HQ-attribute-anno.txt."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = [str(count), " ".join(names)]
    for n in range(1, count + 1):
        face_jpeg(root / "images" / f"{n}.jpg", rng, size, size)
        lines.append(f"{n}.jpg " + " ".join(rng.choice(["1", "-1"], size=40)))
    (root / "CelebAMask-HQ-attribute-anno.txt").write_text("\n".join(lines) + "\n")
    return root


def make_celeba(root: Path, count: int = 12, height: int = 22, width: int = 18, seed: int = 0) -> Path:
    """Original CelebA layout: img_align_celeba/000001.jpg …, list_attr_celeba.txt, list_eval_partition.txt."""
    rng = np.random.default_rng(seed)
    (root / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    attributes, partition = [str(count), " ".join(ATTRIBUTES)], []
    for n in range(1, count + 1):
        name = f"{n:06d}.jpg"
        face_jpeg(root / "img_align_celeba" / name, rng, height, width)
        attributes.append(name + "  " + " ".join(rng.choice(["1", "-1"], size=40)))
        partition.append(f"{name} {0 if n <= count - 4 else (1 if n <= count - 2 else 2)}")
    (root / "list_attr_celeba.txt").write_text("\n".join(attributes) + "\n")
    (root / "list_eval_partition.txt").write_text("\n".join(partition) + "\n")
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under `root` (relative path → SHA-256 of the content, or "folder"): two equal
    snapshots mean nothing was created, removed or changed there."""
    import hashlib

    out = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        out[key] = "folder" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def idx_path(root: Path, prefix: str, kind: str, folder: str = "MNIST", compress: bool = True) -> Path:
    """Where make_mnist wrote the `prefix` (train, t10k) `kind` (images, labels) file."""
    rank = 3 if kind == "images" else 1
    return root / folder / "raw" / (f"{prefix}-{kind}-idx{rank}-ubyte" + (".gz" if compress else ""))
