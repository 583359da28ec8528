"""What a checkpoint derives for the explorer (cvae.derived), computed by the training loop's save for every model
(issue 18, bug 2): a face model trained by the Trainer, not the build script, ships its sample encodings and
attribute rows and rates, which Generate's "like the data" and Edit's faces find without a data folder; a run
cancelled part-way, or between epochs, ships its test-set encodings; the build script derives the very same."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from cvae.attribute_edits import attribute_directions
from cvae.checkpoint import load_checkpoint, read_checkpoint_dict
from cvae.data import ImageDataset
from cvae.derived import Derived, derive
from cvae.latent import encode_means
from cvae.models import ClassifierConfig, ConditionalVAEConfig, VAEConfig, build_model
from tests.fixtures import TINY, face_checkpoint, face_model, tiny_faces
from trainer import TrainConfig, Trainer, TrainingCallback

ROOT = Path(__file__).resolve().parents[2]


def faces(split: str, count: int) -> ImageDataset:
    return tiny_faces(count, seed=len(split), split=split, marked=False)  # 40 attributes, each on at rate 0.3


def digits(split: str, count: int) -> ImageDataset:
    generator = torch.Generator().manual_seed(len(split))
    images = torch.randint(0, 256, (count, 1, 28, 28), generator=generator, dtype=torch.uint8)
    return ImageDataset("mnist", split, images, torch.arange(count) % 10, [str(d) for d in range(10)], "class")


def config(**values) -> TrainConfig:
    return TrainConfig(**{"epochs": 1, "batch_size": 8, "device": "cpu", "seed": 3, "sample_count": 0, **values})


@pytest.fixture(scope="module")
def face_run(tmp_path_factory):
    """A face model trained by the Trainer alone (no build script): (trainer, checkpoint path, train, test)."""
    train, test = faces("train", 40), faces("test", 60)  # more held-out faces than the 48 it keeps
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("faces") / "face.pt"
    trainer = Trainer(face_model(), train, test, config(), path)
    assert trainer.run().status == "finished"
    return trainer, path, train, test


def test_a_face_model_trained_by_the_trainer_ships_what_the_face_panels_need(face_run):
    _, path, train, test = face_run
    loaded = load_checkpoint(path)
    derived = Derived.of(loaded)
    assert derived.sample_means.shape == (48, 8) and torch.equal(derived.sample_labels, test.labels[:48])
    expected = encode_means(loaded.model, test.images[:48], test.labels[:48])
    assert torch.allclose(derived.sample_means, expected, atol=1e-2)  # the held-out faces' posterior means
    assert torch.equal(derived.attribute_rows, train.labels)  # all 40 rows (fewer than the 2,000 kept)
    assert torch.allclose(derived.attribute_rates, train.labels.float().mean(0))
    assert derived.test_encodings.shape == (60, 8) and torch.equal(derived.test_labels, test.labels)
    raw = read_checkpoint_dict(path)["derived"]  # the keys on disk the bundled files have always used
    assert sorted(raw) == sorted(["test_encodings", "test_labels", "sample_means", "sample_labels",
                                  "attribute_rows", "attribute_rates", "attribute_directions"])


def test_directions_are_attribute_directions_of_the_training_faces_means(face_run):
    trainer, path, train, _ = face_run
    loaded = load_checkpoint(path)
    raw = read_checkpoint_dict(path)["derived"]["attribute_directions"]
    assert raw.dtype == torch.half and raw.shape == (40, 8)  # (A, latent), half precision on disk
    means = encode_means(trainer.model.eval(), train.images, train.labels)  # all 40 (fewer than the 3,000 used)
    assert torch.equal(raw, attribute_directions(means, train.labels).half())
    assert torch.equal(Derived.of(loaded).attribute_directions, raw.float())  # read back typed
    few = derive(trainer.model, train, None, direction_faces=25)  # only the first faces count
    assert torch.equal(few.attribute_directions,
                       attribute_directions(means[:25], train.labels[:25]).half())
    digits_model = build_model(ConditionalVAEConfig(**TINY))  # class labels: no directions
    assert derive(digits_model, digits("train", 4), digits("test", 4)).attribute_directions is None


def test_an_old_file_gains_directions_from_a_data_folder_and_keeps_the_rest(tmp_path, monkeypatch):
    from cvae.derived import add_attribute_directions
    from tests.formats import make_celeba_hq

    root = tmp_path / "data"
    make_celeba_hq(root / "celebahq64", count=40, size=16)
    monkeypatch.setenv("CVAE_CACHE_DIR", str(tmp_path / "cache"))
    rows = (torch.rand(30, 40) < 0.3).to(torch.uint8)
    path = face_checkpoint(tmp_path / "old.pt", derived={"attribute_rows": rows})
    before = read_checkpoint_dict(path)
    derived = add_attribute_directions(path, root)
    after = read_checkpoint_dict(path)
    from cvae.data import load_dataset
    train = load_dataset("celeba", root, "train", image_size=16, cache_dir=False)
    model = load_checkpoint(path).model
    expected = attribute_directions(encode_means(model, train.images, train.labels), train.labels).half()
    assert torch.equal(after["derived"]["attribute_directions"], expected)
    assert torch.equal(derived.attribute_directions, expected) and torch.equal(derived.attribute_rows, rows)
    assert torch.equal(after["derived"]["attribute_rows"], rows)
    assert sorted(after) == sorted(before) and after["metrics"] == before["metrics"]
    assert all(torch.equal(after["state_dict"][k], v) for k, v in before["state_dict"].items())


def test_the_face_panels_find_them_without_a_data_folder(face_run, qtbot, monkeypatch):
    from explorer.faces import bundled_faces
    from explorer.model_list import open_entry
    from explorer.panels.generate import GeneratePanel

    monkeypatch.delenv("CVAE_DATA_DIR", raising=False)
    _, path, _, test = face_run
    entry = open_entry(path)
    shown, problem = bundled_faces(entry)  # what Edit and Interpolate open on without a data folder
    assert problem is None and len(shown) == 48
    assert torch.equal(shown[0].label, test.labels[0].float())
    panel = GeneratePanel()
    qtbot.addWidget(panel)
    panel.set_entry(entry)
    rows, source = panel.attribute_rows(500, torch.Generator().manual_seed(0))
    assert source == "unforced attributes drawn like the training faces"
    training_rows = {tuple(row) for row in Derived.of(entry.checkpoint).attribute_rows.tolist()}
    assert all(tuple(int(v) for v in row) in training_rows for row in rows.tolist())


def test_the_build_script_derives_exactly_what_the_trainer_saved(face_run):
    spec = importlib.util.spec_from_file_location("build_face_models", ROOT / "scripts" / "build_face_models.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look their module up there
    spec.loader.exec_module(sys.modules[spec.name])
    trainer, path, train, test = face_run
    shipped = load_checkpoint(path)
    shipped.derived = {}
    sys.modules[spec.name].attach_face_support(shipped, trainer.model, train, test)
    saved = load_checkpoint(path).derived  # as loaded: floating tensors back in float32
    assert sorted(shipped.derived) == sorted(saved)
    for key, value in shipped.derived.items():
        value = value.float() if value.is_floating_point() else value
        assert value.dtype == saved[key].dtype and torch.equal(value, saved[key]), key


class CancelAfter:
    """A cancel flag that turns on once `batches` batches have been asked about (the loop asks before each)."""

    def __init__(self, batches: int):
        self.left = batches

    def __call__(self) -> bool:
        self.left -= 1
        return self.left < 0


@pytest.mark.parametrize("batches", [5 + 2, 5], ids=["part-way-through-epoch-2", "between-epochs-1-and-2"])
def test_a_cancelled_run_ships_its_test_encodings_and_still_resumes_exactly(tmp_path, batches):
    train, test = digits("train", 40), digits("test", 30)  # 5 batches an epoch

    def model():
        torch.manual_seed(0)
        return build_model(ConditionalVAEConfig(**TINY))

    straight = Trainer(model(), train, test, config(epochs=3), tmp_path / "straight.pt").run()
    result = Trainer(model(), train, test, config(epochs=3), tmp_path / "c.pt", cancel=CancelAfter(batches)).run()
    assert result.status == "cancelled" and result.epoch == 1
    assert result.partial == ((2, 5) if batches == 7 else None)
    derived = Derived.of(load_checkpoint(tmp_path / "c.pt"))
    assert derived.test_encodings.shape == (30, 2) and torch.equal(derived.test_labels, test.labels)
    resumed = Trainer.resume(tmp_path / "c.pt", train, test).run()
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in straight.history]


def test_per_epoch_saves_stay_cheap_and_the_last_one_derives(tmp_path):
    train, test = digits("train", 20), digits("test", 10)
    seen = []

    class Look(TrainingCallback):
        def on_checkpoint(self, path, epoch):
            seen.append(sorted(read_checkpoint_dict(path)["derived"]))

    Trainer(build_model(VAEConfig(latent_dim=3, **TINY)), train, test, config(epochs=2, batch_size=10),
            tmp_path / "v.pt", [Look()]).run()
    assert seen == [[], ["test_encodings", "test_labels"]]


def test_derive_follows_capabilities_and_leaves_the_generators_and_mode_alone():
    train, test = faces("train", 12), faces("test", 5)
    model = face_model().train()
    torch.manual_seed(7)
    before = torch.get_rng_state()
    derived = derive(model, train, test, sample_faces=3, attribute_rows=4)
    assert torch.equal(torch.get_rng_state(), before) and model.training
    assert derived.sample_means.shape == (3, 8) and derived.attribute_rows.shape == (4, 40)
    assert derived.sample_means.dtype == torch.half and derived.sample_labels.dtype == torch.uint8
    without_test = derive(model, train, None, sample_faces=3)  # faces from the training set; nothing for the map
    assert without_test.test_encodings is None and torch.equal(without_test.sample_labels, train.labels[:3])
    assert torch.equal(without_test.sample_means, encode_means(model.eval(), train.images[:3],
                                                               train.labels[:3]).half())
    vae = derive(build_model(VAEConfig(latent_dim=3, **TINY)), digits("train", 4), digits("test", 6))
    assert vae.test_encodings.shape == (6, 3) and vae.sample_means is None and vae.attribute_rows is None
    assert not derive(build_model(ClassifierConfig(**TINY)), digits("train", 4), digits("test", 6))


def test_the_dictionary_on_disk_round_trips_and_the_bundled_files_read_typed():
    entries = {"test_encodings": torch.randn(4, 2), "test_labels": torch.arange(4), "a_newer_entry": "new"}
    derived = Derived.from_dict(entries)
    assert derived.extra == {"a_newer_entry": "new"} and derived.sample_means is None
    assert derived.to_dict().keys() == entries.keys()
    assert Derived.from_dict({"attribute_rates": [0.5, 0.25], "sample_means": "not a tensor"}).sample_means is None
    assert not Derived.from_dict(None)
    face = Derived.of(load_checkpoint(ROOT / "resources" / "celeba-beta-cvae.pt"))
    assert face.sample_means.shape == (48, 128) and face.attribute_rows.shape == (2000, 40)
    assert face.attribute_rates.shape == (40,) and face.sample_labels.shape == (48, 40)
    digit = Derived.of(load_checkpoint(ROOT / "resources" / "mnist-cvae.pt"))
    assert digit.test_encodings.shape == (10000, 2) and digit.test_labels.shape == (10000,)
