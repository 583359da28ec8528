"""Bad input, table by table: data folders, checkpoints and command-line values.

Every case must end in one clear line that names what is wrong, where, and what was expected: exit code 2 and
one line on stderr from `cvae-train` (no traceback), or one error (a dialog, one line) in the explorer. And every
file that was there before stays exactly as it was: each case hashes its whole folder before and after, and the
decoded-image cache holds no half-written file afterwards.
"""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from tests.formats import ATTRIBUTES, idx_path, make_celeba, make_celeba_hq, make_mnist, snapshot
from trainer.cli import main

TINY = ["--conv-channels", "4,8", "--hidden-dim", "16", "--batch-size", "16", "--device", "cpu", "--quiet"]
FACES = ["--image-size", "16", "--latent-dim", "4"]
CONSOLE_SCRIPT = Path(sys.executable).with_name("cvae-train")


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """The folder every case builds its input in; the decoded-image cache lives beside it, not in it."""
    monkeypatch.setenv("CVAE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CVAE_DATA_DIR", raising=False)
    root = tmp_path / "work"
    root.mkdir()
    return root


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    return code, capsys.readouterr().err


def assert_refused(code, err: str, fragments) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cvae-train: error: ") and "Traceback" not in err
    for fragment in fragments:
        assert str(fragment) in lines[0], f"{fragment!r} is not in {lines[0]!r}"
    return lines[0]


def assert_nothing_changed(root: Path, before: dict) -> None:
    assert snapshot(root) == before
    cache = root.parent / "cache"
    assert not [p.name for p in cache.rglob("*.tmp")] if cache.exists() else True


# ----------------------------------------------------------------------------------------------------------------
# Data folders
# ----------------------------------------------------------------------------------------------------------------

def _rewrite_gz(path: Path, change: Callable[[bytes], bytes]) -> None:
    path.write_bytes(gzip.compress(change(gzip.decompress(path.read_bytes()))))


def idx_truncated_gzip(raw_root, prefix):
    path = idx_path(raw_root, prefix, "images")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path, ("truncated", "gzip stream ends")


