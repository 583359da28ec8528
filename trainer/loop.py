"""The training loop: Adam over an in-memory dataset, a held-out loss and an atomic checkpoint every epoch.

Exact resume: each checkpoint holds the optimizer state and every random generator the loop draws from
(shuffling, reparameterisation noise, dropout — on the CPU and on the training GPU), so a run stopped after
epoch k and resumed produces the same numbers as one that never stopped. A cancel (Ctrl-C, SIGTERM, the GUI's
button) finishes the current batch and saves the run part-way through its epoch — the position in the epoch's
shuffled order and the epoch's running sums included — so that resuming it gives those same numbers too. The
held-out loss uses its own freshly seeded generator so that evaluating never disturbs training.

Under `torchrun` (trainer.distributed) the same loop runs in every process: one shuffled order per epoch from
the shared seed, each process taking its equal share of every batch, gradients averaged by
DistributedDataParallel through `TrainingStep.forward`; process 0 evaluates, saves and reports while the
others wait, and every stop (cancel, NaN, out of memory, a failed write) is agreed by all processes, so none is
left waiting for the others.
"""

from __future__ import annotations

import math
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn

from cvae.checkpoint import (Checkpoint, load_checkpoint, read_checkpoint_dict, save_checkpoint,
                             write_checkpoint_dict)
from cvae.derived import Derived, derive
from cvae.data import ImageDataset, data_changes, data_summary
from cvae.device import native_cpu_bf16
from cvae.errors import (
    CheckpointError,
    ConfigError,
    CvaeError,
    OutputWriteError,
    ResourceError,
    TrainingDiverged,
)
from cvae.metrics import mean_loss_terms
from cvae.models.for_data import check_fits, check_names
from trainer import distributed
from trainer.callbacks import CANCELLED, FINISHED, BatchProgress, CallbackList, RunStatus, TrainingCallback
from trainer.config import TrainConfig
from trainer.distributed import World


class TrainingCancelled(Exception):
    """Raised inside the loop when the cancel flag is seen; `run` turns it into a result."""


@dataclass
class TrainResult:
    status: RunStatus  # FINISHED or CANCELLED (a diverged or failed run raises instead)
    epoch: int  # last completed epoch (its checkpoint, or a later part-way one, is on disk)
    history: list[dict] = field(default_factory=list)
    checkpoint_path: Path | None = None
    # a cancel saved part-way through epoch `epoch + 1`: (batches done, batches in the epoch); None otherwise
    partial: tuple[int, int] | None = None
    # what the cancel flag returned when it stopped the run (the largest over all processes): True for an
    # Event, or whatever a callable returned (cvae-train's is the signal number); None when not cancelled
    cancelled_by: object = None


class TrainingStep(nn.Module):
    """One training step's loss terms as a module's `forward`: DistributedDataParallel synchronises gradients
    only through the forward of the module it wraps, so it wraps this — the model and the objective terms that
    train beside it (cvae.models.objectives) — never `model.loss` called directly. The raw model (`.model`) stays
    what evaluation, previews and checkpoints use."""

    def __init__(self, model: nn.Module, objectives: Iterable[nn.Module] = ()):
        super().__init__()
        self.model = model
        self.objectives = nn.ModuleList(objectives)

    def forward(self, images: torch.Tensor, labels: torch.Tensor, beta: float,
                generator: torch.Generator | None = None, progress: float = 0.0):
        if len(self.objectives):
            return self.model(images, labels, beta, generator, self.objectives, progress)
        return self.model.loss(images, labels, beta=beta, generator=generator)


class _Stopped(CvaeError):
    """Marks an error agreed with the other processes: process 0 reports it, the others stop without a word."""


def _quiet(error: CvaeError, world: World) -> CvaeError:
    error.reported_by_another_process = not world.main  # cvae-train prints it on process 0 only
    return error


def _flag(cancel) -> Callable[[], object]:
    if cancel is None:
        return lambda: False
    if hasattr(cancel, "is_set"):
        return cancel.is_set
    return cancel


# what process 0 tells the others when something it alone does (evaluating, saving, logging) fails
_OK, _DIVERGED, _WRITE, _MEMORY, _OTHER = 0, 1, 2, 3, 4


