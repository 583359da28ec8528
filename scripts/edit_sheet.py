"""The README's face sheet: what a face model's edits look like, for a person to judge by eye.

Top block: 8 held-out faces, each a row of (original, reconstruction, the six measured attributes flipped);
bottom block: 8 prior samples (seed 0, attribute rows of those faces), each a row of (as drawn, the six toggled).
Every edit is the implied one ("adjust related attributes": cvae.attribute_edits.implied_labels with the training
faces' rows), at --strength, by --mode (label, direction or both): "±hat" adds a hat to a face without one and
removes it from a face with one. `--no-real` leaves out the originals, so that the sheet committed to the
repository carries no data-set image (the reconstructions are the model's).

    python scripts/edit_sheet.py docs/screenshots/face-edits.png resources/celeba-beta-cvae.pt \\
        --data-dir ../shared/data-full --no-real [--zoom 2] [--mode label] [--strength 1]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cvae.attribute_edits import EDIT_MODES, edit_inputs, flipped_labels, implied_labels  # noqa: E402
from cvae.checkpoint import load_checkpoint  # noqa: E402
from cvae.data import load_dataset  # noqa: E402
from cvae.derived import Derived  # noqa: E402
from cvae.latent import encode_means  # noqa: E402
from cvae.metrics import CONTROL_ATTRIBUTES  # noqa: E402

HEADER = 14  # pixels of column heading, before zooming


@torch.no_grad()
def edited_rows(model, z: torch.Tensor, labels: torch.Tensor, names: list[str], rows: torch.Tensor, mode: str,
                directions: torch.Tensor | None, strength: float) -> list[torch.Tensor]:
    """[the decode as it is, then one per CONTROL_ATTRIBUTES flipped with its implied partners]: each (N, C, H, W)."""
    out = [model.decode(z, labels).float()]
    for name in CONTROL_ATTRIBUTES:
        target, _ = flipped_labels(labels, names.index(name), rows)
        codes, decode_labels = edit_inputs(z, labels, target, mode, directions, strength)
        out.append(model.decode(codes, decode_labels).float())
    return out


def sheet(columns: list[torch.Tensor], headings: list[str], zoom: int) -> np.ndarray:
    """Columns of N images each (N, C, H, W) side by side under their headings, as an (H, W, 3) uint8 image."""
    from PIL import Image, ImageDraw

    grid = torch.cat([torch.cat(list(column), 1) for column in columns], 2)  # C, N·H, K·W
    image = (grid.clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, 2)
    height, width = image.shape[:2]
    picture = Image.fromarray(image).resize((width * zoom, height * zoom), Image.NEAREST)
    canvas = Image.new("RGB", (width * zoom, height * zoom + HEADER * zoom), "white")
    canvas.paste(picture, (0, HEADER * zoom))
    draw = ImageDraw.Draw(canvas)
    step = width * zoom // len(columns)
    for i, text in enumerate(headings):
        draw.text((i * step + 3, 2), text, fill="black")
    return np.asarray(canvas)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data-dir", default=os.environ.get("CVAE_DATA_DIR"))
    parser.add_argument("--faces", type=int, default=8)
    parser.add_argument("--no-real", action="store_true", help="leave out the original faces (data-set images)")
    parser.add_argument("--mode", choices=EDIT_MODES, default="label")
    parser.add_argument("--strength", type=float, default=1.0)
    parser.add_argument("--zoom", type=int, default=2)
    args = parser.parse_args(argv)
    from PIL import Image

    checkpoint = load_checkpoint(args.checkpoint)
    model = checkpoint.model.float().eval()
    size = model.config.image_size[0]
    held_out = load_dataset("celeba", args.data_dir, "test", image_size=size)
    rows = load_dataset("celeba", args.data_dir, "train", image_size=size).labels.float()
    names = list(held_out.label_names)
    directions = Derived.of(checkpoint).attribute_directions
    if args.mode != "label" and directions is None:
        parser.error(f"{args.checkpoint} has no attribute directions; use --mode label")
    faces = held_out.images[:args.faces].float() / 255
    labels = held_out.labels[:args.faces].float()
    short = {"Smiling": "smile", "Eyeglasses": "glasses", "Male": "male", "Blond_Hair": "blond",
             "Mustache": "moustache", "Wearing_Hat": "hat"}
    edits = [f"±{short[name]}" for name in CONTROL_ATTRIBUTES]
    with torch.no_grad():
        z = encode_means(model, faces, labels)
    real = edited_rows(model, z, labels, names, rows, args.mode, directions, args.strength)
    top = sheet(([] if args.no_real else [faces]) + real,
                ([] if args.no_real else ["original"]) + ["decoded"] + edits, args.zoom)
    prior = torch.randn(args.faces, model.latent_dim, generator=torch.Generator().manual_seed(0))
    bottom = sheet(edited_rows(model, prior, labels, names, rows, args.mode, directions, args.strength),
                   ["sample"] + edits, args.zoom)
    width = max(top.shape[1], bottom.shape[1])
    pad = lambda a: np.pad(a, ((0, 0), (0, width - a.shape[1]), (0, 0)), constant_values=255)  # noqa: E731
    gap = np.full((6 * args.zoom, width, 3), 255, np.uint8)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate([pad(top), gap, pad(bottom)])).save(args.out)
    print(f"wrote {args.out}: {args.faces} held-out faces and {args.faces} prior samples × six implied edits "
          f"({args.mode}, strength {args.strength:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
