"""scripts/build_bundled_models.py on tiny data: a build resumes or reuses its runs, refuses a run made with another
recipe, and records each model's training time (the figure the README and the model card quote)."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from cvae.data import ImageDataset
from cvae.models import ConditionalVAEConfig, build_model
from trainer import TrainConfig, Trainer
from trainer.callbacks import TrainingCallback

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("build_bundled_models", ROOT / "scripts" / "build_bundled_models.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look their module up there
    spec.loader.exec_module(sys.modules[spec.name])
    return sys.modules[spec.name]


def tiny_set(split: str, count: int) -> ImageDataset:
    generator = torch.Generator().manual_seed(len(split))
    images = torch.randint(0, 256, (count, 1, 28, 28), generator=generator, dtype=torch.uint8)
    return ImageDataset("mnist", split, images, torch.arange(count) % 10, [str(d) for d in range(10)], "class")


def tiny_recipe(build, epochs: int, hidden: int = 16):
    return build.Recipe("tiny.pt", ConditionalVAEConfig(conv_channels=(4, 8), hidden_dim=hidden),
                        TrainConfig(epochs=epochs, batch_size=10, seed=5, device="cpu", sample_count=0))


class InterruptAfterFirstEpoch(TrainingCallback):
    def on_checkpoint(self, path, epoch) -> None:
        raise KeyboardInterrupt  # as if the build were stopped once epoch 1 was saved


def test_a_build_resumes_reuses_and_times_its_runs(build, tmp_path, capsys):
    train, test = tiny_set("train", 40), tiny_set("test", 20)
    recipe = tiny_recipe(build, 2)
    interrupted = Trainer(build_model(recipe.config), train, test, recipe.train, tmp_path / recipe.name,
                          [InterruptAfterFirstEpoch()])
    with pytest.raises(KeyboardInterrupt):
        interrupted.run()
    # the build continues the interrupted run (one more epoch, not two) and counts both epochs' time
    done = build.train_recipe("cvae", recipe, train, test, tmp_path)
    assert done.epoch == 2 and len(done.history) == 2
    assert done.metrics["train_seconds"] >= round(done.history[0]["seconds"])
    again = build.train_recipe("cvae", recipe, train, test, tmp_path)
    assert "already trained (2 epochs)" in capsys.readouterr().err
    assert again.metrics["train_seconds"] == round(sum(epoch["seconds"] for epoch in done.history))
    assert all(torch.equal(a, b) for a, b in zip(again.model.parameters(), done.model.parameters()))
    with pytest.raises(SystemExit, match="trained with another recipe than cvae's; delete it to retrain"):
        build.train_recipe("cvae", tiny_recipe(build, 2, hidden=32), train, test, tmp_path)