class Trainer:
    """Trains `model` on `train_data`, evaluating on `test_data`, checkpointing to `checkpoint_path`."""

    _data_changed: dict | None = None  # a resume continued on other data: recorded in its first epoch's record

    def __init__(self, model: nn.Module, train_data: ImageDataset, test_data: ImageDataset | None,
                 config: TrainConfig, checkpoint_path: str | Path,
                 callbacks: Iterable[TrainingCallback] = (), cancel=None):
        self.config = config
        self.world = World.from_env()
        self.device = distributed.training_device(config.device, self.world)
        self.per_process_batch = distributed.check_batch_size(config.batch_size, self.world,
                                                              "the batch size" if self.world.distributed
                                                              else "--batch-size")
        # channels-last weights: convolutions (transposed ones above all) train ~20% faster on CPU, and it is the
        # layout tensor cores want on CUDA; checkpoints hold the same values whatever the layout
        self.model = model.to(self.device, memory_format=torch.channels_last)
        self._check_data(train_data, "training")
        if test_data is not None:
            self._check_data(test_data, "test")
        if len(train_data) < self.world.size:
            raise ConfigError(f"the training set has {len(train_data)} images, fewer than the {self.world.size} "
                              "processes sharing it")
        if hasattr(self.model, "fit_to_data") and not bool(self.model.fitted):  # e.g. the judge's positive weights
            self.model.fit_to_data(train_data)
        self.label_names = train_data.label_names
        self.dataset_info = train_data.describe()
        self.train_data = train_data.to(self.device)
        self.test_data = test_data.to(self.device) if test_data is not None else None
        self.checkpoint_path = Path(checkpoint_path)
        # only process 0 reports: one progress bar, one metrics log, one set of previews
        self.callbacks = CallbackList(callbacks if self.world.main else ())
        self.cancelled = _flag(cancel)
        self.optimizer = (torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate,
                                            weight_decay=config.weight_decay) if config.weight_decay
                          else torch.optim.Adam(self.model.parameters(), lr=config.learning_rate))
        # the family's objective terms with networks of their own (a label reader, a latent adversary, a critic):
        # each with its own optimizer, saved in the training state, never in the model's weights
        with torch.random.fork_rng(devices=[]):  # their initial weights follow the run's seed, nothing else
            torch.manual_seed(config.seed + 5)
            terms = self.model.objective_terms() if hasattr(self.model, "objective_terms") else []
        self.objectives = [term.to(self.device, memory_format=torch.channels_last) for term in terms]
        self.objective_optimizers = [term.make_optimizer(config.learning_rate) for term in self.objectives]
        self.use_amp = config.mixed_precision and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if self.use_amp else None
        # bf16 needs no loss scaling; on a CPU that only emulates it, it is a tenfold slowdown, so float32 it is
        self.use_cpu_bf16 = config.cpu_bf16 and self.device.type == "cpu" and native_cpu_bf16()
        if config.cpu_bf16 and self.device.type == "cpu" and not self.use_cpu_bf16 and self.world.main:
            warnings.warn("cpu_bf16 ignored: this CPU has no native bfloat16 (AVX512-BF16 or AMX), where bf16 "
                          "autocast runs about 10x slower; training in float32", stacklevel=2)
        self.shuffle_generator = torch.Generator().manual_seed(config.seed)  # the same on every process
        self.noise_generator = torch.Generator(device=self.device).manual_seed(self.world.seed(config.seed + 1))
        torch.manual_seed(self.world.seed(config.seed + 2))  # dropout draws from the global generators
        self.epoch = 0
        self.saved_epoch = 0  # the epoch of the checkpoint now on disk from this run (0: none)
        self.history: list[dict] = []
        self._resumed = False
        self._partial: dict | None = None  # a part-way epoch to continue (from a resumed checkpoint)
        self._dirty = False  # optimizer steps taken since the checkpoint on disk was written
        self._all_generators: list | None = None  # every process's generators, gathered for a checkpoint
        self._owns_group = distributed.start(self.world, self.device)
        self.backend = distributed.backend()
        # the module a training step calls: the model's loss as a forward, wrapped for gradient exchange when
        # several processes train (evaluation, previews and checkpoints use the raw `self.model`)
        self.training_step: nn.Module = TrainingStep(self.model, self.objectives)
        if self.world.distributed:
            from torch.nn.parallel import DistributedDataParallel
            self.training_step = DistributedDataParallel(
                self.training_step, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self._preview = self._preview_inputs()

    def _check_data(self, data: ImageDataset, role: str) -> None:
        check_fits(self.model.config, data, role)

    # ----- resume -----
    @classmethod
    def resume(cls, checkpoint_path: str | Path, train_data: ImageDataset, test_data: ImageDataset | None,
               callbacks: Iterable[TrainingCallback] = (), cancel=None, epochs: int | None = None,
               device: str | None = None, other_data: bool = False,
               other_data_hint: str = "pass other_data=True") -> "Trainer":
        """Continue a run from its last checkpoint; `epochs` may extend the run's total. Any number of processes
        may continue a run that any number wrote: the weights, the optimizer and the shuffling are shared; each
        process's own noise and dropout generators are restored when the process count is the same (an exact
        continuation) and derived afresh from the seed, the process and the position otherwise.

        `train_data` must be the data the run was trained on (the checkpoint's data description and fingerprint,
        cvae.data.data_changes; the folder it is read from may have moved): other data is refused with one line
        saying what differs and how to go on anyway (`other_data_hint`), unless `other_data` — then the next
        epoch's record says so ("data_changed": what it was, what it is now), and an epoch the run had stopped in
        part-way starts again from its first batch on the new data (the weights keep what that part taught them).
        A checkpoint written before fingerprints were recorded allows no such check: it resumes on any data that
        fits the model, as it always did. The test data is not compared (it only changes the held-out figures)."""
        checkpoint = load_checkpoint(checkpoint_path)
        if not checkpoint.training_state:
            raise CheckpointError(f"{checkpoint_path} has no training state to resume from (it was saved for "
                                  "exploration only)")
        check_names(checkpoint.label_names, train_data, "training")
        if test_data is not None:
            check_names(checkpoint.label_names, test_data, "test")
        saved_data, now_data = dict(checkpoint.dataset or {}), train_data.describe()
        changes = data_changes(saved_data, now_data)
        if changes:
            check_fits(checkpoint.model.config, train_data, "training")  # data the model cannot take says so first
            differs = (f"{checkpoint_path} was trained on {data_summary(saved_data)}; the data now selected "
                       f"{', '.join(changes)}")
            if not other_data:
                raise ConfigError(f"{differs} — resume with the same data, or {other_data_hint} to continue on it "
                                  "anyway")
        values = dict(checkpoint.train_config)
        if epochs is not None:
            values["epochs"] = epochs
        if device is not None:
            values["device"] = device
        config = TrainConfig.from_dict(values)
        trainer = cls(checkpoint.model, train_data, test_data, config, checkpoint_path, callbacks, cancel)
        state = checkpoint.training_state
        trainer._restore_objectives(state, checkpoint_path)
        try:
            trainer.optimizer.load_state_dict(state["optimizer"])
        except ValueError as exc:  # a file whose optimizer covered other parameters
            raise CheckpointError(f"{checkpoint_path}: its optimizer state does not fit the model ({exc}); it was "
                                  "written by an older version that kept the label reader inside the model, and "
                                  "cannot be resumed exactly — start the run again") from None
        trainer.shuffle_generator.set_state(state["shuffle_rng"])
        partial = state.get("partial")
        if partial and int(partial.get("epoch", 0)) != checkpoint.epoch + 1:
            raise CheckpointError(f"{checkpoint_path}: its part-way epoch {partial.get('epoch')} does not follow its "
                                  f"epoch {checkpoint.epoch}")
        batches_done = int(partial["batches_done"]) if partial else 0
        if partial and partial.get("data_changed"):  # the part-way epoch it continues began on other data
            trainer._data_changed = dict(partial["data_changed"])
        if changes:
            keep = ("name", "split", "layout", "count", "limit", "image_size", "fingerprint")
            trainer._data_changed = {"was": {k: saved_data[k] for k in keep if k in saved_data},
                                     "now": {k: now_data[k] for k in keep if k in now_data}, "changes": changes}
            if partial:  # its shuffled order, sums and position belong to the old data: the epoch starts again
                trainer._data_changed["restarted_epoch"] = int(partial["epoch"])
                trainer.shuffle_generator.set_state(partial["epoch_shuffle_rng"])
                partial = None
        trainer._partial = dict(partial) if partial else None
        trainer._restore_generators(state, checkpoint.epoch, batches_done)
        if trainer.scaler is not None and state.get("scaler"):
            trainer.scaler.load_state_dict(state["scaler"])
        trainer.epoch = trainer.saved_epoch = checkpoint.epoch
        trainer.history = list(checkpoint.history)
        trainer._resumed = True
        return trainer

    def _restore_objectives(self, state: dict, checkpoint_path) -> None:
        """Each objective term's weights and optimizer state, by the term's name."""
        saved = state.get("objectives") or {}
        names = [term.name for term in self.objectives]
        if sorted(saved) != sorted(names):
            raise CheckpointError(f"{checkpoint_path}: its training state holds the objective terms "
                                  f"{sorted(saved) or 'none'} but its model trains with {sorted(names) or 'none'}; "
                                  "it cannot be resumed exactly — start the run again")
        for term, optimizer in zip(self.objectives, self.objective_optimizers):
            term.load_state_dict(saved[term.name]["weights"])
            optimizer.load_state_dict(saved[term.name]["optimizer"])

    def _restore_generators(self, state: dict, epoch: int, batches_done: int) -> None:
        world = self.world
        saved_world = int(state.get("world_size") or 1)
        mine = None
        if saved_world == world.size:
            ranks = state.get("ranks") or []
            mine = state if not world.distributed else ranks[world.rank] if len(ranks) == world.size else None
        restored = False
        if mine is not None and state.get("noise_device", self.device.type) == self.device.type:
            try:
                self.noise_generator.set_state(mine["noise_rng"])
                restored = True
            except (RuntimeError, KeyError):  # an older file written on another kind of device
                restored = False
        if restored:
            self._set_generator_state(mine)
            return
        # another process count or device: no saved state belongs to this process; derive it reproducibly
        position = epoch * 1_000_000 + batches_done + 1
        self.noise_generator.manual_seed(world.seed(self.config.seed + 1, position))
        torch.manual_seed(world.seed(self.config.seed + 2, position))

    # ----- the loop -----
    def run(self) -> TrainResult:
        self.callbacks.on_start(self)
        if self.world.main:
            self._remove_stale_temporaries()
        status, partial, cancelled_by = FINISHED, None, None
        self._clock = time.perf_counter()
        self._images_done = 0  # by all processes, in this run
        self._images_planned = ((self.config.epochs - self.epoch) * self._usable_images()
                                - (int(self._partial["seen"]) if self._partial else 0))
        try:
            try:
                for epoch in range(self.epoch + 1, self.config.epochs + 1):
                    record = self._train_epoch(epoch)
                    if self._data_changed is not None:  # a resume on other data, said so in the history
                        record["data_changed"], self._data_changed = self._data_changed, None
                    self._finish_epoch(epoch, record)
            except TrainingCancelled as stop:
                status, partial, cancelled_by = CANCELLED, stop.args[0], stop.args[1]
            except torch.OutOfMemoryError:
                if self.world.distributed:  # past the forward pass, where the others may be exchanging gradients
                    # with this process: it cannot tell them, and torchrun ends them when this process exits
                    raise ResourceError(f"out of {self.device.type.upper()} memory{self.world.label()} in the "
                                        f"backward pass or the optimizer step at {self._batch_words()}; "
                                        f"{self._kept()}. Try a smaller batch size.") from None
                raise ResourceError(f"out of {self.device.type.upper()} memory at batch size "
                                    f"{self.config.batch_size}; {self._kept()}. Try a smaller batch size.") from None
            except OSError as exc:  # a callback's file (the metrics log); the checkpoint's own failures come from save
                raise OutputWriteError(f"cannot write {exc.filename or 'an output file'}: {exc.strerror or exc}; "
                                       f"{self._kept()}") from None
        finally:
            if self._owns_group:
                self._owns_group = False
                distributed.stop()
        result = TrainResult(status, self.epoch, list(self.history), self.checkpoint_path, partial, cancelled_by)
        self.callbacks.on_end(result)
        return result

    def _usable_images(self) -> int:
        return self.world.images_per_epoch(len(self.train_data), self.config.batch_size)

    def _learning_rate(self, step: int, total: int) -> float:
        base = self.config.learning_rate
        if self.config.lr_schedule == "constant":
            return base
        low = base * self.config.final_lr_fraction
        return low + (base - low) * 0.5 * (1 + math.cos(math.pi * min(step / max(total, 1), 1.0)))

    def _beta(self, step: int, batches_per_epoch: int) -> float:
        warmup = self.config.beta_warmup_epochs * batches_per_epoch
        return self.config.beta * (min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0)

    def _batch_words(self) -> str:
        if not self.world.distributed:
            return f"batch size {self.config.batch_size}"
        return (f"batch size {self.per_process_batch} per process ({self.config.batch_size} over "
                f"{self.world.size} processes)")

    def _train_epoch(self, epoch: int) -> dict:
        self.training_step.train()  # the model and its objective terms (a critic's spectral norm updates then)
        data, config, world = self.train_data, self.config, self.world
        usable = self._usable_images()
        batches = math.ceil(usable / config.batch_size)
        report_every = 1 if self.device.type == "cpu" else 20
        partial, self._partial = self._partial, None
        if partial is not None and int(partial["epoch"]) != epoch:
            partial = None
        if partial is not None:  # continue part-way: the same shuffled order, the batches already done skipped
            self.shuffle_generator.set_state(partial["epoch_shuffle_rng"])
        epoch_shuffle_state = self.shuffle_generator.get_state()
        order = torch.randperm(len(data), generator=self.shuffle_generator).to(data.images.device)
        first = int(partial["batches_done"]) if partial else 0
        totals: dict[str, torch.Tensor] = {}
        if partial is not None and world.main:  # the sums so far are over all processes: process 0 carries them
            totals = {k: v.to(self.device) for k, v in partial["totals"].items()}
        seen = int(partial["seen"]) if partial else 0
        seconds_before = float(partial.get("seconds", 0.0)) if partial else 0.0
        epoch_started = time.perf_counter()
        autocast = (torch.autocast("cuda", dtype=torch.float16) if self.use_amp else
                    torch.autocast("cpu", dtype=torch.bfloat16) if self.use_cpu_bf16 else nullcontext())
        # the epoch's last step: what its record says when no batch is left to run (a part-way epoch resumed by
        # another process count, whose last short batch may be cut), never null
        lr, beta = self._learning_rate(epoch * batches - 1, config.epochs * batches), self._beta(epoch * batches - 1,
                                                                                                 batches)
        for batch_index in range(first + 1, batches + 1):
            if not world.distributed:
                flag = self.cancelled()
                if flag:
                    self._stop(epoch, batch_index - 1, batches, epoch_shuffle_state, totals, seen,
                               seconds_before + time.perf_counter() - epoch_started, flag)
            start = (batch_index - 1) * config.batch_size
            size = min(config.batch_size, usable - start)  # images in this (global) batch
            index = order[world.share(start, size)]
            step = (epoch - 1) * batches + batch_index - 1
            lr = self._learning_rate(step, config.epochs * batches)
            for optimizer in self.optimizers:
                for group in optimizer.param_groups:
                    group["lr"] = lr
            beta = self._beta(step, batches)
            terms, out_of_memory = None, False
            # several processes agree on a stop after the forward pass: keep the generators as they were before it
            before = self._generator_state() if world.distributed else None
            try:
                images, labels = data.images[index].float().div_(255), data.labels[index]
                with autocast:
                    terms = self.training_step(images, labels, beta, self.noise_generator,
                                               (epoch - 1) + (batch_index - 1) / batches)
            except torch.OutOfMemoryError:
                if not world.distributed:
                    raise
                out_of_memory = True  # told to the others before anyone starts exchanging gradients
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
            loss = terms["loss"] if terms is not None else None
            loss_value = None
            if world.distributed:  # one small exchange per step: everyone stops together, or nobody does
                loss_value = self._agree_step(epoch, batch_index, batches, loss, out_of_memory, epoch_shuffle_state,
                                              totals, seen, seconds_before + time.perf_counter() - epoch_started,
                                              before)
            for optimizer in self.optimizers:
                optimizer.zero_grad(set_to_none=True)
            try:
                if self.scaler is not None:
                    self.scaler.scale(loss).backward()
                    for optimizer in self.optimizers:
                        self.scaler.step(optimizer)
                    self.scaler.update()
                else:
                    loss.backward()
                    for optimizer in self.optimizers:
                        optimizer.step()
            except RuntimeError as exc:  # a step so large it leaves float32's range (a huge --lr): a divergence
                if "overflow" not in str(exc):
                    raise
                self._diverged(epoch, batch_index)
            self._dirty = True
            n = images.shape[0]
            seen += size
            self._images_done += size
            for key, value in terms.items():
                totals[key] = totals.get(key, 0.0) + value.detach().float() * n
            if batch_index % report_every == 0 or batch_index == batches:
                if loss_value is None:
                    loss_value = float(loss.detach())
                    if not math.isfinite(loss_value):
                        self._diverged(epoch, batch_index)
                if self.callbacks:
                    now = time.perf_counter()
                    rate = (seen - (int(partial["seen"]) if partial else 0)) / max(now - epoch_started, 1e-9)
                    left = self._images_planned - self._images_done
                    overall = self._images_done / max(now - self._clock, 1e-9)
                    progress = BatchProgress(epoch, config.epochs, batch_index, batches, loss_value, rate,
                                             now - self._clock, left / max(overall, 1e-9))
                    self.callbacks.on_batch(progress)
        seconds = seconds_before + time.perf_counter() - epoch_started
        if world.distributed:
            totals = self._sum_over_processes(totals)
        record = {"epoch": epoch}
        record.update({f"train_{k}": float(v) / seen for k, v in totals.items()})
        record.update({"lr": lr, "beta": beta, "seconds": round(seconds, 3),
                       "images_per_second": round(seen / max(seconds, 1e-9), 1)})
        self._guard(record, epoch)
        return record

    def _agree_step(self, epoch: int, batch: int, batches: int, loss: torch.Tensor | None, out_of_memory: bool,
                    epoch_shuffle_state: torch.Tensor, totals: dict, seen: int, seconds: float,
                    generators_before: dict) -> float:
        """Between forward and backward (before any gradient is exchanged): every process learns whether any of
        them was cancelled, ran out of memory or got a NaN loss, and all act on it together. Returns the mean loss
        over the processes."""
        world = self.world
        value = 0.0 if loss is None else float(loss.detach())
        finite = math.isfinite(value)
        flag = self.cancelled()
        rows = distributed.gather([float(flag or 0), float(world.rank + 1) if out_of_memory else 0.0,
                                   0.0 if finite else 1.0, value if finite else 0.0], self.device)
        cancelled = max(row[0] for row in rows)
        memory = int(max(row[1] for row in rows))
        nonfinite = max(row[2] for row in rows)
        if memory:
            raise _quiet(ResourceError(
                f"out of {self.device.type.upper()} memory in process {memory - 1} of {world.size} at "
                f"{self._batch_words()}; {self._kept()}. Try a smaller batch size."), world)
        if nonfinite:
            self._diverged(epoch, batch)
        if cancelled:  # this batch's forward pass is dropped, and its draws undone: a resume does it again
            self._set_generator_state(generators_before)
            self._stop(epoch, batch - 1, batches, epoch_shuffle_state, totals, seen, seconds,
                       True if cancelled == 1.0 and isinstance(flag, bool) else _as_flag_value(cancelled))
        return sum(row[3] for row in rows) / world.size

    def _sum_over_processes(self, totals: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        keys = list(totals)  # the loss's own order, the same on every process
        if not keys:
            return totals
        stacked = distributed.all_sum(torch.stack([totals[k].float().reshape(()) for k in keys]))
        return {k: stacked[i] for i, k in enumerate(keys)}

    def _stop(self, epoch: int, batches_done: int, batches: int, epoch_shuffle_state: torch.Tensor, totals: dict,
              seen: int, seconds: float, flag) -> None:
        """Cancelled before batch `batches_done + 1` of `epoch`: save the run part-way through the epoch (when
        it moved since the last save) and end the loop."""
        saved = None
        if self._dirty and batches_done > 0:
            if self.world.distributed:
                totals = self._sum_over_processes(totals)
            partial = {"epoch": epoch, "batches_done": batches_done, "epoch_shuffle_rng": epoch_shuffle_state,
                       "totals": {k: v.detach().float().cpu() for k, v in totals.items()}, "seen": seen,
                       "seconds": round(seconds, 3)}
            if self._data_changed is not None:  # not yet in a record: the resumed part-way epoch carries it on
                partial["data_changed"] = self._data_changed
            allowed = self._may_save_part_way()
            if self.world.distributed:  # process 0's view of the folder decides (it is the one that writes)
                allowed = distributed.broadcast_object(allowed)
            if allowed:
                self._together(lambda: self.save(with_derived=True, partial=partial), gather_generators=True)
                saved = (batches_done, batches)
        elif not self._dirty:  # the file on disk holds this very state: give it the derived data the map needs
            self._together(self._derive_into_saved)
        raise TrainingCancelled(saved, flag)

    def _may_save_part_way(self) -> bool:
        """Part of a first epoch never replaces an earlier run's file (--overwrite takes effect with the first
        whole epoch): only a file this run wrote or resumed, or no file at all, is (re)written."""
        return self._resumed or self.saved_epoch > 0 or not self.checkpoint_path.exists()

    def _finish_epoch(self, epoch: int, record: dict) -> None:
        """Evaluate, save and report one finished epoch: on process 0, the others waiting for it."""
        def evaluate():
            if self.test_data is not None:
                self._phase("evaluating", len(self.test_data))
                record.update(self.evaluate(self.test_data, prefix="test_"))
                self._guard(record, epoch)

        self._together(evaluate)
        if self.world.distributed:
            record = distributed.broadcast_object(record)  # every process keeps the same history
        self.epoch = epoch
        self.history.append(record)
        # derived data only with the last epoch (and a cancel's save): encoding MNIST's 10,000 test digits takes
        # 9-20 s on this project's 2-core CPU, a quarter to a half of a bundled model's epoch (~40 s); a run
        # stopped otherwise keeps its last epoch's file, which _derive_into_saved completes on a cancel
        final = epoch == self.config.epochs

        def save_and_report():
            self.save(with_derived=final)
            self.callbacks.on_epoch(record)
            self.callbacks.on_checkpoint(self.checkpoint_path, epoch)
            self._emit_samples(epoch)

        self._together(save_and_report, gather_generators=True)
        self.saved_epoch = epoch
        self._dirty = False

    def _together(self, action: Callable[[], None], gather_generators: bool = False) -> None:
        """Run `action` on process 0 (the only process of a one-process run); the others wait and then fail the
        same way if it failed, so no process goes on training alone or waits for one that stopped."""
        world = self.world
        if not world.distributed:
            action()
            return
        if gather_generators:  # the checkpoint holds every process's own generators
            self._all_generators = distributed.gather_objects(self._generator_state())
        error, code = None, _OK
        if world.main:
            try:
                action()
            except TrainingDiverged as exc:
                error, code = exc, _DIVERGED
            except (OutputWriteError, OSError) as exc:
                error, code = exc, _WRITE
            except ResourceError as exc:
                error, code = exc, _MEMORY
            except torch.OutOfMemoryError:
                error, code = ResourceError(f"out of {self.device.type.upper()} memory in process 0 while "
                                            f"evaluating or saving; {self._kept()}"), _MEMORY
            except CvaeError as exc:
                error, code = exc, _OTHER
        agreed = int(distributed.agree_max(code, self.device))
        if error is not None:
            raise error
        if agreed:
            why = "process 0 stopped the run (its message says why)"
            raise _quiet({_DIVERGED: TrainingDiverged, _WRITE: OutputWriteError, _MEMORY: ResourceError}
                         .get(agreed, _Stopped)(why), world)

    def _guard(self, record: dict, epoch: int) -> None:
        if any(isinstance(v, float) and not math.isfinite(v) for v in record.values()):
            self._diverged(epoch, None)

    def _diverged(self, epoch: int, batch: int | None) -> None:
        where = f"epoch {epoch}" + (f", batch {batch}" if batch else "")
        raise _quiet(TrainingDiverged(f"training diverged: the loss became NaN or infinite at {where}; "
                                      f"{self._kept()}. Try a lower learning rate."), self.world)

    def _kept(self) -> str:
        return (f"the last good checkpoint (epoch {self.saved_epoch}) is kept at {self.checkpoint_path}"
                if self.saved_epoch else "no checkpoint was written")

    def _phase(self, phase: str, images: int | None = None) -> None:
        self.callbacks.on_phase(phase, images)

    def evaluate(self, data: ImageDataset, prefix: str = "test_") -> dict:
        """Mean loss terms per image over `data`, with fixed noise so the figure is repeatable."""
        terms = mean_loss_terms(self.model, data, self.config.beta, self.config.seed + 3)
        return {prefix + k: v for k, v in terms.items()}

    # ----- outputs -----
    def _generator_state(self) -> dict:
        """This process's own generators: reparameterisation noise, and dropout's (CPU and training GPU)."""
        state = {"noise_rng": self.noise_generator.get_state(), "torch_rng": torch.get_rng_state()}
        if self.device.type == "cuda":  # the training GPU's default generator (dropout there); not every GPU's
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        elif self.device.type == "mps":
            state["mps_rng"] = torch.mps.get_rng_state()
        return state

    def _set_generator_state(self, state: dict) -> None:
        self.noise_generator.set_state(state["noise_rng"])
        torch.set_rng_state(state["torch_rng"])
        if self.device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        elif self.device.type == "mps" and state.get("mps_rng") is not None:
            torch.mps.set_rng_state(state["mps_rng"])

    @property
    def optimizers(self) -> list[torch.optim.Optimizer]:
        """The model's optimizer, then each objective term's."""
        return [self.optimizer, *self.objective_optimizers]

    def training_state(self) -> dict:
        state = {
            "optimizer": self.optimizer.state_dict(),
            "objectives": {term.name: {"weights": {k: v.detach().cpu() for k, v in term.state_dict().items()},
                                       "optimizer": optimizer.state_dict()}
                           for term, optimizer in zip(self.objectives, self.objective_optimizers)},
            "shuffle_rng": self.shuffle_generator.get_state(),
            **self._generator_state(),  # process 0's, as every one-process file has them
            "noise_device": self.device.type,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "world_size": self.world.size,
        }
        if self.world.distributed:
            state["ranks"] = list(self._all_generators or [])
        return state

    # whether the file this run last wrote holds the derived data (cvae.derived), so a cancel need not add it
    _derived_on_disk = False

    def save(self, with_derived: bool = False, partial: dict | None = None) -> None:
        state = self.training_state()
        if partial is not None:
            state["partial"] = partial
        metrics = {k: v for k, v in (self.history[-1] if self.history else {}).items()
                   if k.startswith("test_") or k.startswith("train_")}
        derived = self._derive() if with_derived else Derived()
        checkpoint = Checkpoint(
            model=self.model, label_names=self.label_names, dataset=self.dataset_info,
            train_config=self.config.to_dict(), epoch=self.epoch, metrics=metrics, history=self.history,
            training_state=state, derived=derived.to_dict(),
        )
        self._phase("saving")
        try:
            save_checkpoint(checkpoint, self.checkpoint_path)
        except OSError as exc:  # the write is atomic: whatever was at the path before is still there
            raise OutputWriteError(f"cannot write {self.checkpoint_path}: {exc.strerror or exc}; "
                                   f"{self._kept()}") from None
        self.saved_epoch = self.epoch
        self._dirty = False
        self._derived_on_disk = with_derived
        if partial is not None:
            self.callbacks.on_checkpoint(self.checkpoint_path, self.epoch)

    def _derive(self) -> Derived:
        """What the explorer needs from this model (cvae.derived: test-set encodings; face samples, attribute rows
        and rates), computed without touching the training generators."""
        if self.test_data is not None:
            self._phase("encoding", len(self.test_data))
        return derive(self.model, self.train_data, self.test_data)

    def _derive_into_saved(self) -> None:
        """A cancel that finds nothing moved since the file on disk was written (between epochs, or at once after a
        resume) keeps that file: its training state is exact, the one in memory has drawn the next epoch's order.
        A per-epoch file lacks the derived data, so it is added to the file, the rest re-written as read; the
        weights in memory are the file's. Only a file this run wrote or resumed is touched."""
        if self._derived_on_disk or not (self._resumed or self.saved_epoch > 0) or not self.checkpoint_path.exists():
            return
        raw = read_checkpoint_dict(self.checkpoint_path)
        if not raw.get("derived"):
            derived = self._derive()
            self._phase("saving")
            raw["derived"] = derived.to_dict()
            try:
                write_checkpoint_dict(raw, self.checkpoint_path)
            except OSError as exc:  # atomic: the file without derived data is still there
                raise OutputWriteError(f"cannot write {self.checkpoint_path}: {exc.strerror or exc}; "
                                       f"{self._kept()}") from None
        self._derived_on_disk = True

    def _remove_stale_temporaries(self) -> None:
        """Temporary files a killed writer of this checkpoint left beside it (the rename never happened)."""
        folder, name = self.checkpoint_path.parent, self.checkpoint_path.name
        if not folder.is_dir():
            return
        for leftover in folder.glob(f".{name}.*.tmp"):
            try:
                leftover.unlink()
            except OSError:
                pass

    @torch.no_grad()
    def _preview_inputs(self):
        """Fixed latents (and labels) for the per-epoch preview, so successive previews are comparable."""
        count = self.config.sample_count
        if count <= 0 or not hasattr(self.model, "decode"):
            return None
        data = self.test_data if self.test_data is not None else self.train_data
        if not self.model.variational:  # an autoencoder has no prior: preview reconstructions instead
            return data.images[:count].float() / 255, data.labels[:count] if self.model.conditional else None
        generator = torch.Generator().manual_seed(self.config.seed + 4)
        z = torch.randn((count, self.model.latent_dim), generator=generator).to(self.device)
        labels = None
        if self.model.conditional:
            if data.label_kind == "class":
                labels = torch.arange(count, device=self.device) % len(data.label_names)
            else:  # attribute rows of the first images, repeated when the set is smaller than the preview
                labels = data.labels[torch.arange(count) % len(data)]
        return z, labels

    @torch.no_grad()
    def _emit_samples(self, epoch: int) -> None:
        if self._preview is None or not self.callbacks:
            return
        self.model.eval()
        inputs, labels = self._preview
        images = (self.model.decode(inputs, labels) if self.model.variational
                  else self.model.reconstruct(inputs, labels)).cpu()
        self.callbacks.on_samples(epoch, images)


def _as_flag_value(value: float):
    """A cancel flag's value as it travelled between processes (a float) back as the int it was."""
    return int(value) if float(value).is_integer() else value
