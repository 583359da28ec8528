"""Training in several processes (DistributedDataParallel over Gloo on this CPU): the same numbers as one process
on the same global batch, every stop agreed by all processes, resume across process counts, and `cvae-train`
under a real `torchrun`.

Starting Python processes costs seconds here (importing torch), so one spawn of two processes plays several
scenarios in turn, each writing what it saw into a JSON file that the test reads afterwards.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cvae.checkpoint import load_checkpoint
from cvae.data import load_dataset
from cvae.errors import ConfigError, ResourceError, TrainingDiverged
from cvae.models import AutoencoderConfig, ConditionalVAEConfig, build_model
from tests.formats import make_mnist
from trainer import TrainConfig, Trainer
from trainer.callbacks import MetricsLog
from trainer.distributed import World, check_batch_size, training_device

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                 reason="this PyTorch build has no torch.distributed with Gloo")]

SMALL = dict(image_size=(28, 28), conv_channels=(4, 8), hidden_dim=32)
TRAIN, TEST, BATCH = 64, 16, 16  # 4 global batches per epoch, 8 images per process and step


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def autoencoder():
    torch.manual_seed(0)
    return build_model(AutoencoderConfig(**SMALL, latent_dim=4))


def noisy_cvae():
    """Sampling noise, warps and dropout: every per-process generator matters."""
    torch.manual_seed(0)
    return build_model(ConditionalVAEConfig(**SMALL, warp_probability=0.5, decoder_dropout=0.2))


def config(**values) -> TrainConfig:
    return TrainConfig(**{"epochs": 2, "batch_size": BATCH, "device": "cpu", "seed": 3, "sample_count": 0, **values})


def data(folder: Path):
    return load_dataset("mnist", folder / "data", "train"), load_dataset("mnist", folder / "data", "test")


# ----- what each of the two processes does -----

def fail_on_call(model, call: int, error):
    """Make the model's loss raise `error` (or return NaN when error is None) at its `call`-th training call."""
    real, count = model.loss, [0]

    def loss(*args, **kwargs):
        count[0] += 1
        terms = real(*args, **kwargs)
        if count[0] == call:
            if error is not None:
                raise error
            terms = dict(terms, loss=terms["loss"] * float("nan"))
        return terms

    model.loss = loss


def play(rank: int, world: int, port: int, folder: str) -> None:
    folder = Path(folder)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)  # forked: no OpenMP pool inherited from the parent is ever used
    dist.init_process_group("gloo", rank=rank, world_size=world)
    seen: dict[str, object] = {}
    train, test = data(folder)
    try:
        # 1. a deterministic model: the two-process run must match the one-process run
        Trainer(autoencoder(), train, test, config(), folder / "ae-2.pt").run()

        # 2. noise, warps and dropout: uninterrupted, then cancelled on process 1 alone and resumed
        straight = Trainer(noisy_cvae(), train, test, config(), folder / "cvae-straight.pt").run()
        calls = [0]

        def cancel_on_process_1():
            calls[0] += 1
            return rank == 1 and calls[0] >= 6  # process 1 only, during epoch 2's second batch

        stopped = Trainer(noisy_cvae(), train, test, config(), folder / "cvae-split.pt", (), cancel_on_process_1).run()
        seen["cancel"] = [stopped.status, stopped.epoch, stopped.partial, stopped.cancelled_by]
        if rank == 0:  # kept for the one-process resume in the test
            (folder / "cvae-partial.pt").write_bytes((folder / "cvae-split.pt").read_bytes())
        dist.barrier()
        resumed = Trainer.resume(folder / "cvae-split.pt", train, test).run()
        seen["straight"] = [r["train_loss"] for r in straight.history]
        seen["resumed"] = [r["train_loss"] for r in resumed.history]

        # 3. a NaN loss and an out-of-memory error on process 1 alone stop both processes
        for name, error in (("nan", None), ("oom", torch.OutOfMemoryError("CUDA out of memory (simulated)"))):
            model = noisy_cvae()
            if rank == 1:
                fail_on_call(model, 6, error)
            try:
                Trainer(model, train, test, config(), folder / f"{name}.pt").run()
                seen[name] = ["finished"]
            except (TrainingDiverged, ResourceError) as exc:
                seen[name] = [type(exc).__name__, str(exc), getattr(exc, "reported_by_another_process", None)]

        # 4. a one-process checkpoint continued by two processes
        resumed = Trainer.resume(folder / "one-process.pt", train, test, epochs=2).run()
        seen["one-to-two"] = [resumed.status, resumed.epoch]

        # 5. an objective term with its own network and optimizer (the class reader) trains under DDP too
        torch.manual_seed(0)
        reading = Trainer(build_model(ConditionalVAEConfig(**SMALL, class_loss=5.0)), train, test, config(),
                          folder / "reading.pt")
        reading.run()
        seen["reader"] = [float(p.double().sum()) for p in reading.objectives[0].parameters()]
    finally:
        (folder / f"seen-{rank}.json").write_text(json.dumps(seen))
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    """Runs the scenarios in two processes once, after what the one-process references need."""
    folder = tmp_path_factory.mktemp("distributed")
    make_mnist(folder / "data", train=TRAIN, test=TEST)
    train, test = data(folder)
    Trainer(noisy_cvae(), train, test, config(epochs=1), folder / "one-process.pt").run()
    # fork: the two processes start with torch already imported (a spawn would spend seconds importing it again);
    # a process that has started CUDA cannot fork safely, so spawn then
    method = "spawn" if torch.cuda.is_initialized() else "fork"
    context = mp.start_processes(play, args=(2, free_port(), str(folder)), nprocs=2, join=False,
                                 start_method=method)
    deadline = time.monotonic() + 120
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the two training processes did not finish within 120 s")
    return folder, [json.loads((folder / f"seen-{rank}.json").read_text()) for rank in range(2)]


