import json
import math

import pytest
import torch

from cvae.checkpoint import load_checkpoint
from cvae.data import load_dataset
from cvae.errors import ConfigError, CvaeError
from cvae.models import AutoencoderConfig, ClassifierConfig, ConditionalVAEConfig, build_model
from tests.formats import make_mnist
from trainer import TrainConfig, Trainer, TrainingCallback, TrainingDiverged
from trainer.callbacks import MetricsLog

SMALL = dict(image_size=(28, 28), conv_channels=(4, 8), hidden_dim=32)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = make_mnist(tmp_path_factory.mktemp("mnist"), train=200, test=60)
    return load_dataset("mnist", root, "train"), load_dataset("mnist", root, "test")


def new_model(seed=0, cls=ConditionalVAEConfig, **values):
    torch.manual_seed(seed)
    return build_model(cls(**{**SMALL, **values}))


def config(**values):
    return TrainConfig(**{"epochs": 4, "batch_size": 32, "device": "cpu", "seed": 5, **values})


class Recorder(TrainingCallback):
    def __init__(self, stop_after_batches=None, cancel=None):
        self.batches, self.epochs, self.samples, self.checkpoints = [], [], [], []
        self.stop_after_batches, self.cancel = stop_after_batches, cancel

    def on_batch(self, progress):
        self.batches.append(progress)
        if self.stop_after_batches and len(self.batches) >= self.stop_after_batches:
            self.cancel.set()

    def on_epoch(self, record):
        self.epochs.append(record)

    def on_samples(self, epoch, images):
        self.samples.append((epoch, images))

    def on_checkpoint(self, path, epoch):
        self.checkpoints.append(epoch)


def test_training_reduces_held_out_loss_and_reports(digits, tmp_path):
    train, test = digits
    recorder = Recorder()
    trainer = Trainer(new_model(), train, test, config(), tmp_path / "run.pt", [recorder])
    before = trainer.evaluate(test)["test_nelbo"]
    result = trainer.run()
    assert result.status == "finished" and result.epoch == 4
    assert recorder.epochs[-1]["test_nelbo"] < before
    assert recorder.checkpoints == [1, 2, 3, 4]
    assert len(recorder.batches) == 4 * math.ceil(200 / 32)
    assert recorder.batches[-1].eta == pytest.approx(0, abs=1e-6)
    assert [e for e, _ in recorder.samples] == [1, 2, 3, 4] and recorder.samples[0][1].shape == (16, 1, 28, 28)
    saved = load_checkpoint(tmp_path / "run.pt")
    assert saved.epoch == 4 and len(saved.history) == 4
    assert saved.metrics["test_nelbo"] == recorder.epochs[-1]["test_nelbo"]
    assert saved.derived["test_encodings"].shape == (60, 2)  # the latent map's data ships with the final epoch
    assert torch.equal(saved.derived["test_labels"], test.labels)


def test_resume_continues_the_same_loss_curve(digits, tmp_path):
    train, test = digits
    straight = Trainer(new_model(), train, test, config(), tmp_path / "straight.pt").run()

    first = Trainer(new_model(), train, test, config(epochs=2), tmp_path / "split.pt").run()
    assert first.epoch == 2
    resumed = Trainer.resume(tmp_path / "split.pt", train, test, epochs=4).run()

    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]
    for a, b in zip(straight.history, resumed.history):
        assert a["train_loss"] == b["train_loss"] and a["test_nelbo"] == b["test_nelbo"]
    one = load_checkpoint(tmp_path / "straight.pt").model.state_dict()
    two = load_checkpoint(tmp_path / "split.pt").model.state_dict()
    assert all(torch.equal(one[k], two[k]) for k in one)


@pytest.mark.slow  # crash safety: a straight run, one cancelled part-way, its resume
def test_resume_after_a_cancel_mid_epoch_matches_too(digits, tmp_path):
    train, test = digits
    straight = Trainer(new_model(), train, test, config(epochs=3), tmp_path / "straight.pt").run()
    import threading
    cancel = threading.Event()
    batches_per_epoch = math.ceil(200 / 32)
    recorder = Recorder(stop_after_batches=batches_per_epoch + 3, cancel=cancel)  # part-way into epoch 2
    cancelled = Trainer(new_model(), train, test, config(epochs=3), tmp_path / "c.pt", [recorder], cancel).run()
    assert cancelled.status == "cancelled" and cancelled.epoch == 1
    assert load_checkpoint(tmp_path / "c.pt").epoch == 1
    resumed = Trainer.resume(tmp_path / "c.pt", train, test).run()
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in straight.history]


