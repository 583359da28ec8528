import json
import os
import subprocess
import sys

import pytest

from cvae.checkpoint import load_checkpoint
from cvae.latent import sample_prior
from tests.formats import make_celeba_hq, make_mnist
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
                       "--warp", "0.5", "--decoder-dropout", "0.1", "--ema", "0.99", "--label-every-layer", *TINY],
                      capsys)
    assert code == 0
    checkpoint = load_checkpoint(out)
    config = checkpoint.model.config
    assert config.warp_probability == 0.5 and config.decoder_dropout == 0.1 and config.label_every_layer
    assert checkpoint.train_config["ema_decay"] == 0.99 and "live_weights" in checkpoint.training_state
    code, err = run_cli(["--dataset", "mnist", "--data-dir", str(mnist_dir), "--output", str(tmp_path / "bad.pt"),
                         "--warp", "2", *TINY], capsys)
    assert code == 2
    assert_one_clear_line(err, "warp_probability")
