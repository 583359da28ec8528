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
