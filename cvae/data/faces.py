"""Face folders with CelebA's 40-attribute file: the original CelebA layout and CelebA-HQ style, found on disk."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from cvae.data.cache import cached_uint8, resolve_cache_dir, source_key
from cvae.data.dataset import ImageDataset
from cvae.errors import DatasetError

CELEBA_ATTRIBUTES = "list_attr_celeba.txt"
CELEBA_PARTITION = "list_eval_partition.txt"
CELEBA_IMAGES = "img_align_celeba"
HQ_ATTRIBUTES = "CelebAMask-HQ-attribute-anno.txt"
HQ_IMAGES = "images"
FACE_SUBFOLDERS = ("", "celeba", "celebahq64", "celebahq", "CelebAMask-HQ", "CelebA-HQ")
HQ_TEST_FRACTION = 0.1  # CelebA-HQ has no official split: the last 10% (images 4501-5000 of 5000) are held out


@dataclass
class FaceLayout:
    kind: str  # "celeba" (178×218, centre-cropped) or "celeba-hq" (already aligned)
    root: Path
    images: Path
    attributes: Path
    partition: Path | None


def detect_layout(root: Path) -> FaceLayout:
    """Which CelebA-format layout is on disk under `root` (or a usual subfolder of it)."""
    for sub in FACE_SUBFOLDERS:
        base = root / sub if sub else root
        if (base / CELEBA_IMAGES).is_dir() and (base / CELEBA_ATTRIBUTES).is_file():
            partition = base / CELEBA_PARTITION
            return FaceLayout("celeba", base, base / CELEBA_IMAGES, base / CELEBA_ATTRIBUTES,
                              partition if partition.is_file() else None)
        if (base / HQ_IMAGES).is_dir() and (base / HQ_ATTRIBUTES).is_file():
            return FaceLayout("celeba-hq", base, base / HQ_IMAGES, base / HQ_ATTRIBUTES, None)
    for sub in FACE_SUBFOLDERS:  # half a layout: say which half is missing
        base = root / sub if sub else root
        for images, attributes in ((CELEBA_IMAGES, CELEBA_ATTRIBUTES), (HQ_IMAGES, HQ_ATTRIBUTES)):
            if (base / images).is_dir():
                raise DatasetError(f"{base / images} has no {attributes} beside it; expected {base / attributes} "
                                   "(CelebA's attribute file)")
            if (base / attributes).exists():
                raise DatasetError(f"{base / attributes} has no {images}/ folder beside it; expected the listed "
                                   f"images in {base / images}")
    raise DatasetError(
        f"no CelebA-format face folder under {root}; expected {CELEBA_IMAGES}/ with {CELEBA_ATTRIBUTES} "
        f"(original CelebA) or {HQ_IMAGES}/ with {HQ_ATTRIBUTES} (CelebA-HQ style)")


_ATTRIBUTE_MEMO: dict[tuple, tuple[list[str], list[str], torch.Tensor]] = {}


def read_attribute_file(path: Path) -> tuple[list[str], list[str], torch.Tensor]:
    """CelebA's format: a count, the attribute names, then `file v1 … vA` rows of 1/-1. Returns {0, 1} uint8.

    The train and test loads of one run read the same file: the parsed result is kept for as long as the file's
    size and modification time stay the same."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise DatasetError(f"cannot read attribute file {path}: {exc.strerror or exc}") from None
    memo_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo_key in _ATTRIBUTE_MEMO:
        names, files, values = _ATTRIBUTE_MEMO[memo_key]
        return list(names), list(files), values.clone()
    parsed = _parse_attribute_file(path)
    _ATTRIBUTE_MEMO.clear()
    _ATTRIBUTE_MEMO[memo_key] = parsed
    names, files, values = parsed
    return list(names), list(files), values.clone()


