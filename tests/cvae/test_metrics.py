"""The judge's accuracy and conditional accuracy on tiny models whose right answers are known in closed form.

Images are 4×4 with one bright pixel; its quadrant (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) is
the class. The judge is a real Classifier whose weights are set by hand so that it reads that quadrant exactly.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cvae.data import ImageDataset
from cvae.metrics import classifier_accuracy, conditional_accuracy, reconstruction_accuracy
from cvae.models import ClassifierConfig, build_model

QUADRANTS = 4


def quadrant_images(classes: torch.Tensor) -> torch.Tensor:
    """(N, 1, 4, 4) float images in [0, 1], each with one bright pixel in the quadrant of its class."""
    images = torch.zeros(len(classes), 1, 4, 4)
    images[torch.arange(len(classes)), 0, 2 * (classes // 2), 2 * (classes % 2)] = 1.0
    return images


def perfect_judge() -> nn.Module:
    """conv = identity, ReLU, 2×2 max-pool → one feature per quadrant; both linear layers are identities, so the
    argmax is the quadrant."""
    judge = build_model(ClassifierConfig(image_size=(4, 4), conv_channels=(1,), hidden_dim=QUADRANTS,
                                         num_classes=QUADRANTS, dropout=0.5))
    conv, first, last = judge.encoder.net[0], judge.head[1], judge.head[4]
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 1, 1] = 1.0
        conv.bias.zero_()
        for linear in (first, last):
            linear.weight.copy_(torch.eye(QUADRANTS))
            linear.bias.zero_()
    return judge.train()  # the metrics must put it in evaluation mode themselves (dropout 0.5 would blur it)


class QuadrantDecoder(nn.Module):
    """A conditional 'generator' of quadrant images: `draw(z, labels)` says which quadrant each sample lights."""

    conditional = True
    variational = True

    def __init__(self, draw, latent_dim: int = 3):
        super().__init__()
        self.config = ClassifierConfig(image_size=(4, 4), num_classes=QUADRANTS)  # label_dim = 4 classes
        self.latent_dim = latent_dim
        self.anchor = nn.Parameter(torch.zeros(1))  # where the metrics look for the device
        self.draw = draw
        self.seen: list[torch.Tensor] = []

    def decode(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        assert z.shape[1] == self.latent_dim and labels.shape == (z.shape[0],)
        self.seen.append(z)
        return quadrant_images(self.draw(z, labels))


def quadrant_set(classes: list[int], labels: list[int]) -> ImageDataset:
    images = (quadrant_images(torch.tensor(classes)) * 255).to(torch.uint8)
    return ImageDataset("quadrants", "test", images, torch.tensor(labels), [str(q) for q in range(QUADRANTS)],
                        "class")


def test_perfect_judge_reads_every_quadrant():
    judge = perfect_judge().eval()
    classes = torch.arange(QUADRANTS).repeat(3)
    assert torch.equal(judge.predict(quadrant_images(classes)), classes)


@pytest.mark.parametrize("batch_size", [1000, 5])
def test_classifier_accuracy_counts_the_labels_the_judge_gets_right(batch_size):
    classes = [q % QUADRANTS for q in range(12)]
    labels = list(classes)
    for i in (1, 6, 11):  # three mislabelled images: the perfect judge disagrees with exactly these
        labels[i] = (labels[i] + 1) % QUADRANTS
    assert classifier_accuracy(perfect_judge(), quadrant_set(classes, labels), batch_size=batch_size) == 9 / 12
    assert classifier_accuracy(perfect_judge(), quadrant_set(classes, classes), batch_size=batch_size) == 1.0


def test_conditional_accuracy_of_a_faithful_generator_is_one():
    model = QuadrantDecoder(lambda z, labels: labels)
    overall, per_class = conditional_accuracy(model, perfect_judge(), per_class=50, batch_size=16)
    assert overall == 1.0 and per_class == [1.0] * QUADRANTS
    assert sum(len(z) for z in model.seen) == 50 * QUADRANTS  # batches of 16 cover exactly 50 per class


def test_conditional_accuracy_of_a_generator_that_ignores_its_label():
    model = QuadrantDecoder(lambda z, labels: torch.zeros_like(labels))  # always draws class 0
    overall, per_class = conditional_accuracy(model, perfect_judge(), per_class=20)
    assert per_class == [1.0, 0.0, 0.0, 0.0] and overall == 0.25


def test_conditional_accuracy_samples_the_prior_at_the_given_temperature():
    # right only where |z₀| < 1: P(|N(0, T²)| < 1) = erf(1 / (T·√2)) — 0.683 at T = 1, 0.954 at T = 0.5
    model = QuadrantDecoder(lambda z, labels: torch.where(z[:, 0].abs() < 1, labels, (labels + 1) % QUADRANTS))
    for temperature in (1.0, 0.5):
        overall, per_class = conditional_accuracy(model, perfect_judge(), per_class=2000, temperature=temperature,
                                                  seed=1)
        expected = math.erf(1 / (temperature * math.sqrt(2)))
        assert overall == pytest.approx(expected, abs=0.015)  # 4·2000 draws: standard error ≈ 0.005
        assert all(p == pytest.approx(expected, abs=0.04) for p in per_class)
    again = conditional_accuracy(model, perfect_judge(), per_class=2000, temperature=0.5, seed=1)
    assert again == (overall, per_class)  # seeded: the same figure every time


# ----- the judge Fréchet distance (judge_fd): the Fréchet distance in the judge's own penultimate features -----

def test_judge_features_are_the_layer_before_the_judges_output():
    from cvae.metrics import judge_features

    judge = perfect_judge().eval()
    images = quadrant_images(torch.arange(QUADRANTS))
    features = judge_features(judge, images)
    assert features.shape == (QUADRANTS, QUADRANTS)  # (N, hidden_dim)
    assert torch.allclose(judge.head[4](torch.from_numpy(features).float()), judge(images))
    assert (features == torch.eye(QUADRANTS).numpy()).all()  # the hand-set judge: one feature per quadrant


def test_judge_fd_is_zero_for_a_faithful_generator_and_closed_form_for_one_that_ignores_its_label():
    """With the quadrant judge the features are one-hot quadrants, so a set with class shares p has mean p and
    covariance N/(N−1)·(diag p − p pᵀ). Generated images all of class 0 have mean e₀ and no spread, so the distance
    to a balanced real set is ‖e₀ − p‖² + tr Σ_real = 0.75 + 0.75·N/(N−1)."""
    import warnings

    from cvae.fid import FewSamplesWarning
    from cvae.metrics import judge_fd

    count = 400
    classes = torch.arange(count) % QUADRANTS
    real = (quadrant_images(classes) * 255).to(torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewSamplesWarning)
        faithful = judge_fd(perfect_judge(), real, quadrant_images(classes), batch_size=64)
        ignoring = judge_fd(perfect_judge(), real, quadrant_images(torch.zeros_like(classes)), batch_size=64)
    assert faithful == pytest.approx(0, abs=1e-9)
    assert ignoring == pytest.approx(0.75 + 0.75 * count / (count - 1), rel=1e-9)


def test_generated_batches_are_seeded_labelled_like_the_data_and_cover_the_count():
    from cvae.metrics import generated_batches, labels_like

    data = quadrant_set([0, 1, 2, 3, 1], [0, 1, 2, 3, 1])
    labels = labels_like(data, 12)
    assert labels.tolist() == [0, 1, 2, 3, 1] * 2 + [0, 1]
    model = QuadrantDecoder(lambda z, labels: labels)
    batches = list(generated_batches(model, 12, labels, batch_size=5, seed=3))
    assert [len(b) for b in batches] == [5, 5, 2]
    assert torch.equal(perfect_judge().eval().predict(torch.cat(batches)), labels)
    first = torch.cat(model.seen)
    model.seen.clear()
    list(generated_batches(model, 12, labels, batch_size=5, seed=3))
    assert torch.equal(torch.cat(model.seen), first)  # the same z for the same seed


class QuadrantAutoencoder(QuadrantDecoder):
    """Encodes an image as its lit quadrant (z = [quadrant]); `draw(z, labels)` then says what the decoder lights."""

    def __init__(self, draw):
        super().__init__(draw, latent_dim=1)

    def encode(self, x: torch.Tensor, labels: torch.Tensor):
        flat = x.reshape(len(x), 4, 4)
        row, column = (flat.sum(2).argmax(1) // 2), (flat.sum(1).argmax(1) // 2)
        z = (2 * row + column).float()[:, None]
        return z, torch.zeros_like(z)


@pytest.mark.parametrize("batch_size", [1000, 5])
def test_reconstruction_accuracy_reads_the_decodes_of_the_encodings_under_their_labels(batch_size):
    classes = [q % QUADRANTS for q in range(12)]
    labels = list(classes)
    labels[3] = 0  # a quadrant-3 image labelled 0: a faithful decoder redraws quadrant 3, read as 3, not 0
    data = quadrant_set(classes, labels)
    faithful = QuadrantAutoencoder(lambda z, labels: z[:, 0].long())
    overall, per_class = reconstruction_accuracy(faithful, perfect_judge(), data, batch_size=batch_size)
    assert overall == 11 / 12 and per_class == [3 / 4, 1.0, 1.0, 1.0]
    label_only = QuadrantAutoencoder(lambda z, labels: labels)  # draws its label whatever it saw
    assert reconstruction_accuracy(label_only, perfect_judge(), data, batch_size=batch_size)[0] == 1.0
    stuck = QuadrantAutoencoder(lambda z, labels: torch.zeros_like(labels))
    overall, per_class = reconstruction_accuracy(stuck, perfect_judge(), data, batch_size=batch_size)
    assert per_class == [1.0, 0.0, 0.0, 0.0] and overall == 4 / 12
