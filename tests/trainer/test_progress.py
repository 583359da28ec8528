import io

from trainer.callbacks import BatchProgress
from trainer.progress import ProgressBar, format_seconds, render_bar


class Terminal(io.StringIO):
    def isatty(self):
        return True


def progress(batch, eta=75.0):
    return BatchProgress(epoch=2, epochs=5, batch=batch, batches=200, loss=131.25, images_per_second=1089.4,
                         elapsed=30.0, eta=eta)


def test_bar_shows_progress_rate_and_eta():
    line = render_bar(progress(100))
    assert line.startswith("epoch 2/5 [" + "#" * 12 + "." * 12 + "] 100/200")
    assert "loss   131.25" in line and "1089 img/s" in line and "ETA 1:15" in line
    assert format_seconds(3725) == "1:02:05"


def test_terminal_gets_a_bar_redrawn_in_place_and_a_line_per_epoch():
    out = Terminal()
    bar = ProgressBar(out, interval=0)
    bar.on_batch(progress(1))
    bar.on_batch(progress(200, eta=60))
    bar.on_epoch({"epoch": 2, "train_loss": 131.0, "test_nelbo": 133.5, "images_per_second": 1090.0})
    text = out.getvalue()
    assert text.count("\r") >= 2 and "200/200" in text
    assert text.rstrip().endswith("epoch 2  train_loss 131.00  test_nelbo 133.50  1090 img/s  ETA 1:00")


def test_logs_get_only_the_epoch_lines():
    out = io.StringIO()
    bar = ProgressBar(out)
    bar.on_batch(progress(1))
    bar.on_epoch({"epoch": 2, "train_loss": 131.0, "images_per_second": 1090.0})
    assert out.getvalue() == "epoch 2  train_loss 131.00  1090 img/s  ETA 1:15\n"


class Clock:
    """Stands in for time.monotonic, so intervals can be tested without waiting."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_logs_get_a_plain_progress_line_every_interval(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("trainer.progress.time.monotonic", clock)
    out = io.StringIO()
    bar = ProgressBar(out, log_interval=10)
    for seconds, batch in ((4, 20), (11, 40), (15, 60), (22, 80)):
        clock.now = 1000.0 + seconds
        bar.on_batch(progress(batch))
    assert out.getvalue().splitlines() == [
        "epoch 2/5  batch 40/200  loss 131.25  1089 img/s  ETA 1:15",
        "epoch 2/5  batch 80/200  loss 131.25  1089 img/s  ETA 1:15",
    ]


def test_a_log_in_a_real_run_hears_every_phase(tmp_path):
    from cvae.data import load_dataset
    from cvae.models import ConditionalVAEConfig, build_model
    from tests.formats import make_mnist
    from trainer import TrainConfig, Trainer

    data = make_mnist(tmp_path / "data", train=64, test=24)
    out = io.StringIO()
    model = build_model(ConditionalVAEConfig(conv_channels=(4, 8), hidden_dim=16))
    Trainer(model, load_dataset("mnist", data), load_dataset("mnist", data, "test"),
            TrainConfig(epochs=2, batch_size=32, device="cpu"), tmp_path / "run.pt",
            [ProgressBar(out, log_interval=0)]).run()
    lines = out.getvalue().splitlines()
    # what each line is about: its text before the numbers (the batch lines and epoch lines carry figures)
    heads = [line.split("  loss")[0] if "  batch " in line else line.split("  train_loss")[0] for line in lines]
    assert heads == [
        "epoch 1/2  batch 1/2", "epoch 1/2  batch 2/2",
        "epoch 1/2 evaluating on 24 test images ...", "epoch 1/2 saving checkpoint ...", "epoch 1",
        "epoch 2/2  batch 1/2", "epoch 2/2  batch 2/2",
        "epoch 2/2 evaluating on 24 test images ...",
        "epoch 2/2 encoding the 24 test images for the latent map ...", "epoch 2/2 saving checkpoint ...", "epoch 2"]
    assert all(" img/s  ETA " in line for line in lines if "  batch " in line)


def test_terminal_shows_evaluating_and_saving_in_place_of_the_finished_bar():
    out = Terminal()
    bar = ProgressBar(out, interval=0)
    bar.on_batch(progress(200, eta=0))
    bar.on_phase("evaluating", 10000)
    assert out.getvalue().endswith("\repoch 2/5 evaluating on 10000 test images ...\033[K")
    bar.on_phase("saving")
    assert out.getvalue().endswith("\repoch 2/5 saving checkpoint ...\033[K")
    bar.on_epoch({"epoch": 2, "train_loss": 131.0, "images_per_second": 1090.0})
    assert out.getvalue().endswith("\r\033[Kepoch 2  train_loss 131.00  1090 img/s  ETA 0:00\n")


def test_a_bar_cut_short_is_ended_before_anything_else_is_printed():
    out = Terminal()
    bar = ProgressBar(out, interval=0)
    bar.on_batch(progress(37))
    bar.on_end(None)  # cancelled mid-epoch: the CLI's "cancelled" line must not land after the bar
    assert out.getvalue().endswith("ETA 1:15\033[K\n")
    bar.close()
    assert out.getvalue().count("\n") == 1
