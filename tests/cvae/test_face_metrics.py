"""The face-attribute judge and the control metrics, on tiny worlds whose right answers are known in closed form.

A 'face' here is a 1×1×A image whose pixel k is attribute k (1: has it). A pixel judge reads pixel k; a faithful
generator draws its label; a deaf one draws a pattern of z whatever the label. The real AttributeJudge is checked
for what it adds: positive weights from the data, tuned thresholds, one fit per run, bfloat16 training.
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from cvae.data import ImageDataset
from cvae.metrics import attribute_accuracy, attribute_control, edit_control
from cvae.models import AttributeJudgeConfig, build_model
from cvae.models.attribute_judge import balanced_accuracy, choose_thresholds
from tests import fixtures
from trainer import TrainConfig, Trainer

A = 6
NAMES = ["Smiling", "Eyeglasses", "Male", "Blond_Hair", "Mustache", "Wearing_Hat"]


def faces(labels: torch.Tensor) -> ImageDataset:
    images = (labels.reshape(-1, 1, 1, A).float() * 255).to(torch.uint8)
    return ImageDataset("celeba", "test", images, labels.to(torch.uint8), list(NAMES), "attributes")


def random_labels(n: int, seed: int = 0) -> torch.Tensor:
    return (torch.rand(n, A, generator=torch.Generator().manual_seed(seed)) < 0.3).to(torch.uint8)


class PixelJudge(nn.Module):
    """Reads attribute k from pixel k, optionally wrong on the attributes in `flip`."""

    def __init__(self, flip=()):
        super().__init__()
        self.config = SimpleNamespace(num_attributes=A)
        self.flip = list(flip)
        self.anchor = nn.Parameter(torch.zeros(1))

    def predict(self, images: torch.Tensor, batch_size: int = 0) -> torch.Tensor:
        read = images.reshape(len(images), A) > 0.5
        read[:, self.flip] = ~read[:, self.flip]
        return read


class PixelGenerator(nn.Module):
    """decode(z, y): pixel k = y_k (faithful), or z_k > 0 whatever y (deaf); `also` lights attribute `also[1]`
    whenever attribute `also[0]` is asked for (an edit that drags a neighbour along)."""

    def __init__(self, faithful: bool = True, also: tuple[int, int] | None = None):
        super().__init__()
        self.latent_dim = A
        self.faithful, self.also = faithful, also
        self.anchor = nn.Parameter(torch.zeros(1))
        self.decodes = 0

    def encode(self, x: torch.Tensor, labels=None):
        return x.reshape(len(x), A) - 0.5, None

    def decode(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.decodes += 1
        out = labels.float().clone() if self.faithful else (z > 0).float()
        if self.also is not None:
            out[:, self.also[1]] = torch.maximum(out[:, self.also[1]], labels[:, self.also[0]].float())
        return out.reshape(-1, 1, 1, A)


def test_balanced_accuracy_is_the_mean_of_both_rates_and_a_half_for_a_constant_answer():
    truth = torch.tensor([[1], [0], [0], [0]]).bool()
    assert balanced_accuracy(torch.zeros(4, 1).bool(), truth).item() == pytest.approx(0.5)
    assert balanced_accuracy(torch.tensor([[1], [1], [0], [0]]).bool(), truth).item() == pytest.approx((1 + 2 / 3) / 2)


def test_thresholds_split_the_classes_and_still_call_a_rare_attribute():
    logits = torch.tensor([[-2.0, -3.0], [-1.0, -2.5], [1.0, -2.0], [2.0, -1.0], [3.0, -1.5]])
    truth = torch.tensor([[0, 0], [0, 0], [1, 0], [1, 1], [1, 0]])
    thresholds = choose_thresholds(logits, truth)
    assert thresholds[0].item() == pytest.approx(0.0)  # halfway between the classes
    # the rare attribute's only positive has the top logit, which is far below 0: plain 0.5 would never call it
    assert -1.5 < thresholds[1].item() < -1.0
    assert ((logits > thresholds) == truth.bool()).all()


def test_attribute_accuracy_reports_each_attribute_against_the_data():
    labels = random_labels(200)
    report = attribute_accuracy(PixelJudge(flip=[2]), faces(labels))
    rows = {row["name"]: row for row in report["per_attribute"]}
    assert rows["Smiling"]["accuracy"] == 1.0 and rows["Smiling"]["balanced_accuracy"] == 1.0
    assert rows["Male"]["accuracy"] == 0.0 and rows["Male"]["balanced_accuracy"] == 0.0
    assert rows["Mustache"]["positive_rate"] == pytest.approx(labels[:, 4].float().mean().item())
    assert report["mean_accuracy"] == pytest.approx(5 / 6)
    rates = labels.float().mean(0)
    assert report["majority_accuracy"] == pytest.approx(torch.maximum(rates, 1 - rates).mean().item())


def test_a_faithful_generator_has_full_control_and_a_deaf_one_none():
    data = faces(random_labels(100))
    faithful = attribute_control(PixelGenerator(True), PixelJudge(), data, NAMES, count=300, seed=1)
    assert all(row == {"on_rate": 1.0, "off_rate": 1.0 - 1.0, "gap": 1.0} for row in faithful.values())
    deaf = attribute_control(PixelGenerator(False), PixelJudge(), data, NAMES, count=300, seed=1)
    z = torch.randn(300, A, generator=torch.Generator().manual_seed(1))
    for k, name in enumerate(NAMES):
        share = (z[:, k] > 0).float().mean().item()  # the same z decoded both ways: the judge sees no difference
        assert deaf[name] == pytest.approx({"on_rate": share, "off_rate": share, "gap": 0.0})


def test_editing_with_a_faithful_generator_flips_exactly_the_asked_attribute():
    labels = random_labels(120, seed=3)
    report = edit_control(PixelGenerator(True), PixelJudge(), faces(labels), NAMES, count=100)
    assert report["faces"] == 100 and report["reconstruction_mse"] == 0.0
    for row in report["attributes"].values():
        assert row == {"success": 1.0, "add_success": 1.0, "remove_success": 1.0, "preservation": 1.0}


def test_an_edit_that_drags_a_neighbour_along_loses_preservation():
    labels = torch.zeros(50, A, dtype=torch.uint8)  # nobody smiles or wears a hat yet
    report = edit_control(PixelGenerator(True, also=(0, 5)), PixelJudge(), faces(labels), NAMES, count=50)
    smiling = report["attributes"]["Smiling"]
    assert smiling["success"] == 1.0 and smiling["add_success"] == 1.0
    assert smiling["preservation"] == pytest.approx(1 - 1 / (A - 1))  # the hat appeared on every face
    assert report["attributes"]["Eyeglasses"]["preservation"] == 1.0


def test_a_judge_that_reads_other_attributes_is_refused():
    data = faces(random_labels(10))
    judge = PixelJudge()
    judge.config = SimpleNamespace(num_attributes=40)
    with pytest.raises(Exception, match="judge reads 40 attributes; the data has 6"):
        attribute_control(PixelGenerator(), judge, data, NAMES, count=10)


# 16×16 RGB faces with the six attributes at rates like CelebA's, the first painted in (something to learn)
tiny_faces = partial(fixtures.tiny_faces, names=NAMES, rates=[0.5, 0.1, 0.4, 0.2, 0.05, 0.3])


def judge_config(**overrides) -> AttributeJudgeConfig:
    return AttributeJudgeConfig(image_size=(16, 16), conv_channels=(4, 8), hidden_dim=8, num_attributes=A,
                                **overrides)


@pytest.mark.slow  # over a second: a training run read batch by batch
def test_positive_weights_come_from_the_training_data_once_per_run(tmp_path):
    data = tiny_faces()
    judge = build_model(judge_config(positive_weighting=0.5))
    assert judge.positive_weight.tolist() == [1.0] * A
    trainer = Trainer(judge, data, None, TrainConfig(epochs=1, batch_size=16, sample_count=0), tmp_path / "j.pt")
    rates = data.labels.float().mean(0).clamp(1e-3, 1 - 1e-3)
    assert torch.allclose(judge.positive_weight, ((1 - rates) / rates) ** 0.5)
    trainer.run()
    other = tiny_faces(seed=5)  # a resumed run keeps the weights it trained with, whatever data it resumes on
    resumed = Trainer.resume(tmp_path / "j.pt", other, None, epochs=2, other_data=True)
    assert torch.allclose(resumed.model.positive_weight, ((1 - rates) / rates) ** 0.5)


def test_positive_weights_make_missing_a_rare_attribute_cost_more():
    judge = build_model(judge_config()).eval()
    data = tiny_faces()
    images, labels = data.images.float() / 255, data.labels
    plain = judge.loss(images, labels)["loss"]
    judge.fit_to_data(data)
    assert judge.loss(images, labels)["loss"] > plain


def test_predict_and_probabilities_use_the_tuned_thresholds():
    judge = build_model(judge_config()).eval()
    images = tiny_faces().images.float() / 255
    logits = judge.logits(images)
    judge.thresholds.copy_(logits.median(0).values)
    assert torch.equal(judge.predict(images), logits > judge.thresholds)
    assert torch.equal(judge.probabilities(images) > 0.5, judge.predict(images))


@pytest.mark.slow  # over a second: two training runs, one in emulated bfloat16
def test_cpu_bfloat16_training_is_applied_and_tracks_float32(tmp_path, monkeypatch):
    monkeypatch.setattr("trainer.loop.native_cpu_bf16", lambda: True)  # emulated bf16 still computes the same
    data = tiny_faces(32)
    losses = {}
    for bf16 in (False, True):
        model = fixtures.face_model(latent_dim=4, num_attributes=A)
        trainer = Trainer(model, data, None, TrainConfig(epochs=1, batch_size=32, seed=3, cpu_bf16=bf16,
                                                         device="cpu", sample_count=0), tmp_path / f"{bf16}.pt")
        assert trainer.use_cpu_bf16 is bf16
        losses[bf16] = trainer.run().history[-1]["train_loss"]
    assert losses[True] != losses[False]  # the autocast really ran
    assert losses[True] == pytest.approx(losses[False], rel=0.02)


def test_cpu_bfloat16_is_ignored_with_a_warning_where_the_cpu_only_emulates_it(tmp_path, monkeypatch):
    monkeypatch.setattr("trainer.loop.native_cpu_bf16", lambda: False)
    model = fixtures.face_model(latent_dim=4, num_attributes=A)
    with pytest.warns(UserWarning, match="no native bfloat16"):
        trainer = Trainer(model, tiny_faces(8), None, TrainConfig(epochs=1, batch_size=8, cpu_bf16=True,
                                                                  device="cpu", sample_count=0), tmp_path / "f.pt")
    assert trainer.use_cpu_bf16 is False


def test_sharpness_is_zero_for_flat_images_and_falls_with_blur():
    from cvae.metrics import sharpness

    noise = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    blurred = torch.nn.functional.avg_pool2d(noise, 3, stride=1, padding=1)
    assert sharpness(torch.full((2, 3, 8, 8), 0.7)) == pytest.approx(0.0, abs=1e-10)
    assert sharpness(blurred) < 0.2 * sharpness(noise)
    assert sharpness((noise * 255).to(torch.uint8)) == pytest.approx(sharpness(noise), rel=0.02)


def test_attribute_targets_flip_one_attribute_or_borrow_another_faces_row():
    from cvae.models.generative import attribute_targets

    y = (torch.rand(200, A, generator=torch.Generator().manual_seed(2)) < 0.4).float()
    single = attribute_targets(y, 1.0, torch.Generator().manual_seed(0))
    assert ((single != y).sum(1) == 1).all()  # exactly one attribute flipped on every face
    assert set((single != y).float().argmax(1).tolist()) == set(range(A))  # every attribute gets its turn
    borrowed = attribute_targets(y, 0.0, torch.Generator().manual_seed(0))
    rows = {tuple(r) for r in y.tolist()}
    assert all(tuple(r) in rows for r in borrowed.tolist()) and not torch.equal(borrowed, y)
    assert sorted(map(tuple, borrowed.tolist())) == sorted(map(tuple, y.tolist()))  # a permutation of the batch


def test_an_implied_edit_sets_the_partners_and_counts_preservation_over_the_rest():
    """Training rows where Male (2) goes with Mustache (4) and against Smiling (0): the implied Male flip also sets
    those two; preservation is counted over the three attributes the edit did not set."""
    g = torch.Generator().manual_seed(0)
    male = torch.rand(2000, generator=g) < 0.5
    rows = (torch.rand(2000, A, generator=g) < 0.3).float()
    rows[:, 2], rows[:, 4], rows[:, 0] = male.float(), (male & (torch.rand(2000, generator=g) < 0.9)).float(), \
        (~male & (torch.rand(2000, generator=g) < 0.9)).float()
    labels = torch.zeros(40, A, dtype=torch.uint8)
    labels[:, 0] = 1  # smiling women
    single = edit_control(PixelGenerator(True), PixelJudge(), faces(labels), ["Male"], count=40)
    implied = edit_control(PixelGenerator(True), PixelJudge(), faces(labels), ["Male"], count=40, implied_rows=rows)
    assert single["attributes"]["Male"]["preservation"] == 1.0 and "implied" not in single["attributes"]["Male"]
    row = implied["attributes"]["Male"]
    assert row["implied"] == ["Smiling", "Mustache"] and row["success"] == 1.0 and row["preservation"] == 1.0
    gaps = attribute_control(PixelGenerator(True), PixelJudge(), faces(labels), ["Male"], count=50, seed=0,
                             implied_rows=rows)
    assert gaps["Male"]["gap"] == 1.0


def test_a_direction_edit_moves_the_code_and_keeps_the_labels():
    """A deaf generator (draws z > 0, ignores y) cannot be edited by label; along a direction it can."""
    labels = torch.zeros(60, A, dtype=torch.uint8)
    directions = torch.eye(A) * 2.0  # attribute k lives in latent axis k (encode maps pixel 0 to -0.5)
    by_label = edit_control(PixelGenerator(False), PixelJudge(), faces(labels), ["Eyeglasses"], count=60)
    by_direction = edit_control(PixelGenerator(False), PixelJudge(), faces(labels), ["Eyeglasses"], count=60,
                                mode="direction", directions=directions)
    assert by_label["attributes"]["Eyeglasses"]["success"] == 0.0
    assert by_direction["attributes"]["Eyeglasses"]["success"] == 1.0
    assert by_direction["attributes"]["Eyeglasses"]["preservation"] == 1.0


def test_two_judges_read_the_same_decodes_side_by_side():
    """Every face figure is reported by two judges (issue 20): given a list, each judge's report is what it alone
    would report, and the decodes are made once for both."""
    labels = random_labels(120)
    right, wrong_on_male = PixelJudge(), PixelJudge(flip=[2])
    model = PixelGenerator(True)
    both = edit_control(model, [right, wrong_on_male], faces(labels), NAMES, count=120, batch_size=40)
    shared = model.decodes
    alone = [edit_control(PixelGenerator(True), judge, faces(labels), NAMES, count=120, batch_size=40)
             for judge in (right, wrong_on_male)]
    assert both == alone
    assert shared == (len(NAMES) + 1) * 3  # the unedited decode and one per attribute, in batches of 40: once
    assert both[0]["attributes"]["Male"]["success"] == 1.0 and both[1]["attributes"]["Male"]["success"] == 0.0
    gaps = attribute_control(PixelGenerator(True), (right, wrong_on_male), faces(labels), NAMES, count=50, seed=0)
    assert gaps == [attribute_control(PixelGenerator(True), judge, faces(labels), NAMES, count=50, seed=0)
                    for judge in (right, wrong_on_male)]
    assert gaps[0]["Male"]["gap"] == 1.0 and gaps[1]["Male"]["gap"] == -1.0
