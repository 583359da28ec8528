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


def test_a_photo_is_decoded_upright_and_its_faces_looked_for(tmp_path):
    """decode_photo turns a photo by its EXIF orientation (as a phone's photo is shown); open_face_photo refuses one
    that cannot work in one line and finds no face in a plain wall, whose centre crop is still offered."""
    import numpy as np

    from cvae.data.image_file import decode_photo, open_face_photo

    array = np.zeros((40, 60, 3), np.uint8)
    array[:, :30] = (255, 0, 0)  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.fromarray(array).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    upright = decode_photo(tmp_path / "phone.jpg")
    assert upright.shape == (60, 40, 3) and upright[5, 20, 0] > 200 and upright[55, 20, 0] < 60  # red on top
    wall = np.zeros((200, 300, 3), np.uint8)
    wall[:] = (30, 120, 90)
    Image.fromarray(wall).save(tmp_path / "wall.png")
    photo = open_face_photo(tmp_path / "wall.png", 16)
    assert photo.faces == [] and photo.centre().shape == (3, 16, 16) and photo.name == "wall.png"
    with pytest.raises(DatasetError, match="wall.png is 300×200 pixels, smaller than the model's 256×256"):
        open_face_photo(tmp_path / "wall.png", 256)
    with pytest.raises(DatasetError, match="does not exist"):
        open_face_photo(tmp_path / "missing.png", 16)
