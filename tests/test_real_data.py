"""Checks on the real data folder named by CVAE_DATA_DIR (CI: ../shared/data); skipped without it."""

import hashlib
import os
from pathlib import Path

import pytest
import torch

from cvae.checkpoint import load_checkpoint
from cvae.data import load_dataset
from cvae.metrics import classifier_accuracy, conditional_accuracy, mean_loss_terms
from cvae.models import ConditionalVAEConfig, build_model
from cvae_explorer_resources import FOLDER as RESOURCES
from trainer import TrainConfig, Trainer

DATA = os.environ.get("CVAE_DATA_DIR")
pytestmark = [
    pytest.mark.real_data,
    pytest.mark.skipif(not DATA or not Path(DATA).is_dir(),
                       reason="CVAE_DATA_DIR is not set to the real data folder (CI sets it to ../shared/data)"),
]


def needs(path: str):
    full = Path(DATA or "") / path
    return pytest.mark.skipif(not full.exists(), reason=f"{full} is not in this data folder")


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist", DATA, "train"), load_dataset("mnist", DATA, "test")


@needs("MNIST/raw")
def test_real_mnist_loads_from_the_gzipped_files(mnist):
    train, test = mnist
    assert train.images.shape == (20000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    # the complete official test set, byte for byte (MD5 of the extracted image file's pixels after the header)
    header = bytes([0, 0, 8, 3]) + (10000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    assert hashlib.md5(header + test.images.numpy().tobytes()).hexdigest() == "2646ac647ad5339dbf082846283269ea"
    assert torch.bincount(test.labels).tolist()[:2] == [980, 1135]


@needs("celebahq64")
def test_real_celeba_hq_faces():
    test = load_dataset("celeba", DATA, "test")
    assert test.images.shape == (500, 3, 64, 64) and test.labels.shape == (500, 40)
    assert test.label_names[31] == "Smiling" and test.info["layout"] == "celeba-hq"
    assert 0.3 < test.labels[:, 31].float().mean() < 0.7


@needs("MNIST/raw")
@pytest.mark.slow  # an epoch on 5,000 real digits
def test_one_epoch_of_real_training_beats_the_untrained_model(mnist, tmp_path):
    """5,000 of the 20,000 digits: a quarter of the time (about 12 s instead of 40 here), still far past untrained."""
    train, test = mnist
    train = train.subset(5000)
    torch.manual_seed(0)
    model = build_model(ConditionalVAEConfig())
    held_out = test.subset(2000)
    untrained = mean_loss_terms(model, held_out)["nelbo"]
    result = Trainer(model, train, held_out, TrainConfig(epochs=1, device="cpu", sample_count=0),
                     tmp_path / "one.pt").run()
    trained = result.history[-1]["test_nelbo"]
    assert trained < untrained - 100  # untrained ~500 nats; one epoch of 5,000 got to 192 here (20,000: ~145)
    assert load_checkpoint(tmp_path / "one.pt").epoch == 1


def bundled(name):
    path = RESOURCES / name
    if not path.exists():
        pytest.skip(f"{path} is not bundled yet")
    return load_checkpoint(path)


@needs("MNIST/raw")
def test_bundled_judge_reads_the_real_test_set(mnist):
    judge = bundled("mnist-judge.pt")
    accuracy = classifier_accuracy(judge.model, mnist[1])
    assert accuracy >= 0.99
    assert accuracy == pytest.approx(judge.metrics["test_accuracy"], abs=1e-3)


@needs("MNIST/raw")
def test_bundled_cvae_metrics_hold_on_the_real_test_set(mnist):
    cvae, judge = bundled("mnist-cvae.pt"), bundled("mnist-judge.pt")
    nelbo = mean_loss_terms(cvae.model, mnist[1], seed=0)["nelbo"]
    assert nelbo == pytest.approx(cvae.metrics["test_nelbo"], abs=0.05)
    assert nelbo < 132.4  # the seed report's figure for its own cVAE on these images
    accuracy, _ = conditional_accuracy(cvae.model, judge.model, per_class=200, seed=123)
    assert accuracy >= 0.98  # 2,000 fresh prior samples; the bundled figure uses 10,000
    encodings = cvae.derived["test_encodings"]
    assert encodings.shape == (10000, 2) and torch.equal(cvae.derived["test_labels"], mnist[1].labels)


@needs("MNIST/raw")
def test_bundled_vae_and_autoencoder_figures_hold_on_the_real_test_set(mnist):
    """The figures written into the retrained VAE and autoencoder (the README's table) are what their weights give
    on the 10,000 test images, and better than the files trained on the first 20,000 (100.7 and 111.0 nats)."""
    for name, term, before in (("mnist-vae.pt", "nelbo", 100.7), ("mnist-ae.pt", "rec", 111.0)):
        model = bundled(name)
        value = mean_loss_terms(model.model, mnist[1], seed=0)[term]
        assert value == pytest.approx(model.metrics[f"test_{term}"], abs=0.05), name
        assert value < before, name
        assert model.dataset["count"] == 60000, name


FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist package


@pytest.mark.skipif(not FASHION.is_dir(), reason=f"{FASHION} is missing (apt-get install dataset-fashion-mnist)")
def test_complete_fashion_mnist_from_debians_package():
    train = load_dataset("fashion-mnist", FASHION, "train")
    assert train.images.shape == (60000, 1, 28, 28) and train.label_names[9] == "Ankle boot"
    assert torch.bincount(train.labels).tolist() == [6000] * 10


@pytest.mark.skipif(not FASHION.is_dir(), reason=f"{FASHION} is missing (apt-get install dataset-fashion-mnist)")
def test_bundled_fashion_models_hold_on_the_complete_test_set():
    """The figures written into the Fashion judge and cVAE (the README's) are what their weights give on the
    10,000 Fashion-MNIST test images; fresh prior samples are read as their class about as often."""
    test = load_dataset("fashion-mnist", FASHION, "test")
    cvae, judge = bundled("fashion-cvae.pt"), bundled("fashion-judge.pt")
    assert classifier_accuracy(judge.model, test) == pytest.approx(judge.metrics["test_accuracy"], abs=1e-3)
    nelbo = mean_loss_terms(cvae.model, test, seed=0)["nelbo"]
    assert nelbo == pytest.approx(cvae.metrics["test_nelbo"], abs=0.05)
    assert cvae.label_names == test.label_names and cvae.label_names[4] == "Coat"
    accuracy, _ = conditional_accuracy(cvae.model, judge.model, per_class=300, seed=123)
    assert accuracy == pytest.approx(cvae.metrics["conditional_accuracy"], abs=0.03)


@needs("MNIST/raw")
def test_bundled_cvae_reaches_the_128_nats_target(mnist):
    """Issue 3's target, met by the cVAE trained on the complete 60,000 images (127.6 nats on the 10,000 test
    images, which every MNIST folder holds in full)."""
    nelbo = mean_loss_terms(bundled("mnist-cvae.pt").model, mnist[1], seed=0)["nelbo"]
    assert nelbo < 128


@needs("celebahq64")
def test_bundled_face_judge_and_model_on_real_faces():
    """A sanity check of the shipped face files on the small set's held-out faces 4,501–5,000 — which the bundled
    models trained on (they are training faces of the 30,000-face set), so this guards the files, not the README's
    held-out figures: the judge reads the attributes far above the majority answer, Eyeglasses obeys its toggle."""
    from cvae.metrics import attribute_accuracy, attribute_control

    judge, face = bundled("celeba-judge.pt").model.float().eval(), bundled("celeba-beta-cvae.pt")
    faces = load_dataset("celeba", DATA, "test")
    report = attribute_accuracy(judge, faces)
    assert report["mean_accuracy"] > report["majority_accuracy"] + 0.05
    control = attribute_control(face.model.float().eval(), judge, faces, ["Eyeglasses"], count=200, seed=0)
    assert control["Eyeglasses"]["gap"] >= 0.5
    assert set(face.metrics["attribute_control"]) == {"Smiling", "Eyeglasses", "Male", "Blond_Hair", "Mustache",
                                                      "Wearing_Hat"}
    assert face.derived["sample_means"].shape == (48, 128) and face.derived["attribute_rows"].shape == (2000, 40)
