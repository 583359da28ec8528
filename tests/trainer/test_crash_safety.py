"""No lost work when `cvae-train` is killed: SIGKILL at random moments (mid-batch, mid-checkpoint-write) always
leaves a checkpoint that loads (or none, before the first epoch ends), and `--resume` carries on to the very
numbers of a run that was never killed; SIGTERM and SIGINT finish the batch, save and exit 143 and 130, alone and
under torchrun.

Each Python process would spend seconds importing torch, far too slow for dozens of kills, so a small server
imports cvae-train once and forks a fresh process per run; each forked process runs `trainer.cli.main` exactly as
the console script does, with its own real signals. One test also runs the real `python -m trainer.cli`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cvae.checkpoint import load_checkpoint
from tests.formats import make_mnist
from trainer.callbacks import MetricsLog
from trainer.cli import main

pytestmark = pytest.mark.slow  # real processes killed mid-write: seconds each

ROOT = Path(__file__).parents[2]
TINY = ["--conv-channels", "4,8", "--hidden-dim", "16", "--batch-size", "16", "--device", "cpu", "--quiet",
        "--seed", "1"]
KILLS = 30


def serve() -> None:
    """The fork server: one JSON request per line on stdin, one answer per line on stdout."""
    import torch

    import trainer.cli

    # what every run would otherwise load first (the optimizer imports torch._dynamo: seconds); OMP_NUM_THREADS=1
    # keeps OpenMP from starting threads here, so forked processes inherit none
    weight = torch.zeros(3, requires_grad=True)
    optimizer = torch.optim.Adam([weight])
    (weight * 2).sum().backward()
    optimizer.step()
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if "wait" in request:
            _, status = os.waitpid(request["wait"], 0)
            code = os.waitstatus_to_exitcode(status)  # negative: killed by that signal
            print(json.dumps({"status": code}), flush=True)
            continue
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:  # the training process
            code = 1
            try:
                log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(log, 1)
                os.dup2(log, 2)
                torch.set_num_threads(1)  # as a process of its own would; no OpenMP pool from the server is used
                code = trainer.cli.main(request["argv"])
            except BaseException as exc:  # noqa: BLE001 - reported in the log, never into the server's loop
                print(f"training process failed: {exc!r}", file=sys.stderr)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)


class Server:
    def __init__(self, folder: Path):
        self.folder = folder
        serve = "from tests.trainer.test_crash_safety import serve; serve()"
        self.process = subprocess.Popen([sys.executable, "-c", serve],
                                         cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                         env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert self.process.stdout.readline().strip() == "ready"
        self.runs = 0

    def _ask(self, request: dict) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def start(self, argv: list[str]) -> tuple[int, Path]:
        self.runs += 1
        log = self.folder / f"run-{self.runs}.log"
        return self._ask({"argv": [str(a) for a in argv], "log": str(log)})["pid"], log

    def wait(self, pid: int) -> int:
        return self._ask({"wait": pid})["status"]

    def run(self, argv: list[str]) -> tuple[int, str]:
        pid, log = self.start(argv)
        return self.wait(pid), log.read_text()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.terminate()  # it holds nothing worth a clean exit (torch's own takes seconds)
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("logs"))
    yield server
    server.close()


@pytest.fixture
def tiny_data(tmp_path):
    return make_mnist(tmp_path / "data", train=32, test=8)  # 2 batches per epoch: a checkpoint every ~0.1 s


def temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


def wait_for(condition, timeout: float, step: float = 0.0005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


def test_sigkill_at_random_moments_never_loses_the_run(server, tiny_data, tmp_path):
    out = tmp_path / "runs" / "run.pt"
    args = ["--dataset", "mnist", "--data-dir", tiny_data, "--output", out, *TINY]
    rng = random.Random(20240611)
    epoch, mid_write, first_checkpoint_kills = 0, 0, 0
    for kill in range(KILLS):
        pid, log = server.start([*args, "--epochs", "1000", *(["--resume"] if out.exists() else [])])
        if kill % 2:  # the moment a checkpoint is being written, when one comes within a second
            wait_for(lambda: bool(temporaries(out.parent)) if out.parent.exists() else False, 1.0)
        else:  # anywhere: starting (the first one, before any epoch can end), in a batch, evaluating, saving
            time.sleep(0.005 if kill == 0 else rng.uniform(0.02, 0.6))
        os.kill(pid, signal.SIGKILL)
        assert server.wait(pid) == -signal.SIGKILL, log.read_text()  # it was still training
        mid_write += bool(temporaries(out.parent)) if out.parent.exists() else 0  # a rename that never happened
        if not out.exists():
            first_checkpoint_kills += 1
            assert epoch == 0  # a checkpoint, once written, is never lost
            continue
        checkpoint = load_checkpoint(out)  # never half-written, never damaged
        assert checkpoint.epoch >= epoch and len(checkpoint.history) == checkpoint.epoch
        assert [r["epoch"] for r in checkpoint.history] == list(range(1, checkpoint.epoch + 1))
        epoch = checkpoint.epoch
        log_lines = [line for line in MetricsLog.path_for(out).read_text().split("\n")[:-1]] \
            if MetricsLog.path_for(out).exists() else []
        assert len(log_lines) <= epoch  # the log follows the checkpoint, never runs ahead of it
    print(f"{KILLS} kills: {first_checkpoint_kills} before the first checkpoint, {mid_write} while one was being "
          f"written; {epoch} epochs survived")
    assert epoch >= 5, f"only {epoch} epochs in {KILLS} runs"
    assert mid_write >= 1, "no kill landed while a checkpoint was being written"
    assert first_checkpoint_kills >= 1  # and the next run started afresh (no --resume without a checkpoint)

    total = epoch + 1  # --resume to one more epoch; then the same run never killed, for comparison
    status, text = server.run([*args, "--epochs", total, "--resume"])
    assert status == 0, text
    status, text = server.run([*args[:-len(TINY) - 2], "--output", tmp_path / "straight" / "run.pt", *TINY,
                               "--epochs", total])
    assert status == 0, text
    killed, straight = load_checkpoint(out), load_checkpoint(tmp_path / "straight" / "run.pt")
    assert killed.epoch == straight.epoch == total
    for key in ("train_loss", "test_nelbo"):  # the same numbers as a run that was never killed
        assert [r[key] for r in killed.history] == [r[key] for r in straight.history]
    weights = straight.model.state_dict()
    assert all(v.equal(weights[k]) for k, v in killed.model.state_dict().items())
    log = [json.loads(line) for line in MetricsLog.path_for(out).read_text().splitlines()]
    assert [r["epoch"] for r in log] == list(range(1, total + 1))
    assert sorted(p.name for p in out.parent.iterdir()) == ["run.metrics.jsonl", "run.pt"]  # no leftovers


@pytest.mark.parametrize("signum, code, what", [(signal.SIGTERM, 143, "stopped by SIGTERM"),
                                                (signal.SIGINT, 130, "cancelled")])
def test_a_stop_signal_saves_and_exits_with_its_code(server, tiny_data, tmp_path, signum, code, what):
    out = tmp_path / "run.pt"
    args = ["--dataset", "mnist", "--data-dir", tiny_data, "--output", out, *TINY]
    pid, log = server.start([*args, "--epochs", "1000"])
    assert wait_for(out.exists, 30, 0.01)
    time.sleep(0.05)  # somewhere in the next epoch
    os.kill(pid, signum)
    assert server.wait(pid) == code, log.read_text()
    last = log.read_text().strip().splitlines()[-1]
    assert last.startswith(f"cvae-train: {what}") and last.endswith(f"{out}; continue with --resume"), last
    checkpoint = load_checkpoint(out)
    partial = checkpoint.training_state.get("partial")
    if partial:  # stopped mid-epoch: the batches it did are in the file
        assert last == (f"cvae-train: {what} after batch {partial['batches_done']}/2 of epoch {checkpoint.epoch + 1}; "
                        f"saved in {out}; continue with --resume")
    status, text = server.run([*args, "--epochs", checkpoint.epoch + 1, "--resume"])
    assert status == 0 and load_checkpoint(out).epoch == checkpoint.epoch + 1, text


def test_sigterm_to_the_real_command(tiny_data, tmp_path):
    out = tmp_path / "run.pt"
    process = subprocess.Popen([sys.executable, "-m", "trainer.cli", "--dataset", "mnist", "--data-dir", str(tiny_data),
                                "--output", str(out), *TINY, "--epochs", "1000"], cwd=ROOT, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert wait_for(out.exists, 60, 0.01)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, err
    assert err.strip().splitlines()[-1].startswith("cvae-train: stopped by SIGTERM") and "Traceback" not in err
    assert load_checkpoint(out).epoch >= 1


def test_sigterm_under_torchrun_stops_every_process_with_one_saved_checkpoint(tiny_data, tmp_path):
    """What Slurm does before a time limit: SIGTERM to torchrun and to every training process."""
    out = tmp_path / "run.pt"
    process = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "trainer.cli",
         "--dataset", "mnist", "--data-dir", str(tiny_data), "--output", str(out), *TINY, "--epochs", "1000"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert wait_for(out.exists, 90, 0.01)
        time.sleep(0.1)
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0  # torchrun itself reports a signal as a failure (exit 1)
    stopped = [line for line in output.splitlines() if line.startswith("cvae-train: stopped by SIGTERM")]
    assert len(stopped) == 1, output[-3000:]  # process 0 speaks for both
    assert stopped[0].endswith(f"saved in {out}; continue with --resume"), stopped[0]
    checkpoint = load_checkpoint(out)
    assert checkpoint.training_state["world_size"] == 2 and checkpoint.epoch >= 1
    assert len(MetricsLog.path_for(out).read_text().splitlines()) == checkpoint.epoch
    assert temporaries(out.parent) == []
    # one process carries on what two started
    code = main(["--dataset", "mnist", "--data-dir", str(tiny_data), "--output", str(out), *TINY,
                 "--epochs", str(checkpoint.epoch + 1), "--resume"])
    assert code == 0 and load_checkpoint(out).epoch == checkpoint.epoch + 1


# ----- scripts/slurm-train.sbatch, with stand-ins for Slurm's commands -----

FAKE_SRUN = """#!/bin/bash
echo "$@" > "$FAKE_DIR/srun-args"
trap 'echo TERM > "$FAKE_DIR/srun-got"; kill "$nap"; exit 1' TERM  # torchrun exits 1 once its processes saved
if [ -n "${FAKE_SRUN_EXIT:-}" ]; then exit "$FAKE_SRUN_EXIT"; fi
sleep 30 > /dev/null 2>&1 &
nap=$!
wait
"""
FAKE_SCONTROL = """#!/bin/bash
case "$1" in
  show) printf 'node-a\\nnode-b\\n' ;;
  requeue) echo "$2" > "$FAKE_DIR/requeued" ;;