def test_two_processes_reach_the_parameters_of_one_on_the_same_global_batch(played):
    folder, _ = played
    train, test = data(folder)
    one = Trainer(autoencoder(), train, test, config(), folder / "ae-1.pt").run()
    two = load_checkpoint(folder / "ae-2.pt")
    assert [r["epoch"] for r in two.history] == [1, 2]
    for a, b in zip(one.history, two.history):  # equal up to the order of float sums
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
        assert b["test_rec"] == pytest.approx(a["test_rec"], rel=1e-5)
    reference = load_checkpoint(folder / "ae-1.pt").model.state_dict()
    for name, value in two.model.state_dict().items():
        torch.testing.assert_close(value, reference[name], rtol=1e-4, atol=1e-5)
    initial = autoencoder().state_dict()
    assert not all(torch.equal(initial[k], v) for k, v in reference.items())  # and it did train


def test_a_cancel_on_one_process_stops_both_at_the_same_batch_and_resumes_exactly(played):
    folder, seen = played
    for rank in range(2):  # both stopped in epoch 2 after its first batch; the value is process 1's flag
        assert seen[rank]["cancel"] == ["cancelled", 1, [1, 4], True]
        assert seen[rank]["resumed"] == seen[rank]["straight"]  # same process count: an exact continuation
    split, straight = load_checkpoint(folder / "cvae-split.pt"), load_checkpoint(folder / "cvae-straight.pt")
    weights = straight.model.state_dict()
    assert all(torch.equal(weights[k], v) for k, v in split.model.state_dict().items())
    assert len(split.training_state["ranks"]) == 2 and split.training_state["world_size"] == 2


def test_nan_and_out_of_memory_on_one_process_stop_both_with_one_message(played):
    _, seen = played
    kind, message, quiet = seen[0]["nan"]
    assert kind == "TrainingDiverged" and "NaN or infinite at epoch 2, batch 2" in message and quiet is False
    assert "last good checkpoint (epoch 1)" in message
    assert seen[1]["nan"][0] == "TrainingDiverged" and seen[1]["nan"][2] is True  # process 1 leaves it to 0
    kind, message, quiet = seen[0]["oom"]
    assert kind == "ResourceError" and quiet is False
    assert "out of CPU memory in process 1 of 2 at batch size 8 per process (16 over 2 processes)" in message
    assert seen[1]["oom"][0] == "ResourceError" and seen[1]["oom"][2] is True
    for name in ("nan", "oom"):  # the last good checkpoint is the one left
        assert load_checkpoint(played[0] / f"{name}.pt").epoch == 1


def test_resume_with_another_number_of_processes(played):
    folder, seen = played
    assert seen[0]["one-to-two"] == seen[1]["one-to-two"] == ["finished", 2]
    assert load_checkpoint(folder / "one-process.pt").epoch == 2
    train, test = data(folder)  # and back: a two-process run stopped part-way finishes in one process
    partial = load_checkpoint(folder / "cvae-partial.pt")
    assert partial.epoch == 1 and partial.training_state["partial"]["batches_done"] == 1
    result = Trainer.resume(folder / "cvae-partial.pt", train, test).run()
    assert result.status == "finished" and [r["epoch"] for r in result.history] == [1, 2]
    assert all(math.isfinite(r["train_loss"]) for r in result.history)