def _parse_attribute_file(path: Path) -> tuple[list[str], list[str], torch.Tensor]:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc).splitlines()[0]
        raise DatasetError(f"cannot read attribute file {path}: {reason}") from None
    if len(lines) < 2:
        raise DatasetError(f"{path} has {len(lines)} lines; expected a count, the attribute names, then rows")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise DatasetError(f"line 1 of {path} is {lines[0][:40]!r}; expected the number of images") from None
    names = lines[1].split()
    if not names:
        raise DatasetError(f"line 2 of {path} is empty; expected the attribute names")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DatasetError(f"line 2 of {path} names {', '.join(repeated)} more than once; expected each attribute "
                           "name once")
    width = len(names)
    files: list[str] = []
    rows: list[str] = []  # each row's values as a string of 0/1 digits
    valid = {"1", "-1"}
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != width + 1:
            raise DatasetError(f"line {number} of {path} has {len(fields)} fields; expected {width + 1} "
                               f"(a file name and {width} attribute values)")
        values = fields[1:]
        if not valid.issuperset(values):
            column = next(i for i, v in enumerate(values) if v not in valid)
            raise DatasetError(f"line {number} of {path} gives {names[column]} the value {values[column][:20]!r}; "
                               "expected 1 or -1")
        files.append(fields[0])
        rows.append("".join(values).replace("-1", "0"))  # only 1 and -1 are left: "1-1-11" -> "1001"
    if len(files) != count:
        raise DatasetError(f"{path} announces {count} images on line 1 but lists {len(files)}")
    seen: set[str] = set()
    for name in files:
        if name in seen:
            raise DatasetError(f"{path} lists {name} more than once; expected one row per image")
        seen.add(name)
    digits = np.frombuffer("".join(rows).encode("ascii"), dtype=np.uint8) - ord("0")
    return names, files, torch.from_numpy(digits.reshape(len(files), width).copy())


