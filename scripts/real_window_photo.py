"""The photo part of scripts/try_real_window.sh: make the photos it opens in Edit, and check a screenshot of the
window afterwards against what the face model should have been given.

    python scripts/real_window_photo.py make OUT_DIR            # OUT_DIR/photo.png, original-crop.png, wall.png
    python scripts/real_window_photo.py check SCREENSHOT PHOTO  # the aligned crop on screen, the judge's reading

`make` pastes a face, enlarged 4x and turned -6 degrees, at an offset in a 720x540 grey photo (as
tests/cvae/test_align.py does), and writes a plain wall for the "no face" offer. The face is held-out CelebA-HQ face
4516 when CVAE_DATA_DIR has it (not a training face, nor among the first 16 test images the panel can show), else
one the bundled face model draws (bundled encoding DRAWN, decoded, beyond the 16 the panel can show: no data set
image, so its screenshots may be committed). `check` finds the face in PHOTO with cvae.data.align exactly as the
explorer does, looks for its aligned 64x64 crop in the screenshot by normalised cross-correlation (it must be the
Edit panel's first Original picture, drawn 88 px wide, at FIRST_ORIGINAL), and compares it with the photo's plain
centre crop: the aligned crop must be what the window shows. It then prints the attributes the bundled judge
(resources/celeba-judge.pt) reads in that crop, at its thresholds: the ones the window's "Photo's attributes..."
dialog must show ticked. Exit status 1 when the check fails.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHOWN = 88  # the Edit panel draws each picture 88 px wide (explorer.widgets.face_views.THUMBNAIL)
FIRST_ORIGINAL = (745, 145)  # its first face's Original picture on screen, in the default 1360x860 window
FACE, SCALE, DEGREES, OFFSET = 4516, 4.0, -6, (165, 85)  # the face test_align.py pastes 16th
DRAWN = 45  # without data: the bundled face model's 46th bundled encoding (a man), decoded


def make(out: Path) -> None:
    from PIL import Image

    from tests.cvae.test_align import paste

    folder = os.environ.get("CVAE_DATA_DIR")
    source = Path(folder or "") / "celebahq64" / "images" / f"{FACE}.jpg"
    if folder and source.is_file():
        face, what = np.asarray(Image.open(source).convert("RGB")), f"held-out face {FACE}"
    else:
        face, what = drawn_face(), "a face the bundled model draws (no CVAE_DATA_DIR)"
    Image.fromarray(paste(face, SCALE, DEGREES, OFFSET)).save(out / "photo.png")
    Image.fromarray(face).save(out / "original-crop.png")
    wall = np.zeros((400, 600, 3), np.uint8)
    wall[:] = (188, 160, 130)
    Image.fromarray(wall).save(out / "wall.png")
    print(f"wrote {out / 'photo.png'} ({what} at {SCALE}x, {DEGREES} degrees) and {out / 'wall.png'}")


def drawn_face() -> np.ndarray:
    """The bundled face model's bundled encoding DRAWN, decoded under its labels: (64, 64, 3) uint8."""
    import torch

    from cvae import latent as L
    from cvae.checkpoint import load_checkpoint
    from cvae.derived import Derived

    checkpoint = load_checkpoint(ROOT / "resources" / "celeba-beta-cvae.pt")
    derived = Derived.of(checkpoint)
    model = checkpoint.model.float().eval()
    z = torch.as_tensor(derived.sample_means[DRAWN:DRAWN + 1]).float()
    labels = model.label_vector(torch.as_tensor(derived.sample_labels[DRAWN:DRAWN + 1]), 1,
                                torch.device("cpu")).float()
    return (L.decode(model, z, labels)[0].permute(1, 2, 0) * 255).round().byte().numpy()


def best_match(screen: np.ndarray, crop: np.ndarray) -> tuple[float, tuple[int, int]]:
    import cv2

    template = cv2.resize(crop, (SHOWN, SHOWN), interpolation=cv2.INTER_LINEAR)
    scores = cv2.matchTemplate(screen, template, cv2.TM_CCOEFF_NORMED)
    _, score, _, where = cv2.minMaxLoc(scores)
    return float(score), where


def check(screenshot: Path, photo_path: Path) -> int:
    import torch
    from PIL import Image

    from cvae.checkpoint import load_checkpoint
    from cvae.data.align import align_face, centre_crop, find_faces
    from cvae.data.image_file import decode_photo, to_picture

    screen = np.asarray(Image.open(screenshot).convert("RGB"))
    photo = decode_photo(photo_path)
    faces = find_faces(photo)
    if len(faces) != 1:
        print(f"FAIL: {len(faces)} faces found in {photo_path}; the check needs a photo with one face")
        return 1
    aligned = align_face(photo, faces[0], 64)
    score, (x, y) = best_match(screen, aligned)
    centre_score, _ = best_match(screen, centre_crop(photo, 64))
    print(f"aligned crop: correlation {score:.3f} at ({x}, {y}) on screen; the plain centre crop's best: "
          f"{centre_score:.3f}")
    where = max(abs(x - FIRST_ORIGINAL[0]), abs(y - FIRST_ORIGINAL[1]))
    ok = score > 0.9 and score > centre_score + 0.05 and where <= 40
    if where > 40:
        print(f"the best match is not the first face's Original picture at {FIRST_ORIGINAL}")
    original = photo_path.with_name("original-crop.png")
    if original.is_file():
        from tests.cvae.test_align import best_shift

        error, shift = best_shift(np.asarray(Image.open(original).convert("RGB")), aligned)
        print(f"against the face's own crop: shifted {shift} px (dy, dx), mean abs error {error:.1f}/255")
        ok = ok and max(map(abs, shift)) <= 2
    judge = load_checkpoint(ROOT / "resources" / "celeba-judge.pt")
    with torch.no_grad():
        reading = judge.model.float().eval().predict(to_picture(aligned)[None])[0]
    names = judge.label_names
    on = [name for name, yes in zip(names, reading.tolist()) if yes]
    print(f"the judge reads ({len(on)} on): {', '.join(on)}")
    print("OK: the window shows the aligned face" if ok else "FAIL: the window does not show the aligned face")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        make(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        sys.exit(check(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        raise SystemExit(__doc__)