# ----- the environment, without processes -----

def test_objective_terms_train_in_step_on_every_process(played):
    """Each process sees its own half of the batch; the reader's weights stay identical on both (its gradients are
    averaged through the one DistributedDataParallel forward) and have moved from their initial values."""
    folder, seen = played
    assert seen[0]["reader"] == pytest.approx(seen[1]["reader"], rel=1e-6)
    saved = load_checkpoint(folder / "reading.pt").training_state["objectives"]["class-reading"]
    weights = [float(v.double().sum()) for v in saved["weights"].values()]
    assert weights == pytest.approx(seen[0]["reader"], rel=1e-6)
    with torch.random.fork_rng(devices=[]):  # the trainer seeds its terms' initial weights from the run's seed
        torch.manual_seed(config().seed + 5)
        initial = build_model(ConditionalVAEConfig(**SMALL, class_loss=5.0)).objective_terms()[0]
    sums = [float(p.detach().double().sum()) for p in initial.parameters()]
    assert sums != pytest.approx(seen[0]["reader"], rel=1e-6)


def test_the_world_comes_from_torchrun_environment():
    assert World.from_env({}) == World(1, 0, 0)
    assert World.from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}) == World(4, 3, 1)
    with pytest.raises(ConfigError, match="RANK=4"):
        World.from_env({"WORLD_SIZE": "4", "RANK": "4"})
    world = World(4, 2, 2)
    assert World(1).seed(7) == 7 and world.seed(7) != World(4, 1, 1).seed(7) != 7


def test_batch_and_device_checks_under_torchrun():
    assert check_batch_size(100, World(4, 0, 0)) == 25
    with pytest.raises(ConfigError, match="--batch-size 100 does not split evenly over 3 processes"):
        check_batch_size(100, World(3, 0, 0))
    assert training_device("auto", World(2, 1, 1)).type == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        assert training_device("auto", World(2, 1, 1)) == torch.device("cuda", 1 % torch.cuda.device_count())
        with pytest.raises(ConfigError, match="all 2 processes on one GPU"):
            training_device("cuda:0", World(2, 1, 1))


# ----- the real command under torchrun -----

def test_cvae_train_under_torchrun_writes_one_checkpoint_and_one_log(tmp_path):
    make_mnist(tmp_path / "data", train=96, test=40)
    out = tmp_path / "runs" / "digits.pt"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "trainer.cli", "--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--epochs", "2",
               "--output", str(out), "--conv-channels", "4,8", "--hidden-dim", "16", "--batch-size", "32",
               "--device", "auto"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=Path(__file__).parents[2],
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stderr.splitlines()
    start = [line for line in lines if line.startswith("cvae-train: 2 processes")]
    assert start == [("cvae-train: 2 processes, backend gloo (cpu), global batch 32 = 2 x 16 per process, "
                      "learning rate 0.001")]  # once: process 0 alone reports
    assert sum(line.startswith("saved ") for line in lines) == 1 and "Traceback" not in done.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["digits.metrics.jsonl", "digits.pt"]
    checkpoint = load_checkpoint(out)
    assert checkpoint.epoch == 2 and checkpoint.training_state["world_size"] == 2
    assert checkpoint.derived["test_encodings"].shape == (40, 2)
    log = [json.loads(line) for line in MetricsLog.path_for(out).read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2] and all(math.isfinite(r["test_nelbo"]) for r in log)
    assert log == checkpoint.history


def test_every_process_takes_an_equal_share_of_every_batch():
    worlds = [World(3, rank, rank) for rank in range(3)]
    assert worlds[0].images_per_epoch(100, 32) == 100 - 4 % 3  # the last batch of 4 is cut to 3
    assert World(1).images_per_epoch(100, 32) == 100  # one process: every image, as always
    order = list(range(99))
    for start, size in ((0, 33), (96, 3)):
        parts = [order[world.share(start, size)] for world in worlds]
        assert [i for part in parts for i in part] == order[start:start + size]
        assert len({len(part) for part in parts}) == 1


def test_a_job_that_cannot_be_joined_is_one_clear_error(monkeypatch):
    from trainer.distributed import start

    for name in ("MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match=r"cannot join the torchrun job as process 1 of 2 \(gloo\).*MASTER_ADDR"):
        start(World(2, 1, 1), torch.device("cpu"))
    assert not dist.is_initialized()
