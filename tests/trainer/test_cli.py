import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cvae.checkpoint import load_checkpoint
from cvae.latent import sample_prior
from tests.formats import make_celeba_hq, make_mnist
from trainer.callbacks import MetricsLog
from trainer.cli import main

TINY = ["--conv-channels", "4,8", "--hidden-dim", "16", "--batch-size", "32", "--device", "cpu", "--quiet"]


@pytest.fixture
def mnist_dir(tmp_path):
    return make_mnist(tmp_path / "data", train=96, test=40)


def run_cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.err


def assert_one_clear_line(err, *fragments):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cvae-train: error:") and "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def test_trains_writes_checkpoint_and_metrics_and_resumes(mnist_dir, tmp_path, capsys):
    out = tmp_path / "runs" / "digits.pt"
    code, _ = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--epochs", "1", "--output", str(out),
                       *TINY], capsys)
    assert code == 0
    checkpoint = load_checkpoint(out)
    assert checkpoint.family == "cvae" and checkpoint.epoch == 1 and checkpoint.model.latent_dim == 2
    images, _ = sample_prior(checkpoint.model, 4, labels=[3], seed=0)
    assert images.shape == (4, 1, 28, 28)
    log = out.with_name("digits.metrics.jsonl").read_text().splitlines()
    assert json.loads(log[0])["epoch"] == 1 and "test_nelbo" in json.loads(log[0])

    code, _ = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--epochs", "2", "--output", str(out),
                       "--resume", *TINY], capsys)
    assert code == 0 and load_checkpoint(out).epoch == 2
    assert len(out.with_name("digits.metrics.jsonl").read_text().splitlines()) == 2


def test_data_dir_from_the_environment(mnist_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CVAE_DATA_DIR", str(mnist_dir))
    code, _ = run_cli(["--dataset", "mnist", "--model", "vae", "--latent-dim", "3", "--epochs", "1",
                       "--output", str(tmp_path / "v.pt"), *TINY], capsys)
    assert code == 0 and load_checkpoint(tmp_path / "v.pt").model.latent_dim == 3


def test_missing_data_folder(tmp_path, capsys):
    code, err = run_cli(["--dataset", "mnist", "--data-dir", str(tmp_path / "nope"), "--output",
                         str(tmp_path / "x.pt")], capsys)
    assert code == 2
    assert_one_clear_line(err, "nope", "does not exist")
    assert not (tmp_path / "x.pt").exists()


def test_wrong_layout(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, err = run_cli(["--dataset", "mnist", "--data-dir", str(tmp_path / "empty"), "--output",
                         str(tmp_path / "x.pt")], capsys)
    assert code == 2
    assert_one_clear_line(err, "train-images-idx3-ubyte", "expected torchvision's layout")


def test_unknown_model(mnist_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--model", "gan", "--output", str(tmp_path / "x.pt")])
    assert exit_info.value.code == 2
    assert_one_clear_line(capsys.readouterr().err, "invalid choice: 'gan'")


def test_wrong_model_for_the_labels(mnist_dir, tmp_path, capsys):
    code, err = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--model", "beta-cvae",
                         "--output", str(tmp_path / "x.pt")], capsys)
    assert code == 2
    assert_one_clear_line(err, "beta-cvae needs attribute labels")


def test_unreadable_image(tmp_path, capsys):
    faces = make_celeba_hq(tmp_path / "faces", count=10, size=16)
    (faces / "images" / "4.jpg").write_bytes(b"\x00garbage")
    code, err = run_cli(["--dataset", "celeba", "--data-dir", str(faces), "--image-size", "16",
                         "--output", str(tmp_path / "x.pt")], capsys)
    assert code == 2
    assert_one_clear_line(err, "cannot decode image", "4.jpg")


def test_attribute_rows_without_41_fields(tmp_path, capsys):
    faces = make_celeba_hq(tmp_path / "faces", count=10, size=16)
    path = faces / "CelebAMask-HQ-attribute-anno.txt"
    lines = path.read_text().splitlines()
    lines[5] += " 1"
    path.write_text("\n".join(lines) + "\n")
    code, err = run_cli(["--dataset", "celeba", "--data-dir", str(faces), "--output", str(tmp_path / "x.pt")],
                        capsys)
    assert code == 2
    assert_one_clear_line(err, "line 6", "42 fields; expected 41")


def test_existing_output_is_never_overwritten_by_accident(mnist_dir, tmp_path, capsys):
    out = tmp_path / "keep.pt"
    out.write_bytes(b"precious")
    code, err = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--output", str(out), *TINY], capsys)
    assert code == 2
    assert_one_clear_line(err, "already exists", "--resume", "--overwrite")
    assert out.read_bytes() == b"precious"


def test_resume_from_a_file_that_is_not_a_checkpoint(mnist_dir, tmp_path, capsys):
    out = tmp_path / "keep.pt"
    out.write_bytes(b"precious")
    code, err = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--output", str(out), "--resume",
                         *TINY], capsys)
    assert code == 2
    assert_one_clear_line(err, "not a cVAE Explorer checkpoint")
    assert out.read_bytes() == b"precious"