class Poison(TrainingCallback):
    """Turns the model's weights into NaN part-way through epoch 3."""

    def __init__(self, model, at_batch):
        self.model, self.at_batch, self.count = model, at_batch, 0

    def on_batch(self, progress):
        self.count += 1
        if self.count == self.at_batch:
            with torch.no_grad():
                for p in self.model.parameters():
                    p.fill_(float("nan"))


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(digits, tmp_path):
    train, test = digits
    model = new_model()
    batches = math.ceil(200 / 32)
    path = tmp_path / "run.pt"
    log = MetricsLog(MetricsLog.path_for(path))
    trainer = Trainer(model, train, test, config(epochs=5), path, [Poison(model, 2 * batches + 2), log])
    with pytest.raises(TrainingDiverged, match=r"NaN or infinite at epoch 3.*last good checkpoint \(epoch 2\)"):
        trainer.run()
    saved = load_checkpoint(path)
    assert saved.epoch == 2
    assert all(torch.isfinite(p).all() for p in saved.model.parameters())
    assert len(log.path.read_text().splitlines()) == 2


def test_metrics_log_is_rewritten_from_history_on_resume(digits, tmp_path):
    train, test = digits
    path = tmp_path / "run.pt"
    log_path = MetricsLog.path_for(path)
    Trainer(new_model(), train, test, config(epochs=2), path, [MetricsLog(log_path)]).run()
    log_path.write_text(log_path.read_text() + json.dumps({"epoch": 3, "stale": True}) + "\n")
    Trainer.resume(path, train, test, [MetricsLog(log_path)], epochs=3).run()
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3] and "stale" not in records[2]


def test_autoencoder_and_classifier_train_through_the_same_loop(digits, tmp_path):
    train, test = digits
    recorder = Recorder()
    Trainer(new_model(cls=AutoencoderConfig), train, test, config(epochs=1), tmp_path / "ae.pt", [recorder]).run()
    assert "test_rec" in recorder.epochs[0] and "test_kl" not in recorder.epochs[0]
    assert recorder.samples[0][1].shape == (16, 1, 28, 28)  # reconstructions of test images
    judge = Recorder()
    Trainer(new_model(cls=ClassifierConfig, hidden_dim=32), train, test, config(epochs=10, learning_rate=3e-3),
            tmp_path / "j.pt",
            [judge]).run()
    assert judge.epochs[-1]["test_accuracy"] > 0.5  # the fixture's classes are separable blobs
    assert judge.samples == []


def test_data_that_does_not_fit_the_model_is_refused(digits, tmp_path):
    train, test = digits
    model = new_model(image_size=(32, 32))
    with pytest.raises(ConfigError, match=r"1×28×28 but the model expects 1×32×32"):
        Trainer(model, train, test, config(), tmp_path / "x.pt")


def test_cosine_schedule_decays_the_rate(digits, tmp_path):
    train, test = digits
    result = Trainer(new_model(), train, None, config(epochs=2, lr_schedule="cosine"), tmp_path / "c.pt").run()
    assert result.history[-1]["lr"] < 0.1 * 1e-3


