"""One run preparation (trainer.runs) for `cvae-train` and the Train panel's job — the same seed, the same output
checks — and a resume that keeps its data: other training data is refused in one line (or taken when asked, and
recorded), no more epochs than done is refused in words, and a resumed run counts its own total."""

from __future__ import annotations

import json
import shutil
import threading

import pytest
import torch

from cvae.checkpoint import load_checkpoint
from cvae.data import ImageDataset, load_dataset
from tests.formats import make_mnist
from tests.trainer.test_cli import unwritable_folder
from trainer.callbacks import MetricsLog
from trainer.cli import main
from trainer.jobs import CANCELLED, FAILED, FINISHED, JobCallback, TrainJob, TrainSpec
from trainer.loop import Trainer, TrainResult

TINY_MODEL = {"conv_channels": (4, 8), "hidden_dim": 16}
CLI_TINY = ["--conv-channels", "4,8", "--hidden-dim", "16", "--batch-size", "16", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_mnist(tmp_path_factory.mktemp("data"), train=96, test=32)  # 6 batches of 16 an epoch


def cli(data_dir, out, capsys, *extra) -> tuple[int, str]:
    code = main(["--dataset", "mnist", "--data-dir", str(data_dir), "--output", str(out), *CLI_TINY,
                 *map(str, extra)])  # given last: they win over CLI_TINY's
    return code, capsys.readouterr().err


def spec(data_dir, out, limit=None, **fields) -> TrainSpec:
    train = {"batch_size": 16, "device": "cpu", **fields.pop("train", {})}
    return TrainSpec("mnist", out, str(data_dir), fields.pop("family", "cvae"), fields.pop("model", dict(TINY_MODEL)),
                     train, limit=limit, **fields)


class Recorder(JobCallback):
    """The batches a job reports; sets `cancel` after batch `cancel_at` = (epoch, batch)."""

    def __init__(self, cancel_at=None, cancel=None):
        self.batches, self.cancel_at, self.cancel = [], cancel_at, cancel

    def on_batch(self, progress):
        self.batches.append(progress)
        if self.cancel_at == (progress.epoch, progress.batch):
            self.cancel.set()


def cancelled_run(data_dir, out, at, epochs=3) -> None:
    """A run of `epochs` stopped after batch `at` = (epoch, batch): saved part-way through that epoch."""
    cancel = threading.Event()
    result = TrainJob(spec(data_dir, out, train={"epochs": epochs}), [Recorder(at, cancel)], cancel).run()
    assert result.status == CANCELLED and load_checkpoint(out).training_state["partial"]["batches_done"] == at[1]


def files(*paths) -> list:
    return [p.read_bytes() if p.is_file() else None for p in paths]


# ----- one preparation: the seed ------------------------------------------------------------------------------

@pytest.fixture
def initial_weights(monkeypatch):
    """Trainer.run replaced: each prepared run's weights are recorded as they are before any step; nothing trains."""
    seen = []

    def record(self):
        seen.append({k: v.detach().clone() for k, v in self.model.state_dict().items()})
        return TrainResult(FINISHED, 0)

    monkeypatch.setattr(Trainer, "run", record)
    return seen


@pytest.mark.parametrize("family, model", [("cvae", {}), ("vae", {"latent_dim": 3})])
def test_a_train_job_starts_from_the_weights_of_cvae_train_with_the_same_seed(family, model, data_dir, tmp_path,
                                                                              capsys, initial_weights):
    torch.manual_seed(1234)  # whatever the process's generator did before: the seed alone decides
    flags = [f"--{k.replace('_', '-')}" if i == 0 else str(v) for k, v in model.items() for i in (0, 1)]
    assert cli(data_dir, tmp_path / "cli.pt", capsys, "--model", family, "--seed", 7, *flags)[0] == 0
    torch.manual_seed(4321)
    torch.rand(100)
    for seed in (7, 8):
        result = TrainJob(spec(data_dir, tmp_path / f"job-{seed}.pt", family=family,
                               model={**TINY_MODEL, **model}, train={"seed": seed})).run()
        assert result.status == FINISHED, result.message
    by_cli, by_job, other_seed = initial_weights
    assert by_cli.keys() == by_job.keys()
    assert all(torch.equal(by_cli[k], by_job[k]) for k in by_cli)  # exactly cvae-train --seed 7's weights
    assert not all(torch.equal(by_cli[k], other_seed[k]) for k in by_cli)  # and the seed is what decides them


# ----- one preparation: the output checks ---------------------------------------------------------------------

def assert_refused_alike(data_dir, out, capsys, fragments, job_fields=None, cli_extra=()):
    """cvae-train and the job refuse `out` with the same sentence (the CLI names --output, the panel 'the
    output'), before training, writing nothing there."""
    code, err = cli(data_dir, out, capsys, *cli_extra)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("cvae-train: error: "), err
    result = TrainJob(spec(data_dir, out, **(job_fields or {}))).run()
    assert result.status == FAILED
    assert result.message == lines[0].removeprefix("cvae-train: error: ").replace("--output", "the output", 1)
    for fragment in fragments:
        assert fragment in result.message
    assert not out.exists() and not MetricsLog.path_for(out).is_file()


def test_the_job_refuses_a_folder_that_takes_no_files_as_cvae_train_does(data_dir, tmp_path, capsys):
    try:
        folder = unwritable_folder(tmp_path)
        if folder is None:
            pytest.skip("no folder here refuses writes (root ignores chmod, and /sys and /proc accept files)")
        assert_refused_alike(data_dir, folder / "out.pt", capsys, (f"cannot create files in {folder}",
                                                                   "expected a writable folder"))
    finally:
        (tmp_path / "locked").chmod(0o700)


def test_the_job_refuses_a_disk_without_room_as_cvae_train_does(data_dir, tmp_path, capsys, monkeypatch):
    real = shutil.disk_usage
    monkeypatch.setattr("shutil.disk_usage", lambda path: real(path)._replace(free=300_000))
    assert_refused_alike(data_dir, tmp_path / "runs" / "x.pt", capsys, ("0.3 MB free", "needs at least 4 MB"))
    assert not (tmp_path / "runs").exists()


def test_the_job_refuses_room_too_small_for_its_model_as_cvae_train_does(data_dir, tmp_path, capsys, monkeypatch):
    real = shutil.disk_usage
    monkeypatch.setattr("shutil.disk_usage", lambda path: real(path)._replace(free=20_000_000))
    assert_refused_alike(data_dir, tmp_path / "x.pt", capsys, ("20.0 MB free", "needs about"),
                         job_fields={"model": {**TINY_MODEL, "hidden_dim": 4096}}, cli_extra=("--hidden-dim", 4096))


def test_the_job_refuses_a_metrics_log_that_is_a_folder_as_cvae_train_does(data_dir, tmp_path, capsys):
    out = tmp_path / "run.pt"
    MetricsLog.path_for(out).mkdir()
    assert_refused_alike(data_dir, out, capsys, (f"its metrics log {MetricsLog.path_for(out)} is a folder",))


# ----- resume keeps its data ----------------------------------------------------------------------------------

def test_a_checkpoint_records_what_it_was_trained_on(data_dir, tmp_path, capsys):
    out = tmp_path / "run.pt"
    assert cli(data_dir, out, capsys, "--epochs", 1, "--limit", 80)[0] == 0
    recorded = load_checkpoint(out).dataset
    data = load_dataset("mnist", data_dir, "train", limit=80)
    assert recorded == data.describe()
    assert recorded["name"] == "mnist" and recorded["split"] == "train" and recorded["count"] == 80
    assert recorded["limit"] == 80 and recorded["image_size"] == [28, 28] and len(recorded["fingerprint"]) == 64
    assert recorded["fingerprint"] != load_dataset("mnist", data_dir, "train", limit=81).fingerprint()


def test_cli_resume_refuses_other_training_data_until_told_and_records_it(data_dir, tmp_path, capsys):
    out, log = tmp_path / "run.pt", MetricsLog.path_for(tmp_path / "run.pt")
    assert cli(data_dir, out, capsys, "--epochs", 1)[0] == 0
    labels = load_checkpoint(out).dataset["fingerprint"][:8]
    before = files(out, log)
    code, err = cli(data_dir, out, capsys, "--resume", "--epochs", 2, "--limit", 48)
    assert code == 2
    assert err.strip().splitlines() == [
        f"cvae-train: error: {out} was trained on 96 mnist train images (labels {labels}…); the data now selected "
        "has 48 — resume with the same data, or pass --resume-other-data to continue on it anyway"]
    assert files(out, log) == before

    assert cli(data_dir, out, capsys, "--resume", "--epochs", 2, "--limit", 48, "--resume-other-data")[0] == 0
    resumed = load_checkpoint(out)
    assert resumed.epoch == 2 and resumed.dataset["count"] == 48 and resumed.dataset["limit"] == 48
    change = resumed.history[1]["data_changed"]
    assert change["was"]["count"] == 96 and change["now"]["count"] == 48 and change["changes"] == ["has 48"]
    assert "data_changed" not in resumed.history[0] and "restarted_epoch" not in change
    assert [json.loads(line).get("data_changed") for line in log.read_text().splitlines()] == [None, change]

    moved = tmp_path / "moved"  # the same data in another folder is the same data
    shutil.copytree(data_dir, moved)
    assert cli(moved, out, capsys, "--resume", "--epochs", 3, "--limit", 48)[0] == 0
    assert "data_changed" not in load_checkpoint(out).history[2]


def test_resume_other_data_needs_resume(data_dir, tmp_path, capsys):
    code, err = cli(data_dir, tmp_path / "run.pt", capsys, "--resume-other-data")
    assert code == 2 and "--resume-other-data only applies with --resume" in err and not (tmp_path / "run.pt").exists()


def test_a_part_way_epoch_resumed_on_other_data_starts_again_with_its_rate_and_beta(data_dir, tmp_path):
    """Issue 19's Train-panel story as a job: stopped in epoch 2 after 4 of 6 batches, resumed on a third of the
    images. Refused; then, asked to, the epoch starts again from its first batch of the 2 the data now makes, and
    its record has a learning rate and a β (they were null: no batch was left to run after batch 4)."""
    out = tmp_path / "run.pt"
    cancelled_run(data_dir, out, at=(2, 4))
    refused = TrainJob(spec(data_dir, out, limit=32, resume=True, train={"epochs": 3})).run()
    assert refused.status == FAILED and "\n" not in refused.message
    assert refused.message.startswith(f"{out} was trained on 96 mnist train images (labels ")
    assert refused.message.endswith("the data now selected has 32 — resume with the same data, or tick “Resume on "
                                    "other data” to continue on it anyway")
    recorder = Recorder()
    resumed = TrainJob(spec(data_dir, out, limit=32, resume=True, resume_other_data=True, train={"epochs": 3}),
                       [recorder]).run()
    assert resumed.status == FINISHED and resumed.epoch == 3
    assert [(p.epoch, p.batch, p.batches) for p in recorder.batches] == [(2, 1, 2), (2, 2, 2), (3, 1, 2), (3, 2, 2)]
    history = load_checkpoint(out).history
    assert [r["epoch"] for r in history] == [1, 2, 3]
    for record in history:
        assert isinstance(record["lr"], float) and isinstance(record["beta"], float)
    assert history[1]["data_changed"]["restarted_epoch"] == 2 and history[1]["data_changed"]["now"]["count"] == 32
    assert "data_changed" not in history[2]


def test_a_change_is_recorded_even_when_its_epoch_is_cancelled_and_resumed(data_dir, tmp_path):
    out = tmp_path / "run.pt"
    assert TrainJob(spec(data_dir, out, train={"epochs": 1})).run().status == FINISHED
    cancel = threading.Event()
    stopped = TrainJob(spec(data_dir, out, limit=48, resume=True, resume_other_data=True, train={"epochs": 2}),
                       [Recorder((2, 1), cancel)], cancel).run()
    assert stopped.status == CANCELLED
    assert TrainJob(spec(data_dir, out, limit=48, resume=True, train={"epochs": 2})).run().status == FINISHED
    change = load_checkpoint(out).history[1]["data_changed"]  # the same data now: no second question, still said
    assert change["was"]["count"] == 96 and change["now"]["count"] == 48


def test_an_old_checkpoint_without_a_fingerprint_resumes_as_before(data_dir, tmp_path, capsys):
    out = tmp_path / "run.pt"
    assert cli(data_dir, out, capsys, "--epochs", 1)[0] == 0
    raw = torch.load(out, weights_only=True)
    del raw["dataset"]["fingerprint"]  # as files written before fingerprints were recorded
    torch.save(raw, out)
    assert cli(data_dir, out, capsys, "--resume", "--epochs", 2, "--limit", 48)[0] == 0  # nothing to compare by
    assert "data_changed" not in load_checkpoint(out).history[1]


def test_data_changes_names_what_differs():
    from cvae.data import data_changes

    def data(name="mnist", split="train", labels=tuple(range(10)) * 3, size=28):
        labels = torch.tensor(labels)
        return ImageDataset(name, split, torch.zeros(len(labels), 1, size, size, dtype=torch.uint8), labels,
                            [str(d) for d in range(10)], "class").describe()

    assert data_changes(data(), data()) == []
    assert data_changes(data(), data("fashion-mnist")) == ["is fashion-mnist"]
    assert data_changes(data(), data(split="test")) == ["is the test split"]
    assert data_changes(data(), data(labels=tuple(range(10)) * 2)) == ["has 20"]
    assert data_changes(data(), data(size=14)) == ["is 14×14 pixels"]
    shuffled = data(labels=tuple(reversed(range(10))) * 3)
    assert data_changes(data(), shuffled) == [f"has other labels ({shuffled['fingerprint'][:8]}…)"]
    old = {k: v for k, v in data().items() if k != "fingerprint"}
    assert data_changes(old, data(labels=tuple(range(10)))) == []  # no fingerprint: no check possible


# ----- resume with no more epochs than done -------------------------------------------------------------------

def test_resume_to_no_more_epochs_than_done_says_so(data_dir, tmp_path, capsys):
    out, log = tmp_path / "run.pt", MetricsLog.path_for(tmp_path / "run.pt")
    assert cli(data_dir, out, capsys, "--epochs", 2)[0] == 0
    before = files(out, log)
    code, err = cli(data_dir, out, capsys, "--resume", "--epochs", 2)
    assert code == 2 and err.strip().splitlines() == [
        f"cvae-train: error: {out} has already trained 2 epochs; give --epochs larger than 2 to train more"]
    job = TrainJob(spec(data_dir, out, resume=True, train={"epochs": 2})).run()
    assert job.status == FAILED and job.message == (f"{out} has already trained 2 epochs; set Epochs to more than 2 "
                                                    "to train more")
    panel = TrainJob(spec(data_dir, out, resume=True, epochs_at_least=True, train={"epochs": 1})).run()
    assert panel.status == FAILED and panel.message == job.message  # its own total is done too
    assert files(out, log) == before


def test_a_part_way_epoch_is_never_dropped_by_too_few_epochs(data_dir, tmp_path, capsys):
    out, log = tmp_path / "run.pt", MetricsLog.path_for(tmp_path / "run.pt")
    cancelled_run(data_dir, out, at=(3, 2))  # epochs 1 and 2 done, 2 batches of epoch 3
    before = files(out, log)
    trained = "2 epochs and 2 batches of epoch 3"
    for epochs, said in ((2, f"{out} has already trained {trained}"),
                         (1, f"--epochs 1 is fewer than the {trained} {out} has already trained")):
        code, err = cli(data_dir, out, capsys, "--resume", "--epochs", epochs)
        assert code == 2 and err.strip().splitlines() == [
            f"cvae-train: error: {said}; give --epochs larger than 2 to train more"]
    assert files(out, log) == before and load_checkpoint(out).training_state["partial"]["batches_done"] == 2
    # the Train panel's Epochs is a floor: below the run's own total, the run goes on to that total
    result = TrainJob(spec(data_dir, out, resume=True, epochs_at_least=True, train={"epochs": 2})).run()
    assert result.status == FINISHED and result.epoch == 3
    assert result.message == f"trained epochs 3–3 (resumed after epoch 2) into {out}"


# ----- a resumed run's progress -------------------------------------------------------------------------------

def test_a_resumed_run_counts_its_own_total_and_the_images_left(data_dir, tmp_path):
    out = tmp_path / "run.pt"
    cancelled_run(data_dir, out, at=(2, 3), epochs=4)  # 3 of epoch 2's 6 batches done
    recorder = Recorder()
    assert TrainJob(spec(data_dir, out, resume=True), [recorder]).run().status == FINISHED  # to its own 4
    shown = [(p.epoch, p.epochs, p.batch, p.batches) for p in recorder.batches]
    assert shown[0] == (2, 4, 4, 6) and shown[-1] == (4, 4, 6, 6) and len(shown) == 3 + 6 + 6
    first = recorder.batches[0]  # 16 images done in this run; left: 2 batches of epoch 2 and epochs 3 and 4
    assert first.eta / first.elapsed == pytest.approx((2 * 16 + 2 * 96) / 16)
    assert recorder.batches[-1].eta == 0