@pytest.mark.slow  # a fresh process: importing torch takes seconds
def test_console_script_reports_without_traceback(tmp_path):
    env = {**os.environ, "CVAE_DATA_DIR": str(tmp_path / "missing")}
    result = subprocess.run([sys.executable, "-m", "trainer.cli", "--dataset", "mnist", "--output",
                             str(tmp_path / "x.pt")], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"cvae-train: error: data folder {tmp_path / 'missing'} does not exist or is not a folder"]


def test_resume_without_epochs_finishes_the_interrupted_run(mnist_dir, tmp_path, capsys):
    import threading

    from cvae.data import load_dataset
    from cvae.models import ConditionalVAEConfig, build_model
    from trainer import TrainConfig, Trainer, TrainingCallback

    class StopAfterFirstEpoch(TrainingCallback):
        def __init__(self, flag):
            self.flag = flag

        def on_epoch(self, record):
            self.flag.set()

    out, cancel = tmp_path / "run.pt", threading.Event()
    model = build_model(ConditionalVAEConfig(conv_channels=(4, 8), hidden_dim=16))
    Trainer(model, load_dataset("mnist", mnist_dir), load_dataset("mnist", mnist_dir, "test"),
            TrainConfig(epochs=3, batch_size=32, device="cpu"), out, [StopAfterFirstEpoch(cancel)], cancel).run()
    assert load_checkpoint(out).epoch == 1
    code, _ = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--output", str(out), "--resume",
                       "--quiet"], capsys)
    assert code == 0
    assert load_checkpoint(out).epoch == 3  # the run's own total, not the default of 10


def test_regularisation_options_reach_the_saved_configurations(mnist_dir, tmp_path, capsys):
    out = tmp_path / "regular.pt"
    code, _ = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--epochs", "1", "--output", str(out),
                       "--warp", "0.5", "--decoder-dropout", "0.1", "--label-every-layer", *TINY],
                      capsys)
    assert code == 0
    checkpoint = load_checkpoint(out)
    config = checkpoint.model.config
    assert config.warp_probability == 0.5 and config.decoder_dropout == 0.1 and config.label_every_layer
    code, err = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--output", str(tmp_path / "bad.pt"),
                         "--warp", "2", *TINY], capsys)
    assert code == 2
    assert_one_clear_line(err, "--warp must be in [0, 1], got 2")


# ----- numbers that make no sense are refused before any data is loaded -----

@pytest.fixture
def no_data_loading(monkeypatch):
    """Fails the test if the CLI starts loading data (option checks must come first)."""
    def refuse(*args, **kwargs):
        raise AssertionError("data was loaded before the options were checked")
    monkeypatch.setattr("trainer.runs.load_dataset", refuse)