def read_partition(path: Path) -> dict[str, int]:
    """CelebA's split file: `file.jpg 0|1|2` rows (0 train, 1 valid, 2 test). Returns {file name: split}."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise DatasetError(f"partition file {path} does not exist; expected CelebA's {CELEBA_PARTITION}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatasetError(f"cannot read partition file {path}: {reason}") from None
    out = {}
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DatasetError(f"line {number} of {path} has {len(fields)} fields; expected 2 "
                               f"(`file.jpg 0|1|2`), got {line[:60]!r}")
        if fields[1] not in ("0", "1", "2"):
            raise DatasetError(f"line {number} of {path} gives split {fields[1][:20]!r} for {fields[0][:40]}; "
                               "expected 0 (train), 1 (valid) or 2 (test)")
        out[fields[0]] = int(fields[1])
    return out


def decode_face(path: Path, size: int, crop_square: bool) -> torch.Tensor:
    """One face as (3, size, size) uint8: centre square crop where asked, then an antialiased resize."""
    try:
        with Image.open(path) as opened:  # Pillow comes with torchvision; torchvision.io's decoders are deprecated
            image = torch.from_numpy(np.array(opened.convert("RGB"))).permute(2, 0, 1).contiguous()
    except FileNotFoundError:
        raise DatasetError(f"{path} is listed in the attribute file but does not exist") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DatasetError(f"cannot decode image {path}: {str(exc).splitlines()[0] if str(exc) else 'unreadable'}") \
            from None
    _, h, w = image.shape
    if crop_square and h != w:
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        image = image[:, top:top + side, left:left + side]
    if image.shape[1:] != (size, size):
        image = F.interpolate(image[None].float(), size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False)[0].round().clamp(0, 255).to(torch.uint8)
    return image


def select_split(layout: FaceLayout, files: list[str], split: str) -> list[int]:
    """Indices (into the attribute file's rows) of the images in `split`. With a partition file, it and the
    attribute file must list the same images: a difference is reported rather than guessed around."""
    if layout.kind == "celeba" and layout.partition is not None:
        partition = read_partition(layout.partition)
        listed = set(files)
        extra = [f for f in partition if f not in listed]
        if extra:
            more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
            raise DatasetError(f"{layout.partition} names {extra[0]}{more}, which {layout.attributes} does not "
                               "list; expected both files to list the same images")
        unsplit = [f for f in files if f not in partition]
        if unsplit:
            more = f" (and {len(unsplit) - 1} more)" if len(unsplit) > 1 else ""
            raise DatasetError(f"{layout.partition} gives no split for {unsplit[0]}{more}, which {layout.attributes} "
                               "lists; expected both files to list the same images")
        wanted = {"train": 0, "valid": 1, "test": 2}[split]
        return [i for i, f in enumerate(files) if partition[f] == wanted]
    n_test = max(1, round(len(files) * HQ_TEST_FRACTION))
    return list(range(len(files) - n_test)) if split == "train" else list(range(len(files) - n_test, len(files)))


def check_images_exist(layout: FaceLayout, paths: list[Path]) -> None:
    """Every selected image is on disk, checked before minutes of decoding (one directory listing)."""
    try:
        present = set(os.listdir(layout.images))
    except OSError as exc:
        raise DatasetError(f"cannot list the image folder {layout.images}: {exc.strerror or exc}") from None
    missing = [path for path in paths if path.name not in present and not path.is_file()]
    if missing:
        more = f" (nor do {len(missing) - 1} more of the listed images)" if len(missing) > 1 else ""
        source = layout.attributes if layout.partition is None else f"{layout.attributes} and {layout.partition}"
        raise DatasetError(f"{missing[0]} is listed in the attribute file but does not exist{more}; expected every "
                           f"image listed in {source} to be in {layout.images}")


def decode_faces_into(out: torch.Tensor, paths: list[Path], size: int, crop_square: bool) -> None:
    """Decode `paths` into the uint8 tensor `out` (N, 3, size, size), a few images per task on a thread pool
    (Pillow's JPEG decoder releases the GIL). The first unreadable image, in list order, is the error raised;
    the remaining tasks are cancelled."""
    chunk = 64

    def work(start: int) -> None:
        for j in range(start, min(start + chunk, len(paths))):
            out[j] = decode_face(paths[j], size, crop_square)  # looked up at call time (tests count decodes)

    workers = min(DECODE_THREADS, max(1, len(paths) // chunk))
    if workers <= 1:
        for start in range(0, len(paths), chunk):
            work(start)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="cvae-decode")
    try:
        for future in [pool.submit(work, start) for start in range(0, len(paths), chunk)]:
            future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


DECODE_THREADS = min(8, os.cpu_count() or 1)


def load_face_dataset(root: Path, split: str = "train", image_size: int = 64, limit: int | None = None,
                      cache_dir: str | os.PathLike | bool | None = None) -> ImageDataset:
    """The `split` of the face folder under `root`, `image_size` pixels square. The decoded images come from the
    memory-mapped cache (cvae.data.cache; `cache_dir` False or $CVAE_CACHE_DIR=off: decode into memory)."""
    layout = detect_layout(root)
    names, files, attributes = read_attribute_file(layout.attributes)
    keep = select_split(layout, files, split)
    if limit is not None:
        keep = keep[:limit]
    if not keep:
        raise DatasetError(f"the {split} split of {layout.root} is empty")
    paths = [layout.images / files[i] for i in keep]
    check_images_exist(layout, paths)
    crop = layout.kind == "celeba"
    shape = (len(keep), 3, image_size, image_size)
    images = None
    folder = resolve_cache_dir(cache_dir)
    if folder is not None:
        base = layout.images.resolve()
        try:
            key = source_key([os.path.join(base, files[i]) for i in keep], kind="faces", layout=layout.kind,
                             size=image_size, crop="centre-square" if crop else "none")
        except FileNotFoundError as exc:  # removed since the listing
            raise DatasetError(f"{exc.filename} is listed in the attribute file but does not exist") from None
        except OSError as exc:
            raise DatasetError(f"cannot read {exc.filename or layout.images}: {exc.strerror or exc}") from None
        slot = hashlib.sha256(f"{base}\0{split}\0{limit}".encode()).hexdigest()[:12]
        name = f"faces-{split}-{image_size}px-{slot}"
        images = cached_uint8(folder, name, key, shape, lambda out: decode_faces_into(out, paths, image_size, crop),
                              about={"source": str(base), "split": split, "count": len(keep)})
    if images is None:
        images = torch.empty(shape, dtype=torch.uint8)
        decode_faces_into(images, paths, image_size, crop)
    return ImageDataset(
        name="celeba", split=split, images=images, labels=attributes[keep], label_names=names,
        label_kind="attributes",
        info={"layout": layout.kind, "source": str(layout.root), "crop": "centre-square" if crop else "none",
              "resized_to": image_size},
    )
