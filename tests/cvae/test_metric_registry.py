"""The metric registry (cvae.metrics_registry) is the one place that says which metric applies to which model,
how its figures print and what the card shows: the Evaluate panel offers exactly what the evaluation accepts, the
card and cvae-eval print a figure the same way, the Train panel draws whatever terms a run reports, and every file
is written by the one atomic_write."""

from __future__ import annotations

import html
import json
import os
import stat

import pytest
from PySide6 import QtCore
from torch import nn

from cvae import metrics_registry as registry
from cvae.checkpoint import atomic_write, load_checkpoint, save_checkpoint
from cvae.errors import ConfigError
from tests.fixtures import face_judge, make_checkpoint
from tests.formats import CELEBA_NAMES, make_celeba_hq, make_mnist
from trainer.evaluation import evaluate_checkpoint, measure, plan_evaluation, report_path, write_results

FAMILIES = ("cvae", "vae", "ae", "beta-cvae")


class Features(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3)).repeat(1, 2)


@pytest.fixture(autouse=True)
def private_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("CVAE_FID_CACHE", str(tmp_path / "fid-cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_mnist(root, train=8, test=12)
    make_celeba_hq(root / "celebahq64", count=12, size=16, names=CELEBA_NAMES)
    return root


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    paths = {family: make_checkpoint(folder / f"{family}.pt", family) for family in FAMILIES}
    return paths, {"digits": make_checkpoint(folder / "judge.pt", "classifier"),
                   "faces": face_judge(folder / "face-judge.pt")}


def panel_for(qtbot, tmp_path):
    from explorer.panels.evaluate import EvaluatePanel
    from explorer.session import Session

    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    panel = EvaluatePanel(Session(settings))
    qtbot.addWidget(panel)
    return panel


@pytest.mark.parametrize("family", FAMILIES)
def test_the_panel_offers_exactly_what_the_evaluation_accepts(family, models, data, qtbot, tmp_path):
    from explorer.model_list import open_entry

    paths, judges = models
    entry = open_entry(paths[family])
    panel = panel_for(qtbot, tmp_path)
    panel.set_entry(entry)
    for box in panel.metric_checks.values():
        box.setChecked(True)
    offered = panel.chosen_metrics()
    capabilities = entry.checkpoint.capabilities
    assert offered == registry.choose(None, capabilities, entry.path.name)[0]  # the default run's choice
    judge = judges["faces" if capabilities.takes_attributes else "digits"]
    plan = plan_evaluation(paths[family], offered, data_dir=data, judge_path=judge, device="cpu",
                           fid_network=Features())
    assert plan.metrics == offered and plan.skipped == {}
    for name in set(registry.NAMES) - set(offered):  # what the panel does not offer, the evaluation refuses
        assert not panel.metric_checks[name].isEnabled() and "Does not apply" in panel.metric_checks[name].toolTip()
        with pytest.raises(ConfigError, match=f"{name} does not apply"):
            plan_evaluation(paths[family], name, data_dir=data, judge_path=judge, device="cpu",
                            fid_network=Features())


def test_a_metric_that_cannot_apply_is_refused_before_any_data_is_read(models, tmp_path):
    with pytest.raises(ConfigError, match="judge-fd does not apply: ae.pt has no prior to sample from"):
        plan_evaluation(models[0]["ae"], "judge-fd", data_dir=tmp_path / "no-data", device="cpu")


def test_plan_measure_write_are_three_stages_and_only_the_last_writes(models, data, tmp_path):
    path = tmp_path / "digits.pt"
    path.write_bytes(models[0]["cvae"].read_bytes())
    before = path.read_bytes()
    plan = plan_evaluation(path, "loss,conditional-accuracy", data_dir=data, judge_path=models[1]["digits"],
                           device="cpu", conditional_per_class=3)
    measured = measure(plan)
    assert path.read_bytes() == before and not report_path(path).exists()
    assert measured.metrics["conditional_samples"] == 30 and measured.samples["loss"] == 12
    result = write_results(plan, measured)
    assert result["checkpoint_updated"] and load_checkpoint(path).metrics["conditional_samples"] == 30
    assert json.loads(report_path(path).read_text())[0]["metrics"] == measured.metrics


def face_figures():
    row = {"on_rate": 0.9, "off_rate": 0.1, "gap": 0.8}
    return {"attribute_control": {"Smiling": row, "Wearing_Hat": row},
            "editing": {"faces": 1000, "reconstruction_mse": 0.01, "reconstruction_psnr": 20.0,
                        "attributes": {"Smiling": {"success": 0.7, "add_success": 0.6, "remove_success": 0.8,
                                                   "preservation": 0.95}}},
            "judge_attribute_accuracy": 0.91, "test_nelbo": -9170.0, "test_images": 10_000}


def test_every_registered_figure_prints_on_the_terminal_and_the_card_alike(tmp_path):
    from explorer.model_card import card_rows
    from explorer.model_list import open_entry

    metrics = face_figures()
    terminal = "\n".join(registry.format_figure(key, value) for key, value in metrics.items())
    checkpoint = load_checkpoint(make_checkpoint(tmp_path / "face.pt", "beta-cvae"))
    checkpoint.metrics = metrics
    card = {html.unescape(label).lstrip("\xa0"): html.unescape(text)  # an indented row's label starts with &nbsp;
            for label, text in card_rows(open_entry(save_checkpoint(checkpoint, tmp_path / "face.pt")))}
    for label, text, _ in registry.card_rows(metrics):  # the card shows the registry's rows as they are
        assert card[label.replace("_", " ")] == text
    assert "negative: a Gaussian density" in card["note"]  # the loss in nats is below 0: the card says why
    assert card["Control: Wearing Hat"] == "on 90 % · off 10 % · gap 0.80"
    assert card["Edit: Smiling"] == "added 60 % · removed 80 % · others kept 95.0 %"
    for text in (card["Control: Wearing Hat"], card["Edit: Smiling"], card["Reconstruction error"]):
        assert text in terminal  # cvae-eval prints the same rows
    assert card["Test images"] == "10,000" and card["Test loss (−ELBO)"] == "-9170.0 nats"
    for key, shown in registry.FIGURES.items():  # every registered figure has a label and a known kind
        assert shown.label and shown.kind in (registry.NATS, registry.PERCENT, registry.COUNT, registry.NUMBER,
                                              registry.ROWS), key
    assert registry.summary({"test_images": 10_000, "fid": 12.5, "editing": {}}) == "test_images 10,000, fid 12.5"


def test_a_second_judges_figures_sit_beside_the_first_judges_on_the_card_and_in_the_table():
    metrics = face_figures()
    other = {"on_rate": 0.6, "off_rate": 0.3, "gap": 0.3}
    metrics["attribute_control_second_judge"] = {"Smiling": other, "Wearing_Hat": other}
    metrics["editing_second_judge"] = {**metrics["editing"], "attributes": {"Smiling": {
        "success": 0.5, "add_success": 0.4, "remove_success": 0.6, "preservation": 0.9}}}
    card = {label: text for label, text, _ in registry.card_rows(metrics)}
    assert card["Control: Wearing_Hat"] == "on 90 % · off 10 % · gap 0.80"
    assert card["Control (2nd judge): Wearing_Hat"] == "on 60 % · off 30 % · gap 0.30"
    assert card["Edit (2nd judge): Smiling"] == "added 40 % · removed 60 % · others kept 90.0 %"
    assert [label for label, _, _ in registry.card_rows(metrics)].count("Reconstruction error") == 1
    row = registry.table_row(metrics)
    assert row["gap Smiling"] == "0.8" and row["gap Smiling (2nd judge)"] == "0.3"


def test_the_train_panel_draws_every_term_a_run_reports(qtbot, tmp_path):
    from explorer.panels.train import TrainPanel
    from explorer.session import Session

    settings = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    panel = TrainPanel(Session(settings))
    qtbot.addWidget(panel)
    panel._epoch({"epoch": 1, "train_nelbo": 200.0, "train_kl": 5.0, "train_latent_adversary": 0.7,
                  "test_nelbo": 210.0, "lr": 1e-3, "seconds": 2.0})
    assert set(panel.epoch_curves) == {"train_nelbo", "train_kl", "train_latent_adversary", "test_nelbo"}
    names = [label.text for _, label in panel.loss_plot.getPlotItem().legend.items]
    assert "train latent adversary" in names and "held-out −ELBO" in names
    assert [label.text for _, label in panel.kl_plot.getPlotItem().legend.items] == ["train KL"]


def test_one_atomic_write_gives_checkpoints_and_reports_an_ordinary_files_mode(models, data, tmp_path):
    mask = os.umask(0o007)
    try:
        path = save_checkpoint(load_checkpoint(models[0]["ae"]), tmp_path / "ae.pt")
        evaluate_checkpoint(path, "loss", data_dir=data, device="cpu")
        for written in (path, report_path(path)):
            assert stat.S_IMODE(written.stat().st_mode) == 0o660, written
        os.chmod(path, 0o600)
        save_checkpoint(load_checkpoint(path), path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # a replaced file keeps its own mode
    finally:
        os.umask(mask)
    before = path.read_bytes()
    with pytest.raises(TypeError):  # the write fails half-way: the file stays as it was, no temporary is left
        atomic_write(path, object())
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_unknown_metric_names_are_refused_with_the_registrys_list():
    with pytest.raises(ConfigError, match="unknown metric 'bleu'; expected some of loss, conditional-accuracy"):
        registry.parse("loss,bleu")
    assert registry.parse(["fid", "loss", "fid"]) == ("fid", "loss")


def test_a_negative_loss_in_nats_carries_one_note_and_training_time_is_not_in_nats():
    """Issue 19, 7: the face model's held-out loss printed as "-9170 nats" with no word on why it is negative (a
    Gaussian density of continuous pixels exceeds 1). The note is the registry's, shown by the card, cvae-eval and
    the Evaluate panel alike."""
    face = {"test_nelbo": -9170.1, "test_rec": -9226.5, "test_kl": 56.5, "train_seconds": 2900.0}
    assert registry.figure_notes(face) == [registry.NEGATIVE_NATS]
    assert registry.figure_notes({"test_nelbo": 98.1, "test_kl": 4.7}) == []
    assert registry.figure_notes({"train_loss": -3.0}) == []  # training's own figures are not shown as results
    rows = registry.card_rows(face)
    labels = [label for label, _, _ in rows]
    assert labels == ["Test loss (−ELBO)", "reconstruction", "KL divergence", registry.NOTE_LABEL]  # after the nats
    assert "Gaussian density" in rows[-1][1] and rows[-1][2]  # indented under the loss
    assert "train_seconds 2900" in registry.summary(face) and "2900.00 nats" not in registry.summary(face)


def test_cvae_eval_says_why_a_face_models_loss_is_negative(tmp_path, monkeypatch, capsys):
    from trainer import eval_cli

    data = tmp_path / "faces"
    make_celeba_hq(data / "celebahq64", count=20, size=16)
    face = make_checkpoint(tmp_path / "face.pt", "beta-cvae")
    monkeypatch.setattr("cvae.metrics.mean_loss_terms",  # as the trained face model's Gaussian likelihood gives
                        lambda *args, **kwargs: {"nelbo": -9170.1, "rec": -9226.5, "kl": 56.5})
    assert eval_cli.main([str(face), "--data-dir", str(data), "--metrics", "loss", "--device", "cpu",
                          "--no-update"]) == 0
    captured = capsys.readouterr()
    assert "-9170.10 nats" in captured.out
    assert "note: the loss in nats is negative: a Gaussian density of continuous pixel values can exceed 1" in (
        captured.err)