def test_unavailable_device_is_a_clear_error(digits, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    train, test = digits
    with pytest.raises(ConfigError, match="no usable CUDA GPU"):
        Trainer(new_model(), train, test, config(device="cuda"), tmp_path / "x.pt")


def test_running_out_of_memory_is_reported_and_keeps_the_checkpoint(digits, tmp_path, monkeypatch):
    train, test = digits
    model = new_model()
    path = tmp_path / "run.pt"
    trainer = Trainer(model, train, test, config(epochs=1), path)
    trainer.run()
    before = path.read_bytes()

    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    resumed = Trainer.resume(path, train, test, epochs=2)
    monkeypatch.setattr(resumed.model, "loss", exhausted)
    with pytest.raises(CvaeError, match=r"out of CPU memory at batch size 32; the last good checkpoint \(epoch 1\)"):
        resumed.run()
    assert path.read_bytes() == before


def test_beta_warm_up_ramps_the_kl_weight_but_reports_the_true_bound(digits, tmp_path):
    train, test = digits
    result = Trainer(new_model(), train, None, config(epochs=3, beta_warmup_epochs=2), tmp_path / "w.pt").run()
    first, second, third = result.history
    assert first["beta"] == pytest.approx(0.5, abs=1e-9) and second["beta"] == 1.0 == third["beta"]
    assert first["train_loss"] < first["train_nelbo"]  # the optimised objective weighs KL by β < 1
    assert third["train_loss"] == pytest.approx(third["train_nelbo"])


def test_weight_decay_uses_adamw_and_survives_resume(digits, tmp_path):
    train, test = digits
    trainer = Trainer(new_model(), train, None, config(epochs=1, weight_decay=0.1), tmp_path / "wd.pt")
    assert isinstance(trainer.optimizer, torch.optim.AdamW)
    assert trainer.optimizer.param_groups[0]["weight_decay"] == 0.1
    trainer.run()
    resumed = Trainer.resume(tmp_path / "wd.pt", train, None, epochs=2)
    assert isinstance(resumed.optimizer, torch.optim.AdamW) and resumed.config.weight_decay == 0.1
    assert type(Trainer(new_model(), train, None, config(), tmp_path / "a.pt").optimizer) is torch.optim.Adam


def test_warp_conditioned_training_resumes_exactly(digits, tmp_path):
    train, test = digits
    straight = Trainer(new_model(warp_probability=0.5), train, test, config(epochs=2), tmp_path / "s.pt").run()
    Trainer(new_model(warp_probability=0.5), train, test, config(epochs=1), tmp_path / "r.pt").run()
    resumed = Trainer.resume(tmp_path / "r.pt", train, test, epochs=2).run()
    assert [r["train_loss"] for r in straight.history] == [r["train_loss"] for r in resumed.history]
    assert [r["test_nelbo"] for r in straight.history] == [r["test_nelbo"] for r in resumed.history]


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@needs_cuda
def test_resume_on_a_gpu_is_exact_too(digits, tmp_path):
    """On a GPU, dropout draws from the GPU's own generator and the noise from a generator on the GPU: both are
    saved, with the mixed-precision scaler, so a run cancelled mid-epoch and resumed gives the unbroken run's
    numbers there too. A CPU run then continues on the GPU (a CPU generator state does not fit a GPU generator:
    that one is derived afresh)."""
    deterministic, benchmark = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        train, test = digits

        def model():
            return new_model(warp_probability=0.5, decoder_dropout=0.2)

        straight = Trainer(model(), train, test, config(epochs=3, device="cuda"), tmp_path / "s.pt").run()
        calls = [0]

        def cancel_in_epoch_2():
            calls[0] += 1
            return calls[0] > math.ceil(200 / 32) + 3  # checked before each batch: 3 batches into epoch 2

        cancelled = Trainer(model(), train, test, config(epochs=3, device="cuda"), tmp_path / "c.pt", (),
                            cancel_in_epoch_2).run()
        assert cancelled.status == "cancelled" and cancelled.partial == (3, math.ceil(200 / 32))
        state = load_checkpoint(tmp_path / "c.pt").training_state
        assert state["noise_device"] == "cuda" and state["cuda_rng"] is not None and state["scaler"]
        resumed = Trainer.resume(tmp_path / "c.pt", train, test).run()
        assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in straight.history]
        assert [r["test_nelbo"] for r in resumed.history] == [r["test_nelbo"] for r in straight.history]
        one = load_checkpoint(tmp_path / "s.pt").model.state_dict()
        two = load_checkpoint(tmp_path / "c.pt").model.state_dict()
        assert all(torch.equal(one[k], two[k]) for k in one)

        Trainer(model(), train, test, config(epochs=1), tmp_path / "cpu.pt").run()
        on_gpu = Trainer.resume(tmp_path / "cpu.pt", train, test, epochs=2, device="cuda")
        assert on_gpu.device.type == "cuda"
        assert on_gpu.run().status == "finished" and load_checkpoint(tmp_path / "cpu.pt").epoch == 2
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = deterministic, benchmark
