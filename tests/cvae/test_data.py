import gzip
import re

import pytest
import torch

from cvae.data import DATA_DIR_ENV, load_dataset
from cvae.data.idx import read_idx
from cvae.errors import DatasetError
from tests.formats import ATTRIBUTES, make_celeba, make_celeba_hq, make_mnist


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_reads_gzipped_and_extracted_idx(tmp_path, compress):
    make_mnist(tmp_path, train=30, test=20, compress=compress)
    train = load_dataset("mnist", tmp_path, "train")
    test = load_dataset("mnist", tmp_path, "test")
    assert train.images.shape == (30, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (20, 1, 28, 28)
    assert train.labels.dtype == torch.int64 and set(train.labels.tolist()) == set(range(10))
    assert train.label_names == [str(d) for d in range(10)]


def test_gz_and_extracted_give_identical_tensors(tmp_path):
    make_mnist(tmp_path / "a", compress=True)
    make_mnist(tmp_path / "b", compress=False)
    a, b = load_dataset("mnist", tmp_path / "a"), load_dataset("mnist", tmp_path / "b")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)


def test_fashion_mnist_uses_its_own_folder_and_names(tmp_path):
    make_mnist(tmp_path, folder="FashionMNIST", size=20)
    data = load_dataset("fashion-mnist", tmp_path)
    assert data.image_size == (20, 20)
    assert data.label_names[0] == "T-shirt/top" and data.label_names[9] == "Ankle boot"


def test_data_dir_from_environment(tmp_path, monkeypatch):
    make_mnist(tmp_path)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert len(load_dataset("mnist", None, "test")) == 32


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nowhere")


def test_wrong_layout_says_what_was_expected(tmp_path):
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.*expected torchvision's layout"):
        load_dataset("mnist", tmp_path)


def test_truncated_idx_is_reported(tmp_path):
    make_mnist(tmp_path, compress=True)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    with pytest.raises(DatasetError, match="truncated"):
        read_idx(path)


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(b"hello world, not idx")
    with pytest.raises(DatasetError, match="not an IDX file"):
        read_idx(path)


def test_batches_cover_the_set_once_and_shuffle_repeatably(tmp_path):
    make_mnist(tmp_path, train=45)
    data = load_dataset("mnist", tmp_path)
    first = torch.cat([y for _, y in data.batches(10, shuffle=True, generator=torch.Generator().manual_seed(1))])
    again = torch.cat([y for _, y in data.batches(10, shuffle=True, generator=torch.Generator().manual_seed(1))])
    assert torch.equal(first, again)
    assert sorted(first.tolist()) == sorted(data.labels.tolist())
    images, _ = next(data.batches(10))
    assert images.dtype == torch.float32 and 0 <= images.min() and images.max() <= 1


def test_celeba_hq_layout_is_detected_and_split(tmp_path):
    make_celeba_hq(tmp_path / "celebahq64", count=20, size=16)
    train = load_dataset("celeba", tmp_path, "train", image_size=16)
    test = load_dataset("celeba", tmp_path, "test", image_size=16)
    assert len(train) == 18 and len(test) == 2  # the last tenth is held out
    assert train.images.shape == (18, 3, 16, 16) and train.images.dtype == torch.uint8
    assert train.labels.shape == (18, 40) and set(train.labels.unique().tolist()) <= {0, 1}
    assert train.label_names == ATTRIBUTES and train.label_kind == "attributes"
    assert train.info["layout"] == "celeba-hq"


def test_celeba_hq_resizes_to_the_requested_size(tmp_path):
    make_celeba_hq(tmp_path, count=10, size=16)
    assert load_dataset("celeba", tmp_path, "train", image_size=8).image_size == (8, 8)


def test_original_celeba_is_centre_cropped_and_uses_the_partition(tmp_path):
    make_celeba(tmp_path, count=12, height=22, width=18)
    train = load_dataset("celeba", tmp_path, "train", image_size=8)
    test = load_dataset("celeba", tmp_path, "test", image_size=8)
    assert len(train) == 8 and len(test) == 2
    assert train.images.shape == (8, 3, 8, 8)
    assert train.info["layout"] == "celeba" and train.info["crop"] == "centre-square"


