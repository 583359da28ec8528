"""The training loop: Adam over an in-memory dataset, a held-out loss and an atomic checkpoint every epoch.

Exact resume: each checkpoint holds the optimizer state and every random generator the loop draws from
(shuffling, reparameterisation noise, dropout), so a run stopped after epoch k and resumed produces the
same numbers as one that never stopped. The held-out loss uses its own freshly seeded generator so that
evaluating never disturbs training.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn

from cvae.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from cvae.data import ImageDataset
from cvae.device import resolve_device
from cvae.errors import CheckpointError, OutputWriteError, ResourceError, TrainingDiverged
from cvae.latent import encode_means
from cvae.metrics import mean_loss_terms
from cvae.models.for_data import check_fits
from trainer.callbacks import BatchProgress, TrainingCallback
from trainer.config import TrainConfig


class TrainingCancelled(Exception):
    """Raised inside the loop when the cancel flag is seen; `run` turns it into a result."""


@dataclass
class TrainResult:
    status: str  # "finished" or "cancelled"
    epoch: int  # last completed (and checkpointed) epoch
    history: list[dict] = field(default_factory=list)
    checkpoint_path: Path | None = None


def _flag(cancel) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if hasattr(cancel, "is_set"):
        return cancel.is_set
    return cancel


class Trainer:
    """Trains `model` on `train_data`, evaluating on `test_data`, checkpointing to `checkpoint_path`."""

    def __init__(self, model: nn.Module, train_data: ImageDataset, test_data: ImageDataset | None,
                 config: TrainConfig, checkpoint_path: str | Path,
                 callbacks: Iterable[TrainingCallback] = (), cancel=None):
        self.config = config
        self.device = resolve_device(config.device)
        # channels-last weights: convolutions (transposed ones above all) train ~20% faster on CPU, and it is the
        # layout tensor cores want on CUDA; checkpoints hold the same values whatever the layout
        self.model = model.to(self.device, memory_format=torch.channels_last)
        self._check_data(train_data, "training")
        if test_data is not None:
            self._check_data(test_data, "test")
        self.label_names = train_data.label_names
        self.dataset_info = train_data.describe()
        self.train_data = train_data.to(self.device)
        self.test_data = test_data.to(self.device) if test_data is not None else None
        self.checkpoint_path = Path(checkpoint_path)
        self.callbacks = list(callbacks)
        self.cancelled = _flag(cancel)
        self.optimizer = (torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate,
                                            weight_decay=config.weight_decay) if config.weight_decay
                          else torch.optim.Adam(self.model.parameters(), lr=config.learning_rate))
        self.use_amp = config.mixed_precision and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if self.use_amp else None
        self.shuffle_generator = torch.Generator().manual_seed(config.seed)
        self.noise_generator = torch.Generator(device=self.device).manual_seed(config.seed + 1)
        torch.manual_seed(config.seed + 2)  # dropout draws from the global generator
        self.epoch = 0
        self.saved_epoch = 0  # the epoch of the checkpoint now on disk from this run (0: none)
        self.history: list[dict] = []
        self._preview = self._preview_inputs()

    def _check_data(self, data: ImageDataset, role: str) -> None:
        check_fits(self.model.config, data, role)

    # ----- resume -----
    @classmethod
    def resume(cls, checkpoint_path: str | Path, train_data: ImageDataset, test_data: ImageDataset | None,
               callbacks: Iterable[TrainingCallback] = (), cancel=None, epochs: int | None = None,
               device: str | None = None) -> "Trainer":
        """Continue a run from its last checkpoint; `epochs` may extend the run's total."""
        checkpoint = load_checkpoint(checkpoint_path)
        if not checkpoint.training_state:
            raise CheckpointError(f"{checkpoint_path} has no training state to resume from (it was saved for "
                                  "exploration only)")
        values = dict(checkpoint.train_config)
        if epochs is not None:
            values["epochs"] = epochs
        if device is not None:
            values["device"] = device
        config = TrainConfig.from_dict(values)
        trainer = cls(checkpoint.model, train_data, test_data, config, checkpoint_path, callbacks, cancel)
        state = checkpoint.training_state
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.shuffle_generator.set_state(state["shuffle_rng"])
        trainer.noise_generator.set_state(state["noise_rng"])
        torch.set_rng_state(state["torch_rng"])
        if trainer.scaler is not None and state.get("scaler"):
            trainer.scaler.load_state_dict(state["scaler"])
        trainer.epoch = trainer.saved_epoch = checkpoint.epoch
        trainer.history = list(checkpoint.history)
        return trainer

    # ----- the loop -----
    def run(self) -> TrainResult:
        for callback in self.callbacks:
            callback.on_start(self)
        status = "finished"
        started = time.perf_counter()
        start_epoch = self.epoch
        try:
            for epoch in range(self.epoch + 1, self.config.epochs + 1):
                record = self._train_epoch(epoch, started, start_epoch)
                if self.test_data is not None:
                    self._phase("evaluating", len(self.test_data))
                    record.update(self.evaluate(self.test_data, prefix="test_"))
                    self._guard(record, epoch)
                self.epoch = epoch
                self.history.append(record)
                final = epoch == self.config.epochs
                self.save(with_encodings=final)
                for callback in self.callbacks:
                    callback.on_epoch(record)
                    callback.on_checkpoint(self.checkpoint_path, epoch)
                self._emit_samples(epoch)
        except TrainingCancelled:
            status = "cancelled"
        except torch.OutOfMemoryError:
            raise ResourceError(f"out of {self.device.type.upper()} memory at batch size {self.config.batch_size}; "
                            f"{self._kept()}. Try a smaller batch size.") from None
        except OSError as exc:  # a callback's file (the metrics log); the checkpoint's own failures come from save
            raise OutputWriteError(f"cannot write {exc.filename or 'an output file'}: {exc.strerror or exc}; "
                                   f"{self._kept()}") from None
        result = TrainResult(status, self.epoch, list(self.history), self.checkpoint_path)
        for callback in self.callbacks:
            callback.on_end(result)
        return result

    def _learning_rate(self, step: int, total: int) -> float:
        base = self.config.learning_rate
        if self.config.lr_schedule == "constant":
            return base
        low = base * self.config.final_lr_fraction
        return low + (base - low) * 0.5 * (1 + math.cos(math.pi * min(step / max(total, 1), 1.0)))

    def _beta(self, step: int, batches_per_epoch: int) -> float:
        warmup = self.config.beta_warmup_epochs * batches_per_epoch
        return self.config.beta * (min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0)

    def _train_epoch(self, epoch: int, run_started: float, start_epoch: int) -> dict:
        self.model.train()
        data, config = self.train_data, self.config
        batches = math.ceil(len(data) / config.batch_size)
        report_every = 1 if self.device.type == "cpu" else 20
        totals: dict[str, torch.Tensor] = {}
        seen = 0
        epoch_started = time.perf_counter()
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.use_amp else nullcontext()
        for batch_index, (images, labels) in enumerate(data.batches(config.batch_size, True, self.shuffle_generator),
                                                       start=1):
            if self.cancelled():
                raise TrainingCancelled()
            step = (epoch - 1) * batches + batch_index - 1
            lr = self._learning_rate(step, config.epochs * batches)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            beta = self._beta(step, batches)
            with autocast:
                terms = self.model.loss(images, labels, beta=beta, generator=self.noise_generator)
            loss = terms["loss"]
            self.optimizer.zero_grad(set_to_none=True)
            try:
                if self.scaler is not None:
                    self.scaler.scale(loss).backward()
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:
                    loss.backward()
                    self.optimizer.step()
            except RuntimeError as exc:  # a step so large it leaves float32's range (a huge --lr): a divergence
                if "overflow" not in str(exc):
                    raise
                self._diverged(epoch, batch_index)
            n = images.shape[0]
            seen += n
            for key, value in terms.items():
                totals[key] = totals.get(key, 0.0) + value.detach().float() * n
            if batch_index % report_every == 0 or batch_index == batches:
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    self._diverged(epoch, batch_index)
                now = time.perf_counter()
                rate = seen / max(now - epoch_started, 1e-9)
                done = (epoch - 1 - start_epoch) * len(data) + seen
                left = (config.epochs - start_epoch) * len(data) - done
                overall = done / max(now - run_started, 1e-9)
                progress = BatchProgress(epoch, config.epochs, batch_index, batches, loss_value, rate,
                                         now - run_started, left / max(overall, 1e-9))
                for callback in self.callbacks:
                    callback.on_batch(progress)
        seconds = time.perf_counter() - epoch_started
        record = {"epoch": epoch}
        record.update({f"train_{k}": float(v) / seen for k, v in totals.items()})
        record.update({"lr": lr, "beta": beta, "seconds": round(seconds, 3), "images_per_second": round(seen / seconds, 1)})
        self._guard(record, epoch)
        return record

    def _guard(self, record: dict, epoch: int) -> None:
        if any(isinstance(v, float) and not math.isfinite(v) for v in record.values()):
            self._diverged(epoch, None)

    def _diverged(self, epoch: int, batch: int | None) -> None:
        where = f"epoch {epoch}" + (f", batch {batch}" if batch else "")
        raise TrainingDiverged(f"training diverged: the loss became NaN or infinite at {where}; {self._kept()}. "
                               "Try a lower learning rate.")

    def _kept(self) -> str:
        return (f"the last good checkpoint (epoch {self.saved_epoch}) is kept at {self.checkpoint_path}"
                if self.saved_epoch else "no checkpoint was written")

    def _phase(self, phase: str, images: int | None = None) -> None:
        for callback in self.callbacks:
            callback.on_phase(phase, images)

    def evaluate(self, data: ImageDataset, prefix: str = "test_") -> dict:
        """Mean loss terms per image over `data`, with fixed noise so the figure is repeatable."""
        terms = mean_loss_terms(self.model, data, self.config.beta, self.config.seed + 3)
        return {prefix + k: v for k, v in terms.items()}

    # ----- outputs -----
    def training_state(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "shuffle_rng": self.shuffle_generator.get_state(),
            "noise_rng": self.noise_generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
        }

    def save(self, with_encodings: bool = False) -> None:
        state = self.training_state()
        metrics = {k: v for k, v in (self.history[-1] if self.history else {}).items()
                   if k.startswith("test_") or k.startswith("train_")}
        derived = {}
        if with_encodings and self.test_data is not None and getattr(self.model, "latent_dim", None):
            self._phase("encoding", len(self.test_data))
            self.model.eval()
            labels = self.test_data.labels if self.model.conditional else None
            derived = {"test_encodings": encode_means(self.model, self.test_data.images, labels).cpu().half(),
                       "test_labels": self.test_data.labels.cpu()}
        checkpoint = Checkpoint(
            model=self.model, label_names=self.label_names, dataset=self.dataset_info,
            train_config=self.config.to_dict(), epoch=self.epoch, metrics=metrics, history=self.history,
            training_state=state, derived=derived,
        )
        self._phase("saving")
        try:
            save_checkpoint(checkpoint, self.checkpoint_path)
        except OSError as exc:  # the write is atomic: whatever was at the path before is still there
            raise OutputWriteError(f"cannot write {self.checkpoint_path}: {exc.strerror or exc}; "
                                   f"{self._kept()}") from None
        self.saved_epoch = self.epoch

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
            else:
                labels = data.labels[:count]
        return z, labels

    @torch.no_grad()
    def _emit_samples(self, epoch: int) -> None:
        if self._preview is None or not self.callbacks:
            return
        self.model.eval()
        inputs, labels = self._preview
        images = (self.model.decode(inputs, labels) if self.model.variational
                  else self.model.reconstruct(inputs, labels)).cpu()
        for callback in self.callbacks:
            callback.on_samples(epoch, images)