esac
"""


def slurm_job(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen:
    fake = tmp_path / "fake"
    fake.mkdir(exist_ok=True)
    for name, text in (("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL)):
        (fake / name).write_text(text)
        (fake / name).chmod(0o755)
    environment = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "FAKE_DIR": str(fake), "SLURM_JOB_ID": "42",
                   "SLURM_JOB_NODELIST": "node-[a-b]", "SLURM_NNODES": "2", "SLURM_GPUS_ON_NODE": "4", **env}
    return subprocess.Popen(["bash", str(ROOT / "scripts" / "slurm-train.sbatch"), *args], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_slurm_script_hands_the_time_limit_signal_on_and_requeues(tmp_path):
    out = tmp_path / "runs" / "faces.pt"
    job = slurm_job(tmp_path, "--dataset", "celeba", "--output", str(out))
    assert wait_for((tmp_path / "fake" / "srun-args").exists, 30, 0.01)
    args = (tmp_path / "fake" / "srun-args").read_text().split()
    assert "--nnodes=2" in args and "--nproc-per-node=4" in args and "--rdzv-endpoint=node-a:29500" in args
    assert args[-6:] == ["-m", "trainer.cli", "--dataset", "celeba", "--output", str(out)]  # new run: no --resume
    job.send_signal(signal.SIGTERM)  # what --signal=B:TERM@120 does two minutes before the limit
    output, _ = job.communicate(timeout=30)
    assert job.returncode == 0, output
    assert (tmp_path / "fake" / "srun-got").read_text().strip() == "TERM"  # passed on to the training step
    assert (tmp_path / "fake" / "requeued").read_text().strip() == "42" and "requeueing" in output


@pytest.mark.parametrize("code", [0, 3])
def test_slurm_script_resumes_an_existing_run_and_does_not_requeue_an_ending(tmp_path, code):
    out = tmp_path / "faces.pt"
    out.write_bytes(b"a checkpoint")
    job = slurm_job(tmp_path, "--dataset", "celeba", f"--output={out}", FAKE_SRUN_EXIT=str(code))
    output, _ = job.communicate(timeout=30)
    assert job.returncode == code, output
    assert (tmp_path / "fake" / "srun-args").read_text().split()[-1] == "--resume"
    assert not (tmp_path / "fake" / "requeued").exists()


def test_slurm_script_needs_an_output(tmp_path):
    job = slurm_job(tmp_path, "--dataset", "celeba")
    output, _ = job.communicate(timeout=30)
    assert job.returncode == 2 and "give --output PATH" in output