@pytest.mark.parametrize("option, value, expected", [
    ("--epochs", "0", "at least 1, got 0"),
    ("--epochs", "-1", "at least 1, got -1"),
    ("--batch-size", "0", "at least 1, got 0"),
    ("--lr", "0", "positive number, got 0"),
    ("--lr", "nan", "finite number, got nan"),
    ("--limit", "0", "at least 1, got 0"),
    ("--limit", "-5", "at least 1, got -5"),
    ("--test-limit", "0", "at least 1, got 0"),
    ("--image-size", "0", "at least 4, got 0"),
    ("--beta", "nan", "finite"),
    ("--weight-decay", "-1", "zero or positive, got -1"),
])
def test_bad_numbers_are_refused_before_any_data_is_loaded(option, value, expected, mnist_dir, tmp_path, capsys,
                                                           no_data_loading):
    out = tmp_path / "runs" / "x.pt"
    args = ["--dataset", "mnist", "--data-dir", str(mnist_dir), "--output", str(out), *TINY]
    code, err = run_cli([*args, option, value], capsys)  # given last, so it wins over TINY's --batch-size
    assert code == 2
    assert_one_clear_line(err, option, expected)
    assert not (tmp_path / "runs").exists()


def test_resume_refuses_zero_or_fewer_epochs_than_done(mnist_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run.pt"
    code, _ = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--epochs", "2", "--output", str(out),
                       *TINY], capsys)
    assert code == 0
    before = out.read_bytes(), MetricsLog.path_for(out).read_bytes()
    monkeypatch.setattr("trainer.runs.load_dataset", lambda *a, **k: pytest.fail("data loaded before the check"))
    for epochs, expected in (("0", "--epochs must be at least 1, got 0"),
                             ("1", "--epochs 1 is fewer than the 2 epochs")):
        code, err = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--output", str(out), "--resume",
                             "--epochs", epochs, *TINY], capsys)
        assert code == 2
        assert_one_clear_line(err, expected)
        assert (out.read_bytes(), MetricsLog.path_for(out).read_bytes()) == before


# ----- the output location is checked before anything is loaded or trained -----

