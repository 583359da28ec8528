"""cvae.data.image_file: a user's image file opened as the model's data was prepared (centre square, antialiased
resize; luminance for a grayscale model; a non-square model's aspect cut from the centre), with one-line errors."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from cvae.data.faces import decode_face
from cvae.data.image_file import load_image_file
from cvae.errors import DatasetError


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "portrait.png"
    Image.fromarray((torch.rand(30, 20, 3, generator=torch.Generator().manual_seed(0)) * 255).byte().numpy()).save(path)
    return path


def test_a_colour_file_is_prepared_like_the_face_data(picture):
    image = load_image_file(picture, (3, 16, 16))
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32
    assert torch.equal(image, decode_face(picture, 16, crop_square=True).float() / 255)


def test_a_grayscale_model_gets_the_8_bit_luminance(picture):
    gray = load_image_file(picture, (1, 28, 28))
    rgb = decode_face(picture, 28, crop_square=True).float() / 255
    expected = ((rgb * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True) * 255).round() / 255
    assert gray.shape == (1, 28, 28) and torch.equal(gray, expected)


def test_a_non_square_model_gets_the_centre_of_the_square(picture):
    wide = load_image_file(picture, (3, 8, 16))
    assert wide.shape == (3, 8, 16)
    assert torch.equal(wide, load_image_file(picture, (3, 16, 16))[:, 4:12, :])


def test_bad_files_are_one_line(tmp_path, picture):
    (tmp_path / "junk.png").write_bytes(b"not a picture")
    for path, expected in ((tmp_path / "missing.png", "does not exist"), (tmp_path / "junk.png", "cannot decode"),
                           (tmp_path, "not a file")):
        with pytest.raises(DatasetError, match=expected) as caught:
            load_image_file(path, (3, 16, 16))
        assert "\n" not in str(caught.value)
    with pytest.raises(DatasetError, match="2-channel"):
        load_image_file(picture, (2, 16, 16))
