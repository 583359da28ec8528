"""scripts/edit_sheet.py, the README's face sheet, stays runnable: on a tiny face model and face folder it draws
the two blocks the README shows, each edit column what the model decodes for that implied edit."""

import importlib.util
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cvae.checkpoint import load_checkpoint
from tests import formats
from tests.fixtures import face_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("edit_sheet", ROOT / "scripts" / "edit_sheet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sheet_shows_the_reconstruction_and_six_edits_of_each_face_and_sample(tmp_path):
    script = load_script()
    data = tmp_path / "data"
    formats.make_celeba_hq(data / "celebahq64", count=100, names=formats.CELEBA_NAMES)
    model_path = face_checkpoint(tmp_path / "face.pt", names=formats.CELEBA_NAMES)
    out = tmp_path / "sheet.png"
    assert script.main([str(out), str(model_path), "--data-dir", str(data), "--faces", "3", "--zoom", "1",
                        "--no-real"]) == 0
    image = np.asarray(Image.open(out))
    size, columns, header = 16, 1 + 6, script.HEADER
    # two blocks of 3 rows under a heading each, 6 px apart; 7 columns (decoded or sample, then the six edits)
    assert image.shape == (2 * (header + 3 * size) + 6, columns * size, 3)

    model = load_checkpoint(model_path).model.float().eval()
    held = script.load_dataset("celeba", data, "test", image_size=size)
    rows = script.load_dataset("celeba", data, "train", image_size=size).labels.float()
    faces, labels = held.images[:3].float() / 255, held.labels[:3].float()
    z = script.encode_means(model, faces, labels)
    decoded = script.edited_rows(model, z, labels, list(held.label_names), rows, "label", None, 1.0)
    male = 1 + list(script.CONTROL_ATTRIBUTES).index("Male")
    target = labels.clone()
    k = held.label_names.index("Male")
    for i in range(3):
        target[i:i + 1], _ = script.implied_labels(labels[i:i + 1], k, 1.0 - float(labels[i, k]), rows)
    with torch.no_grad():
        expected = model.decode(z, target).float()
    assert torch.allclose(decoded[male], expected)
    drawn = image[header:header + size, male * size:(male + 1) * size].astype(float) / 255
    want = (expected[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8).astype(float) / 255
    assert np.abs(drawn - want).max() < 1e-6  # the first face's Male edit is that decode, pixel for pixel