def unwritable_folder(tmp_path):
    """A folder that refuses new files even to root, or None: chmod where it is enforced, else /sys or /proc."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    candidates = [locked, Path("/sys"), Path("/proc")]
    for folder in candidates:
        try:
            (folder / ".cvae-probe").touch()
        except OSError:
            return folder
        (folder / ".cvae-probe").unlink()
    return None


def test_output_in_a_folder_that_cannot_be_written(mnist_dir, tmp_path, capsys, no_data_loading):
    try:
        folder = unwritable_folder(tmp_path)
        if folder is None:
            pytest.skip("no folder here refuses writes (root ignores chmod, and /sys and /proc accept files)")
        code, err = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--output",
                             str(folder / "out.pt"), *TINY], capsys)
        assert code == 2
        assert_one_clear_line(err, str(folder / "out.pt"), f"cannot create files in {folder}", "writable folder")
        assert not (folder / "out.pt").exists() and not (folder / "out.metrics.jsonl").exists()
    finally:
        (tmp_path / "locked").chmod(0o700)


@pytest.mark.parametrize("overwrite", [False, True])
def test_output_that_is_a_folder(mnist_dir, tmp_path, capsys, no_data_loading, overwrite):
    folder = tmp_path / "run.pt"
    folder.mkdir()
    (folder / "inside.txt").write_text("keep")
    code, err = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--output", str(folder), *TINY,
                         *(["--overwrite"] if overwrite else [])], capsys)
    assert code == 2
    assert_one_clear_line(err, str(folder), "is a folder", "checkpoint file path")
    assert [p.name for p in folder.iterdir()] == ["inside.txt"]


@pytest.mark.parametrize("where", ["under-a-file", "under-proc"])
def test_output_whose_folder_cannot_be_created(mnist_dir, tmp_path, capsys, no_data_loading, where):
    if where == "under-a-file":
        (tmp_path / "notes.txt").write_text("a file, not a folder")
        out, expected = tmp_path / "notes.txt" / "runs" / "x.pt", f"{tmp_path / 'notes.txt'} is a file, not a folder"
    else:
        if not Path("/proc/self").exists():
            pytest.skip("no /proc on this system")
        out, expected = Path("/proc/cvae-nowhere/x.pt"), "cannot create files in /proc"
    code, err = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--output", str(out), *TINY], capsys)
    assert code == 2
    assert_one_clear_line(err, str(out), expected)
    if where == "under-a-file":
        assert (tmp_path / "notes.txt").read_text() == "a file, not a folder"


def test_no_room_for_a_checkpoint(mnist_dir, tmp_path, capsys, monkeypatch, no_data_loading):
    import shutil

    real = shutil.disk_usage
    monkeypatch.setattr("shutil.disk_usage", lambda path: real(path)._replace(free=300_000))
    out = tmp_path / "runs" / "x.pt"
    code, err = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--output", str(out), *TINY], capsys)
    assert code == 2
    assert_one_clear_line(err, str(out), "0.3 MB free", "needs at least")
    assert not (tmp_path / "runs").exists()


def test_no_room_for_a_large_model_is_found_before_training(mnist_dir, tmp_path, capsys, monkeypatch):
    import shutil

    real = shutil.disk_usage
    monkeypatch.setattr("shutil.disk_usage", lambda path: real(path)._replace(free=20_000_000))
    out = tmp_path / "x.pt"  # ~1.6 M parameters: weights and Adam's two moments need ~26 MB
    code, err = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--output", str(out), *TINY,
                         "--hidden-dim", "4096"], capsys)
    assert code == 2
    assert_one_clear_line(err, str(out), "20.0 MB free", "needs about")
    assert list(tmp_path.iterdir()) == [tmp_path / "data"]


def test_metrics_log_that_cannot_be_written_mid_run_ends_in_one_line(mnist_dir, tmp_path, capsys, monkeypatch):
    class LogBecomesAFolder(MetricsLog):
        def on_epoch(self, record):
            super().on_epoch(record)
            if record["epoch"] == 1:
                self.path.unlink()
                self.path.mkdir()

    monkeypatch.setattr("trainer.cli.MetricsLog", LogBecomesAFolder)
    out = tmp_path / "run.pt"
    code, err = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--epochs", "3", "--output", str(out),
                         *TINY], capsys)
    assert code == 2
    assert_one_clear_line(err, f"cannot write {MetricsLog.path_for(out)}", "last good checkpoint (epoch 2)")
    assert load_checkpoint(out).epoch == 2


def test_disk_full_while_saving_keeps_the_last_good_checkpoint(mnist_dir, tmp_path, capsys, monkeypatch):
    import errno

    import trainer.loop

    real, calls = trainer.loop.save_checkpoint, []

    def fills_the_disk_the_second_time(checkpoint, path, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(checkpoint, path, **kwargs)

    monkeypatch.setattr("trainer.loop.save_checkpoint", fills_the_disk_the_second_time)
    out = tmp_path / "run.pt"
    code, err = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--epochs", "3", "--output", str(out),
                         *TINY], capsys)
    assert code == 2
    assert_one_clear_line(err, f"cannot write {out}", os.strerror(errno.ENOSPC), "last good checkpoint (epoch 1)")
    assert load_checkpoint(out).epoch == 1
    assert len(MetricsLog.path_for(out).read_text().splitlines()) == 1


# ----- exit codes 3, 130 and 143, and --overwrite -----

@pytest.mark.parametrize("lr", ["1e20", "1e38"])  # NaN loss at batch 2; an Adam step beyond float32's range
def test_diverging_loss_exits_3_and_leaves_the_earlier_run(mnist_dir, tmp_path, capsys, lr):
    out = tmp_path / "run.pt"
    args = ["--dataset", "mnist", "--data-dir", str(mnist_dir), "--output", str(out), *TINY]
    assert run_cli([*args, "--epochs", "1"], capsys)[0] == 0
    before = out.read_bytes(), MetricsLog.path_for(out).read_bytes()
    code, err = run_cli([*args, "--epochs", "2", "--overwrite", "--lr", lr], capsys)
    assert code == 3
    assert_one_clear_line(err, "training diverged", "epoch 1", "no checkpoint was written", "lower learning rate")
    assert (out.read_bytes(), MetricsLog.path_for(out).read_bytes()) == before


class InterruptAt(MetricsLog):
    """Delivers a real signal (SIGINT, as Ctrl-C in the terminal would) to this process at (epoch, batch)."""
    at = (2, 1)
    signum = signal.SIGINT

    def on_batch(self, progress):
        if (progress.epoch, progress.batch) == self.at:
            signal.raise_signal(self.signum)


@pytest.mark.slow  # crash safety: three runs, one stopped by a signal
@pytest.mark.parametrize("signum, expected_code, what", [(signal.SIGINT, 130, "cancelled"),
                                                         (signal.SIGTERM, 143, "stopped by SIGTERM")])
def test_a_stop_signal_finishes_the_batch_saves_and_resume_matches_an_unbroken_run(
        mnist_dir, tmp_path, capsys, monkeypatch, signum, expected_code, what):
    args = ["--dataset", "mnist", "--data-dir", str(mnist_dir), "--epochs", "3", *TINY]
    assert run_cli([*args, "--output", str(tmp_path / "straight.pt")], capsys)[0] == 0
    monkeypatch.setattr(InterruptAt, "signum", signum)
    monkeypatch.setattr("trainer.cli.MetricsLog", InterruptAt)
    out, handlers = tmp_path / "run.pt", [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
    code, err = run_cli([*args, "--output", str(out)], capsys)
    assert code == expected_code
    assert err.strip().splitlines() == [f"cvae-train: {what} after batch 1/3 of epoch 2; saved in {out}; "
                                        "continue with --resume"]
    saved = load_checkpoint(out)
    assert saved.epoch == 1 and saved.training_state["partial"]["batches_done"] == 1  # epoch 2's first batch kept
    assert len(MetricsLog.path_for(out).read_text().splitlines()) == 1
    assert [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)] == handlers  # Ctrl-C works as before
    monkeypatch.setattr("trainer.cli.MetricsLog", MetricsLog)
    assert run_cli([*args, "--output", str(out), "--resume"], capsys)[0] == 0
    straight, resumed = load_checkpoint(tmp_path / "straight.pt"), load_checkpoint(out)
    assert resumed.epoch == 3 and "partial" not in resumed.training_state
    for key in ("train_loss", "test_nelbo"):  # the same numbers as a run that was never stopped
        assert [r[key] for r in resumed.history] == [r[key] for r in straight.history]
    weights = straight.model.state_dict()
    assert all(torch.equal(weights[k], v) for k, v in resumed.model.state_dict().items())
    assert [json.loads(line)["epoch"] for line in MetricsLog.path_for(out).read_text().splitlines()] == [1, 2, 3]


def test_ctrl_c_at_an_epoch_boundary_keeps_that_epoch(mnist_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(InterruptAt, "at", (1, 3))  # the last batch of epoch 1: the epoch ends and is saved
    monkeypatch.setattr("trainer.cli.MetricsLog", InterruptAt)
    out = tmp_path / "run.pt"
    code, err = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--epochs", "3", "--output", str(out),
                         *TINY], capsys)
    assert code == 130
    assert err.strip().splitlines() == [f"cvae-train: cancelled; epoch 1 is saved in {out}; continue with --resume"]
    assert load_checkpoint(out).epoch == 1 and "partial" not in load_checkpoint(out).training_state


def test_ctrl_c_in_the_first_epoch_of_a_new_run_saves_what_it_did(mnist_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(InterruptAt, "at", (1, 2))
    monkeypatch.setattr("trainer.cli.MetricsLog", InterruptAt)
    out = tmp_path / "run.pt"
    args = ["--dataset", "mnist", "--data-dir", str(mnist_dir), "--epochs", "2", "--output", str(out), *TINY]
    code, err = run_cli(args, capsys)
    assert code == 130
    assert err.strip().splitlines() == [f"cvae-train: cancelled after batch 2/3 of epoch 1; saved in {out}; "
                                        "continue with --resume"]
    assert load_checkpoint(out).epoch == 0 and not MetricsLog.path_for(out).exists()
    monkeypatch.setattr("trainer.cli.MetricsLog", MetricsLog)
    assert run_cli([*args, "--resume"], capsys)[0] == 0
    assert load_checkpoint(out).epoch == 2 and len(MetricsLog.path_for(out).read_text().splitlines()) == 2


def test_ctrl_c_in_the_first_epoch_of_an_overwrite_leaves_the_old_run(mnist_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run.pt"
    args = ["--dataset", "mnist", "--data-dir", str(mnist_dir), "--output", str(out), *TINY]
    assert run_cli([*args, "--epochs", "1"], capsys)[0] == 0
    before = out.read_bytes(), MetricsLog.path_for(out).read_bytes()
    monkeypatch.setattr(InterruptAt, "at", (1, 2))
    monkeypatch.setattr("trainer.cli.MetricsLog", InterruptAt)
    code, err = run_cli([*args, "--epochs", "2", "--overwrite"], capsys)
    assert code == 130
    assert err.strip().splitlines() == [f"cvae-train: cancelled before the first epoch finished; {out} was not "
                                        "touched"]
    assert (out.read_bytes(), MetricsLog.path_for(out).read_bytes()) == before


def test_overwrite_replaces_an_existing_run_and_its_absence_refuses(mnist_dir, tmp_path, capsys):
    out = tmp_path / "run.pt"
    args = ["--dataset", "mnist", "--data-dir", str(mnist_dir), "--output", str(out), *TINY]
    assert run_cli([*args, "--epochs", "2"], capsys)[0] == 0
    before = out.read_bytes(), MetricsLog.path_for(out).read_bytes()
    code, err = run_cli([*args, "--epochs", "1", "--model", "vae", "--latent-dim", "3"], capsys)
    assert code == 2
    assert_one_clear_line(err, f"{out} already exists", "--overwrite")
    assert (out.read_bytes(), MetricsLog.path_for(out).read_bytes()) == before
    code, _ = run_cli([*args, "--epochs", "1", "--model", "vae", "--latent-dim", "3", "--overwrite"], capsys)
    assert code == 0
    replaced = load_checkpoint(out)
    assert replaced.family == "vae" and replaced.epoch == 1 and len(replaced.history) == 1
    assert [json.loads(line)["epoch"] for line in MetricsLog.path_for(out).read_text().splitlines()] == [1]


def test_evaluate_at_end_measures_the_finished_checkpoint(mnist_dir, tmp_path, capsys):
    out = tmp_path / "evaluated.pt"
    code, err = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--epochs", "1", "--output", str(out),
                         *TINY, "--evaluate-at-end", "loss"], capsys)
    assert code == 0, err
    from trainer.evaluation import report_path
    assert load_checkpoint(out).metrics["test_nelbo"] > 0 and report_path(out).is_file()
    code, err = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--epochs", "1", "--output",
                         str(tmp_path / "two.pt"), *TINY, "--evaluate-at-end", "nonsense"], capsys)
    assert code == 2 and "nonsense" in err and not (tmp_path / "two.pt").exists()  # refused before training
    code, err = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--epochs", "1", "--output",
                         str(tmp_path / "three.pt"), *TINY, "--evaluate-at-end", "fid"], capsys)
    assert code == 2 and "three.pt is saved" in err and "pt_inception" in err  # no weights here
    assert load_checkpoint(tmp_path / "three.pt").epoch == 1