def test_attribute_row_with_wrong_field_count(tmp_path):
    make_celeba_hq(tmp_path, count=5, size=8)
    path = tmp_path / "CelebAMask-HQ-attribute-anno.txt"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].rsplit(" ", 1)[0]  # drop one value from the second image's row
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"line 4 of .* has 40 fields; expected 41"):
        load_dataset("celeba", tmp_path, image_size=8)


def test_unreadable_image_is_named(tmp_path):
    make_celeba_hq(tmp_path, count=5, size=8)
    (tmp_path / "images" / "2.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match=r"cannot decode image .*2\.jpg"):
        load_dataset("celeba", tmp_path, image_size=8)


def test_missing_listed_image_is_named(tmp_path):
    make_celeba_hq(tmp_path, count=5, size=8)
    (tmp_path / "images" / "3.jpg").unlink()
    with pytest.raises(DatasetError, match=r"3\.jpg is listed in the attribute file but does not exist"):
        load_dataset("celeba", tmp_path, image_size=8)


def test_no_face_folder(tmp_path):
    with pytest.raises(DatasetError, match="no CelebA-format face folder"):
        load_dataset("celeba", tmp_path)


@pytest.mark.parametrize("row, message", [
    ("000003.jpg", r"line 3 of \S*list_eval_partition\.txt has 1 fields; expected 2 \(`file\.jpg 0\|1\|2`\)"),
    ("000003.jpg 0 1", r"line 3 of \S*list_eval_partition\.txt has 3 fields; expected 2 \(`file\.jpg 0\|1\|2`\)"),
    ("000003.jpg 3", r"line 3 of \S*list_eval_partition\.txt gives split '3' for 000003\.jpg; "
                     r"expected 0 \(train\), 1 \(valid\) or 2 \(test\)"),
    ("000003.jpg test", r"line 3 of \S*list_eval_partition\.txt gives split 'test' for 000003\.jpg; expected 0"),
], ids=["too-few-fields", "too-many-fields", "split-out-of-range", "split-not-a-number"])
def test_bad_partition_row_names_the_file_the_line_and_what_was_expected(tmp_path, row, message):
    make_celeba(tmp_path, count=6, height=10, width=8)
    path = tmp_path / "list_eval_partition.txt"
    lines = path.read_text().splitlines()
    lines[2] = row
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=message) as error:
        load_dataset("celeba", tmp_path, image_size=8)
    assert "\n" not in str(error.value)


def test_unreadable_partition_file_is_a_dataset_error(tmp_path):
    make_celeba(tmp_path, count=6, height=10, width=8)
    (tmp_path / "list_eval_partition.txt").write_bytes(b"\xff\xfe\x00\x01 not text")
    with pytest.raises(DatasetError, match=r"cannot read partition file \S*list_eval_partition\.txt: .*decode") \
            as error:
        load_dataset("celeba", tmp_path, image_size=8)
    assert "\n" not in str(error.value)


def test_partition_file_that_is_missing_or_a_folder(tmp_path):
    from cvae.data.faces import read_partition
    with pytest.raises(DatasetError, match=r"partition file \S*absent\.txt does not exist; expected CelebA's "
                                           r"list_eval_partition\.txt"):
        read_partition(tmp_path / "absent.txt")
    (tmp_path / "folder.txt").mkdir()
    with pytest.raises(DatasetError, match=r"cannot read partition file \S*folder\.txt: .*[Ii]s a directory"):
        read_partition(tmp_path / "folder.txt")


@pytest.mark.parametrize("images, labels, message", [
    (torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long), "uint8 tensor, got torch.float32"),
    (torch.zeros(4, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.long), "of shape (4, 8, 8)"),
    (torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(3, dtype=torch.long), "3 labels for 4 images"),
])
def test_in_memory_dataset_rejects_bad_tensors_with_a_dataset_error(images, labels, message):
    from cvae.data.dataset import ImageDataset
    with pytest.raises(DatasetError, match=re.escape(message)):
        ImageDataset("mine", "train", images, labels, ["a"], "class")