def idx_truncated_data(raw_root, prefix):
    path = idx_path(raw_root, prefix, "images")
    _rewrite_gz(path, lambda raw: raw[: len(raw) // 2])
    return path, ("truncated", "header promises")


def idx_truncated_header(raw_root, prefix):
    path = idx_path(raw_root, prefix, "images")
    extracted = idx_path(raw_root, prefix, "images", compress=False)
    extracted.write_bytes(gzip.decompress(path.read_bytes())[:10])
    path.unlink()
    return extracted, ("truncated", "IDX header is incomplete")


def idx_wrong_magic(raw_root, prefix):
    path = idx_path(raw_root, prefix, "images")
    _rewrite_gz(path, lambda raw: b"\x12\x34\x56\x78" + raw[4:])
    return path, ("bad magic number 0x12345678", "expected 0x00000803")


def idx_labels_in_the_images_file(raw_root, prefix):
    path = idx_path(raw_root, prefix, "images")
    path.write_bytes(idx_path(raw_root, prefix, "labels").read_bytes())
    return path, ("magic number 0x00000801", "expected 0x00000803 (images")


def idx_named_gz_but_not_gzip(raw_root, prefix):
    path = idx_path(raw_root, prefix, "images")
    path.write_bytes(gzip.decompress(path.read_bytes()))
    return path, ("not a readable gzip file", "expected torchvision's gzipped IDX file")


def idx_empty(raw_root, prefix):
    path = idx_path(raw_root, prefix, "images")
    path.write_bytes(gzip.compress(b""))
    return path, ("only 0 bytes", "expected the magic number 0x00000803")


def idx_count_mismatch(raw_root, prefix):
    path = idx_path(raw_root, prefix, "labels")
    _rewrite_gz(path, lambda raw: raw[:4] + (int.from_bytes(raw[4:8], "big") - 4).to_bytes(4, "big") + raw[8:-4])
    images = idx_path(raw_root, prefix, "images")
    count = gzip.decompress(images.read_bytes())[4:8]
    n = int.from_bytes(count, "big")
    return path, (f"has {n - 4} labels but {images} has {n} images", "expected one label per image")


def idx_label_out_of_range(raw_root, prefix):
    path = idx_path(raw_root, prefix, "labels")
    _rewrite_gz(path, lambda raw: raw[:8 + 5] + bytes([12]) + raw[8 + 6:])
    return path, ("label 12 at position 5", "expected 0..9")


IDX_DAMAGE = {
    "idx-truncated-gzip": idx_truncated_gzip,
    "idx-truncated-data": idx_truncated_data,
    "idx-truncated-header": idx_truncated_header,
    "idx-wrong-magic": idx_wrong_magic,
    "idx-labels-in-the-images-file": idx_labels_in_the_images_file,
    "idx-named-gz-but-not-gzip": idx_named_gz_but_not_gzip,
    "idx-empty": idx_empty,
    "idx-images-and-labels-differ-in-count": idx_count_mismatch,
    "idx-label-out-of-range": idx_label_out_of_range,
}


def idx_case(damage):
    def make(root):
        data = make_mnist(root / "data", train=64, test=32)
        path, fragments = damage(data, "train")
        return "mnist", data, (path, *fragments)
    return make


def folder_missing(root):
    return "mnist", root / "nowhere", (f"data folder {root / 'nowhere'} does not exist",)


def folder_is_a_file(root):
    (root / "data.txt").write_text("not a folder")
    return "mnist", root / "data.txt", (f"data folder {root / 'data.txt'} is a file, not a folder",
                                        "expected the folder that holds the data sets")


def mnist_empty_folder(root):
    (root / "data").mkdir()
    return "mnist", root / "data", (f"no train-images-idx3-ubyte[.gz] under {root / 'data'}",
                                    "expected torchvision's layout")


def mnist_wrong_layout(root):
    data = make_mnist(root / "data")
    (data / "MNIST" / "raw").rename(data / "MNIST" / "processed")
    return "mnist", data, (f"no train-images-idx3-ubyte[.gz] under {data}", "expected torchvision's layout")


def mnist_test_files_missing(root):
    data = make_mnist(root / "data")
    idx_path(data, "t10k", "images").unlink()
    return "mnist", data, ("no t10k-images-idx3-ubyte[.gz]", "expected torchvision's layout")


def faces(root, **kwargs):
    return make_celeba_hq(root / "data", count=20, size=16, **kwargs)


def hq_attributes(data):
    return data / "CelebAMask-HQ-attribute-anno.txt"


def celeba_empty_folder(root):
    (root / "data").mkdir()
    return "celeba", root / "data", (f"no CelebA-format face folder under {root / 'data'}",
                                     "CelebAMask-HQ-attribute-anno.txt")


def celeba_images_without_attribute_file(root):
    data = faces(root)
    hq_attributes(data).unlink()
    return "celeba", data, (f"{data / 'images'} has no CelebAMask-HQ-attribute-anno.txt beside it",
                            f"expected {hq_attributes(data)}")


def celeba_attribute_file_without_images(root):
    data = faces(root)
    shutil.rmtree(data / "images")
    return "celeba", data, (f"{hq_attributes(data)} has no images/ folder", "expected the listed images")


def jpeg_not_an_image(root):
    data = faces(root)
    (data / "images" / "4.jpg").write_bytes(b"not a jpeg at all")
    return "celeba", data, (f"cannot decode image {data / 'images' / '4.jpg'}",)


def jpeg_truncated(root):
    data = make_celeba_hq(root / "data", count=20, size=64)  # a JPEG with a body to cut
    path = data / "images" / "4.jpg"
    content = path.read_bytes()
    path.write_bytes(content[: len(content) * 2 // 3])
    return "celeba", data, (f"cannot decode image {path}", "truncated")


def jpeg_empty(root):
    data = faces(root)
    (data / "images" / "7.jpg").write_bytes(b"")
    return "celeba", data, (f"cannot decode image {data / 'images' / '7.jpg'}",)


def image_listed_but_missing(root):
    data = faces(root)
    (data / "images" / "3.jpg").unlink()
    (data / "images" / "5.jpg").unlink()
    return "celeba", data, (f"{data / 'images' / '3.jpg'} is listed in the attribute file but does not exist",
                            "nor do 1 more", f"expected every image listed in {hq_attributes(data)}")


def _edit_attribute_lines(data, edit):
    path = hq_attributes(data)
    lines = path.read_text().splitlines()
    edit(lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def attribute_row_too_short(root):
    data = faces(root)
    path = _edit_attribute_lines(data, lambda lines: lines.__setitem__(3, lines[3].rsplit(" ", 1)[0]))
    return "celeba", data, (f"line 4 of {path} has 40 fields; expected 41", "a file name and 40 attribute values")


def attribute_row_too_long(root):
    data = faces(root)
    path = _edit_attribute_lines(data, lambda lines: lines.__setitem__(6, lines[6] + " 1"))
    return "celeba", data, (f"line 7 of {path} has 42 fields; expected 41",)


def _set_value(lines, line, column, value):
    fields = lines[line].split()
    fields[1 + column] = value
    lines[line] = " ".join(fields)


def attribute_value_case(value):
    def make(root):
        data = faces(root)
        path = _edit_attribute_lines(data, lambda lines: _set_value(lines, 4, 7, value))
        return "celeba", data, (f"line 5 of {path} gives {ATTRIBUTES[7]} the value {value!r}", "expected 1 or -1")
    return make


def attribute_count_line_wrong(root):
    data = faces(root)
    path = _edit_attribute_lines(data, lambda lines: lines.__setitem__(0, "25"))
    return "celeba", data, (f"{path} announces 25 images on line 1 but lists 20",)


def attribute_count_line_not_a_number(root):
    data = faces(root)
    path = _edit_attribute_lines(data, lambda lines: lines.__setitem__(0, "twenty"))
    return "celeba", data, (f"line 1 of {path} is 'twenty'; expected the number of images",)


def attribute_names_repeated(root):
    data = faces(root)
    path = _edit_attribute_lines(data, lambda lines: lines.__setitem__(1, lines[1].replace("Attr_9", "Attr_8")))
    return "celeba", data, (f"line 2 of {path} names Attr_8 more than once", "expected each attribute name once")


def attribute_file_empty(root):
    data = faces(root)
    hq_attributes(data).write_text("")
    return "celeba", data, (f"{hq_attributes(data)} has 0 lines", "expected a count, the attribute names")


def attribute_file_not_text(root):
    data = faces(root)
    hq_attributes(data).write_bytes(b"\xff\xfe\x00\x81" * 50)
    return "celeba", data, (f"cannot read attribute file {hq_attributes(data)}", "decode")


def _celeba(root):
    return make_celeba(root / "data", count=12, height=22, width=18)


def _edit_partition(data, edit):
    path = data / "list_eval_partition.txt"
    lines = path.read_text().splitlines()
    edit(lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def partition_names_an_image_not_listed(root):
    data = _celeba(root)
    path = _edit_partition(data, lambda lines: lines.append("000099.jpg 0"))
    return "celeba", data, (f"{path} names 000099.jpg, which {data / 'list_attr_celeba.txt'} does not list",
                            "expected both files to list the same images")


def partition_names_a_missing_image(root):
    data = _celeba(root)
    (data / "img_align_celeba" / "000002.jpg").unlink()
    return "celeba", data, (f"{data / 'img_align_celeba' / '000002.jpg'} is listed in the attribute file but does "
                            "not exist", str(data / "list_eval_partition.txt"))


def partition_lacks_an_image(root):
    data = _celeba(root)
    path = _edit_partition(data, lambda lines: lines.pop(4))
    return "celeba", data, (f"{path} gives no split for 000005.jpg", "expected both files to list the same images")


def partition_bad_split(root):
    data = _celeba(root)
    path = _edit_partition(data, lambda lines: lines.__setitem__(2, "000003.jpg 7"))
    return "celeba", data, (f"line 3 of {path} gives split '7' for 000003.jpg", "expected 0 (train)")


DATA_CASES = {
    "folder-missing": folder_missing,
    "folder-is-a-file": folder_is_a_file,
    "mnist-empty-folder": mnist_empty_folder,
    "mnist-wrong-layout": mnist_wrong_layout,
    "mnist-test-files-missing": mnist_test_files_missing,
    **{name: idx_case(damage) for name, damage in IDX_DAMAGE.items()},
    "faces-empty-folder": celeba_empty_folder,
    "faces-images-without-attribute-file": celeba_images_without_attribute_file,
    "faces-attribute-file-without-images": celeba_attribute_file_without_images,
    "jpeg-not-an-image": jpeg_not_an_image,
    "jpeg-truncated": jpeg_truncated,
    "jpeg-empty": jpeg_empty,
    "image-listed-but-missing": image_listed_but_missing,
    "attribute-row-too-short": attribute_row_too_short,
    "attribute-row-too-long": attribute_row_too_long,
    **{f"attribute-value-{v}": attribute_value_case(v) for v in ("2", "0", "yes", "1.0")},
    "attribute-count-line-wrong": attribute_count_line_wrong,
    "attribute-count-line-not-a-number": attribute_count_line_not_a_number,
    "attribute-names-repeated": attribute_names_repeated,
    "attribute-file-empty": attribute_file_empty,
    "attribute-file-not-text": attribute_file_not_text,
    "partition-names-an-image-the-attribute-file-lacks": partition_names_an_image_not_listed,
    "partition-names-a-missing-image": partition_names_a_missing_image,
    "partition-lacks-a-listed-image": partition_lacks_an_image,
    "partition-bad-split": partition_bad_split,
}


@pytest.mark.parametrize("make", DATA_CASES.values(), ids=DATA_CASES.keys())
def test_cli_refuses_bad_data(make, sandbox, capsys):
    dataset, data, fragments = make(sandbox)
    before = snapshot(sandbox)
    code, err = run_cli(["--dataset", dataset, "--data-dir", data, "--output", sandbox / "runs" / "run.pt", *TINY,
                         *(FACES if dataset == "celeba" else [])], capsys)
    assert_refused(code, err, fragments)
    assert_nothing_changed(sandbox, before)


# --- the explorer reads data folders too: the Generate panel's reconstructions read the test split ---

APP_DATA_CASES = {
    "folder-missing": lambda root: (root / "nowhere", (f"data folder {root / 'nowhere'} does not exist",)),
    "folder-is-a-file": lambda root: folder_is_a_file(root)[1:],
    "empty-folder": lambda root: ((root / "data").mkdir(), root / "data")[1:] + (
        (f"no t10k-images-idx3-ubyte[.gz] under {root / 'data'}", "expected torchvision's layout"),),
    **{name: (lambda damage: lambda root: app_idx_case(root, damage))(damage) for name, damage in IDX_DAMAGE.items()},
}


def app_idx_case(root, damage):
    data = make_mnist(root / "data", train=8, test=32)
    path, fragments = damage(data, "t10k")  # the panel reads the test split
    return data, (path, *fragments)


@pytest.mark.parametrize("make", APP_DATA_CASES.values(), ids=APP_DATA_CASES.keys())
def test_app_reports_bad_data(make, sandbox, qtbot, tiny_checkpoints, monkeypatch):
    from PySide6 import QtWidgets

    from explorer.model_list import open_entry
    from explorer.panels.generate import GeneratePanel

    data, fragments = make(sandbox)
    before = snapshot(sandbox)
    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "critical", lambda *args, **kwargs: shown.append(args))
    from PySide6 import QtCore

    from explorer.session import Session

    settings = QtCore.QSettings(str(sandbox.parent / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    panel = GeneratePanel(Session(settings))  # the session's folder, remembered outside the sandbox
    qtbot.addWidget(panel)
    panel.set_entry(open_entry(tiny_checkpoints["ae"]))  # an autoencoder: Generate shows test reconstructions
    panel.session.set_data_dir(data)
    assert panel.wait_for_test_set()  # read off the GUI thread
    text = panel.message.text()
    assert not panel.message_box.isHidden() and panel.grid is None and not panel.save_button.isEnabled()
    assert text.startswith("Cannot read the mnist test images: ") and "\n" not in text and "Traceback" not in text
    for fragment in fragments:
        assert str(fragment) in text, f"{fragment!r} is not in {text!r}"
    assert not shown  # shown in the panel, beside the folder button, not as a dialog
    assert_nothing_changed(sandbox, before)


# --- resuming a face run on data the model was not built for ---

@pytest.fixture(scope="module")
def face_run(tmp_path_factory):
    """A one-epoch β-CVAE run on a 160-face CelebA-HQ-layout folder: (faces folder, checkpoint). 160, because the
    loop's sample preview takes 16 label rows from the test split (the last tenth) and fails on fewer."""
    folder = tmp_path_factory.mktemp("face-run")
    data = make_celeba_hq(folder / "data", count=160, size=16)
    out = folder / "run.pt"
    saved = os.environ.get("CVAE_CACHE_DIR")
    os.environ["CVAE_CACHE_DIR"] = str(folder / "cache")
    try:
        assert main(["--dataset", "celeba", "--data-dir", str(data), "--epochs", "1", "--output", str(out),
                     *TINY, *FACES]) == 0
    finally:
        os.environ.pop("CVAE_CACHE_DIR") if saved is None else os.environ.__setitem__("CVAE_CACHE_DIR", saved)
    return data, out


def rename_attributes(data):
    _edit_attribute_lines(data, lambda lines: lines.__setitem__(
        1, " ".join(["Smiling", "Eyeglasses", *lines[1].split()[2:]])))
    return ("the training data's attributes differ from the model's: Smiling where the model has Attr_0",
            "Eyeglasses where the model has Attr_1")


def drop_an_attribute(data):
    def edit(lines):
        lines[1] = " ".join(lines[1].split()[:-1])
        for i in range(2, len(lines)):
            lines[i] = lines[i].rsplit(" ", 1)[0]
    _edit_attribute_lines(data, edit)
    return ("the training data has 39 attributes; the model expects 40",)


RESUME_CASES = {
    "attribute-names-differ": pytest.param(rename_attributes, []),
    "attribute-count-differs": pytest.param(drop_an_attribute, []),
    "image-size-differs": pytest.param(lambda data: ("images are 3×8×8", "model expects 3×16×16"),
                                       ["--image-size", "8"]),
}


@pytest.mark.parametrize("change, extra", RESUME_CASES.values(), ids=RESUME_CASES.keys())
def test_cli_refuses_to_resume_on_data_that_does_not_fit(change, extra, face_run, sandbox, capsys):
    data, run = sandbox / "data", sandbox / "run.pt"
    shutil.copytree(face_run[0], data)
    shutil.copy2(face_run[1], run)
    fragments = change(data)
    before = snapshot(sandbox)
    code, err = run_cli(["--dataset", "celeba", "--data-dir", data, "--output", run, "--resume", "--epochs", "2",
                         *TINY, *FACES, *extra], capsys)
    assert_refused(code, err, fragments)
    assert_nothing_changed(sandbox, before)


# ----------------------------------------------------------------------------------------------------------------
# Checkpoints: `cvae-train --resume` on them, and opening them in the explorer
# ----------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digit_run(tmp_path_factory):
    """A resumable one-epoch cVAE run on a tiny MNIST: (data folder, checkpoint)."""
    folder = tmp_path_factory.mktemp("digit-run")
    data = make_mnist(folder / "data", train=64, test=32)
    out = folder / "run.pt"
    assert main(["--dataset", "mnist", "--data-dir", str(data), "--epochs", "1", "--output", str(out), *TINY]) == 0
    return data, out


class RunsCode:
    """Unpickling this calls os.system: a checkpoint holding one must never be unpickled."""
    command = "true"

    def __reduce__(self):
        return (os.system, (self.command,))


def _raw(valid: Path) -> dict:
    return torch.load(valid, map_location="cpu", weights_only=True)


def _random_bytes(count: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, count, dtype=np.uint8).tobytes()


def ckpt_empty(path, valid):
    path.write_bytes(b"")
    return ("is empty (0 bytes)", "expected a checkpoint")


def ckpt_truncated(path, valid):
    path.write_bytes(valid.read_bytes()[: valid.stat().st_size // 2])
    return ("truncated or damaged",)


def ckpt_truncated_to_its_first_bytes(path, valid):
    path.write_bytes(valid.read_bytes()[:40])
    return ("truncated or damaged",)


def ckpt_random_bytes(path, valid):
    path.write_bytes(b"\x13" + _random_bytes(5000))
    return ("not a cVAE Explorer checkpoint",)


def ckpt_zip_magic_then_noise(path, valid):
    path.write_bytes(b"PK\x03\x04" + _random_bytes(5000, seed=1))
    return ("truncated or damaged",)


def ckpt_pickle_that_runs_code(path, valid):
    raw = _raw(valid)
    raw["metrics"] = {"surprise": RunsCode()}
    torch.save(raw, path)
    return ("could run code",)


def ckpt_plain_pickle_that_runs_code(path, valid):
    path.write_bytes(pickle.dumps({"state_dict": RunsCode()}))
    return ("not a cVAE Explorer checkpoint",)


def ckpt_other_projects_state_dict(path, valid):
    torch.save(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2)).state_dict(), path)
    return ("is a PyTorch file but not a cVAE Explorer checkpoint",)


def ckpt_other_projects_training_dict(path, valid):
    model = torch.nn.Linear(4, 3)
    torch.save({"epoch": 7, "model_state_dict": model.state_dict(), "loss": 0.25,
                "optimizer_state_dict": torch.optim.Adam(model.parameters()).state_dict()}, path)
    return ("is a PyTorch file but not a cVAE Explorer checkpoint",)


def ckpt_bare_tensor(path, valid):
    torch.save(torch.ones(3, 3), path)
    return ("is a PyTorch file but not a cVAE Explorer checkpoint",)


def ckpt_wrong_architecture(path, valid):
    from cvae.models import ConditionalVAEConfig, build_model
    raw = _raw(valid)
    other = build_model(ConditionalVAEConfig(conv_channels=(8, 16), hidden_dim=32))  # another config's weights
    raw["state_dict"] = other.state_dict()
    torch.save(raw, path)
    return ("the weights do not match the saved cvae configuration",)


def ckpt_future_version(path, valid):
    from cvae.checkpoint import FORMAT_VERSION
    raw = _raw(valid)
    raw["format_version"] = FORMAT_VERSION + 1
    torch.save(raw, path)
    return (f"format version {FORMAT_VERSION + 1}, newer than the {FORMAT_VERSION}", "update cvae-explorer")


def _poison(value):
    def corrupt(path, valid):
        raw = _raw(valid)
        name = next(k for k, v in raw["state_dict"].items() if v.is_floating_point() and v.numel() > 3)
        raw["state_dict"][name].view(-1)[[0, 3]] = value
        torch.save(raw, path)
        return (f"weight tensor '{name}' holds 2 {'NaN' if value != value else 'infinite'} value(s)",
                "expected finite weights")
    return corrupt


def ckpt_missing_its_weights(path, valid):
    raw = _raw(valid)
    del raw["state_dict"]
    torch.save(raw, path)
    return ("is missing its 'state_dict' entry",)


def ckpt_folder(path, valid):
    path.mkdir()
    (path / "inside.txt").write_text("keep")
    return ("is a folder",)


def ckpt_missing(path, valid):
    return ("no such checkpoint file",)


def ckpt_not_resumable(path, valid):
    raw = _raw(valid)
    raw["training_state"] = None
    torch.save(raw, path)
    return ("has no training state to resume from",)


CHECKPOINT_CASES = {
    "empty": ckpt_empty,
    "truncated": ckpt_truncated,
    "truncated-to-its-first-bytes": ckpt_truncated_to_its_first_bytes,
    "random-bytes": ckpt_random_bytes,
    "zip-magic-then-noise": ckpt_zip_magic_then_noise,
    "pickle-that-would-run-code": ckpt_pickle_that_runs_code,
    "plain-pickle-that-would-run-code": ckpt_plain_pickle_that_runs_code,
    "other-projects-state-dict": ckpt_other_projects_state_dict,
    "other-projects-training-dict": ckpt_other_projects_training_dict,
    "bare-tensor": ckpt_bare_tensor,
    "weights-of-another-architecture": ckpt_wrong_architecture,
    "future-format-version": ckpt_future_version,
    "nan-weights": _poison(float("nan")),
    "infinite-weights": _poison(float("inf")),
    "missing-its-weights": ckpt_missing_its_weights,
    "a-folder": ckpt_folder,
    "missing": ckpt_missing,
}
CLI_ONLY_CHECKPOINT_CASES = {"exploration-only": ckpt_not_resumable}


@pytest.fixture
def marker(sandbox, monkeypatch):
    """The file RunsCode would create: it must never appear."""
    path = sandbox.parent / "MARKER"
    monkeypatch.setattr(RunsCode, "command", f"touch {path}")
    yield path
    assert not path.exists(), "a checkpoint ran code while being read"


@pytest.mark.parametrize("corrupt", [*CHECKPOINT_CASES.values(), *CLI_ONLY_CHECKPOINT_CASES.values()],
                         ids=[*CHECKPOINT_CASES, *CLI_ONLY_CHECKPOINT_CASES])
def test_cli_refuses_to_resume_a_bad_checkpoint(corrupt, digit_run, sandbox, marker, capsys):
    data = sandbox / "data"
    shutil.copytree(digit_run[0], data)
    path = sandbox / "run.pt"
    fragments = corrupt(path, digit_run[1])
    before = snapshot(sandbox)
    code, err = run_cli(["--dataset", "mnist", "--data-dir", data, "--output", path, "--resume", "--epochs", "2",
                         *TINY], capsys)
    assert_refused(code, err, (path, *fragments))
    assert_nothing_changed(sandbox, before)


@pytest.fixture(scope="module")
def empty_windows(qapp):
    """{dialogs: an explorer window with nothing open}, one of each for all the cases below (a window costs more
    than a case); each case starts from its empty model list and its error list cleared."""
    from explorer.main_window import MainWindow

    windows = {dialogs: MainWindow(dialogs=dialogs) for dialogs in (True, False)}
    yield windows
    for window in windows.values():
        window.close()
        window.deleteLater()


@pytest.mark.parametrize("dialogs", [True, False], ids=["dialog", "headless"])
@pytest.mark.parametrize("corrupt", CHECKPOINT_CASES.values(), ids=CHECKPOINT_CASES.keys())
def test_app_refuses_to_open_a_bad_checkpoint(corrupt, dialogs, digit_run, sandbox, marker, empty_windows,
                                              monkeypatch, capsys):
    from PySide6 import QtWidgets

    path = sandbox / "model.pt"
    fragments = corrupt(path, digit_run[1])
    before = snapshot(sandbox)
    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "critical",
                        lambda parent, title, text, *args, **kwargs: shown.append((title, text)))
    window = empty_windows[dialogs]
    assert window.model_list.entries == []
    window.errors.clear()
    capsys.readouterr()
    assert window.open_paths([path]) == [] and window.model_list.entries == []
    assert len(window.errors) == 1
    message = window.errors[0]
    assert "\n" not in message and "Traceback" not in message
    for fragment in (path, *fragments):
        assert str(fragment) in message, f"{fragment!r} is not in {message!r}"
    if dialogs:
        assert shown == [("Cannot open checkpoint", message)]
    else:
        assert not shown and capsys.readouterr().err.splitlines() == [f"cvae-explorer: {message}"]
    assert_nothing_changed(sandbox, before)


# ----------------------------------------------------------------------------------------------------------------
# Command-line values
# ----------------------------------------------------------------------------------------------------------------

def output_is_a_folder(root):
    (root / "run.pt").mkdir()
    (root / "run.pt" / "inside.txt").write_text("keep")
    return ["--output", root / "run.pt"], (f"--output {root / 'run.pt'} is a folder",
                                           "expected a checkpoint file path")


def output_under_a_file(root):
    (root / "notes.txt").write_text("a file")
    return ["--output", root / "notes.txt" / "run.pt"], (f"{root / 'notes.txt'} is a file, not a folder",)


def values(*args, expect):
    return lambda root: (list(args), expect)


no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: --device cuda is valid here")

VALUE_CASES = {
    "epochs-zero": values("--epochs", "0", expect=("--epochs must be at least 1, got 0",)),
    "epochs-negative": values("--epochs", "-3", expect=("--epochs must be at least 1, got -3",)),
    "epochs-not-a-number": values("--epochs", "ten", expect=("--epochs", "invalid int value: 'ten'")),
    "batch-size-zero": values("--batch-size", "0", expect=("--batch-size must be at least 1, got 0",)),
    "batch-size-negative": values("--batch-size", "-8", expect=("--batch-size must be at least 1, got -8",)),
    "learning-rate-negative": values("--lr", "-0.001", expect=("--lr must be a positive number", "got -0.001")),
    "learning-rate-zero": values("--lr", "0", expect=("--lr must be a positive number", "got 0")),
    "learning-rate-infinite": values("--lr", "inf", expect=("--lr must be a finite number, got inf",)),
    "beta-negative": values("--beta", "-1", expect=("--beta must be", "got -1")),
    "image-size-too-small": values("--image-size", "2", expect=("--image-size must be at least 4, got 2",)),
    "limit-zero": values("--limit", "0", expect=("--limit must be at least 1, got 0",)),
    "device-unknown": values("--device", "tpu", expect=("unknown device 'tpu'", "expected auto, cpu, cuda")),
    "device-malformed": values("--device", "cuda:x", expect=("unknown device 'cuda:x'",)),
    "device-cuda-without-cuda": pytest.param(values("--device", "cuda", expect=("device 'cuda'", "no usable CUDA")),
                                             marks=no_cuda),
    "device-cuda-1-without-cuda": pytest.param(values("--device", "cuda:1", expect=("device 'cuda:1'",
                                                                                     "no usable CUDA")),
                                               marks=no_cuda),
    "device-meta": values("--device", "meta", expect=("device 'meta' is not one this project trains",)),
    "device-xpu-not-built-in": values("--device", "xpu", expect=("device 'xpu' is not one this project trains",)),
    "dataset-unknown": values("--dataset", "imagenet", expect=("--dataset", "invalid choice: 'imagenet'")),
    "model-unknown": values("--model", "gan", expect=("--model", "invalid choice: 'gan'")),
    "output-is-a-folder": output_is_a_folder,
    "output-under-a-file": output_under_a_file,
}


@pytest.mark.parametrize("make", VALUE_CASES.values(), ids=VALUE_CASES.keys())
def test_cli_refuses_bad_values_before_loading_data(make, sandbox, capsys, monkeypatch):
    data = make_mnist(sandbox / "data", train=32, test=16)
    args, fragments = make(sandbox)
    before = snapshot(sandbox)
    monkeypatch.setattr("trainer.runs.load_dataset", lambda *a, **k: pytest.fail("data loaded before the check"))
    code, err = run_cli(["--dataset", "mnist", "--data-dir", data, "--output", sandbox / "runs" / "run.pt", *TINY,
                         *args], capsys)  # given last, so they win over TINY's and the default --output
    assert_refused(code, err, fragments)
    assert_nothing_changed(sandbox, before)


def test_cli_refuses_a_model_for_other_labels(sandbox, capsys):
    data = make_mnist(sandbox / "data", train=32, test=16)
    before = snapshot(sandbox)
    code, err = run_cli(["--dataset", "mnist", "--data-dir", data, "--output", sandbox / "run.pt", "--model",
                         "beta-cvae", *TINY], capsys)
    assert_refused(code, err, ("model beta-cvae needs attribute labels", "mnist has class labels", "use cvae"))
    assert_nothing_changed(sandbox, before)


# ----------------------------------------------------------------------------------------------------------------
# The installed console script, in its own process: exit status 2, one line, no traceback
# ----------------------------------------------------------------------------------------------------------------

def script_cuda(root, digit_run):
    data = make_mnist(root / "data", train=32, test=16)
    return ["--dataset", "mnist", "--data-dir", data, "--output", root / "run.pt", "--device", "cuda"], \
        ("device 'cuda' was asked for but this machine has no usable CUDA GPU",)


def script_empty_face_folder(root, digit_run):
    (root / "faces").mkdir()
    return ["--dataset", "celeba", "--data-dir", root / "faces", "--output", root / "run.pt"], \
        (f"no CelebA-format face folder under {root / 'faces'}",)


def script_nan_checkpoint(root, digit_run):
    shutil.copytree(digit_run[0], root / "data")
    fragments = _poison(float("nan"))(root / "run.pt", digit_run[1])
    return ["--dataset", "mnist", "--data-dir", root / "data", "--output", root / "run.pt", "--resume",
            "--device", "cpu"], (root / "run.pt", *fragments)


SCRIPT_CASES = {
    "device-cuda-without-cuda": pytest.param(script_cuda, marks=no_cuda),
    "empty-face-folder": script_empty_face_folder,
    "resume-nan-checkpoint": script_nan_checkpoint,
}


@pytest.mark.slow  # a fresh process each: importing torch takes seconds
@pytest.mark.parametrize("make", SCRIPT_CASES.values(), ids=SCRIPT_CASES.keys())
def test_console_script_refuses_in_one_line(make, sandbox, digit_run):
    assert CONSOLE_SCRIPT.is_file(), f"{CONSOLE_SCRIPT} is not installed"
    args, fragments = make(sandbox, digit_run)
    before = snapshot(sandbox)
    result = subprocess.run([str(CONSOLE_SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "CVAE_CACHE_DIR": str(sandbox.parent / "cache")})
    assert_refused(result.returncode, result.stderr, fragments)
    assert result.stdout == ""
    assert_nothing_changed(sandbox, before)
