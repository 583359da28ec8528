"""Running the training loop under `torchrun`: the process's place in the job, its device, the process group,
and the few collective operations the loop needs (agreeing on stop flags, gathering RNG state, waiting).

A process started without torchrun (no WORLD_SIZE, or WORLD_SIZE=1) is a world of one: nothing here starts a
process group or talks to anyone, and the loop behaves exactly as it always has.

torchrun sets, for every process it starts: WORLD_SIZE (processes in the job), RANK (this one's number in the
job), LOCAL_RANK (its number on this machine, which picks its GPU), and MASTER_ADDR/MASTER_PORT (where the
processes meet); `init_process_group` reads them (init_method "env://").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from cvae.device import resolve_device
from cvae.errors import ConfigError

RANK_STRIDE = 1_000_003  # process r draws its noise and dropout from seed + offset + r·RANK_STRIDE
POSITION_STRIDE = 7_919  # re-derived generators (a resume with another process count) also mix in the step


@dataclass(frozen=True)
class World:
    """This process's place in a (possibly one-process) training job."""

    size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes the checkpoint, the metrics log and the progress output."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> World:
        """The job torchrun describes in the environment; a world of one without torchrun. An initialised process
        group (a program that set one up itself) wins over the environment."""
        environ = os.environ if environ is None else environ
        local = _env_int(environ, "LOCAL_RANK", 0)
        if environ is os.environ and dist.is_available() and dist.is_initialized():
            return cls(dist.get_world_size(), dist.get_rank(), local)
        size = _env_int(environ, "WORLD_SIZE", 1)
        rank = _env_int(environ, "RANK", 0)
        if size < 1 or not 0 <= rank < size or local < 0:
            raise ConfigError(f"inconsistent torchrun environment: WORLD_SIZE={size}, RANK={rank}, "
                              f"LOCAL_RANK={local}; expected 0 <= RANK < WORLD_SIZE")
        return cls(size, rank, local)

    def seed(self, base: int, position: int = 0) -> int:
        """A seed for this process's own generators: `base` itself for rank 0 at position 0 (a one-process run
        draws exactly what it always drew), distinct and reproducible for every other rank and position."""
        return (base + RANK_STRIDE * self.rank + POSITION_STRIDE * position) % (2 ** 63)

    def label(self) -> str:
        return "" if not self.distributed else f" (process {self.rank} of {self.size})"

    def images_per_epoch(self, images: int, batch_size: int) -> int:
        """All `images`, except that with several processes a last short batch is cut to a multiple of the process
        count, so that every process takes an equal share of every batch (at most size - 1 images are left out,
        a different few each epoch since the order is shuffled)."""
        return images - (images % batch_size) % self.size

    def share(self, start: int, size: int) -> slice:
        """This process's part of the global batch at positions [start, start + size) of the epoch's order."""
        each = size // self.size
        return slice(start + self.rank * each, start + (self.rank + 1) * each)


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"environment variable {name}={text!r} is not a whole number (set by torchrun)") from None


def training_device(name: str | None, world: World) -> torch.device:
    """The device this process trains on. One process: `name` as cvae.device resolves it. Under torchrun,
    `auto` and `cuda` mean the GPU numbered LOCAL_RANK (one process per GPU), or the CPU where there is no GPU;
    a single named GPU (`cuda:1`) or MPS cannot be shared by several processes and is refused."""
    name = (name or "auto").lower()
    if not world.distributed:
        return resolve_device(name)
    if name in ("auto", "cuda") and torch.cuda.is_available():
        count = torch.cuda.device_count()
        if world.local_rank >= count:
            raise ConfigError(f"process {world.rank} has LOCAL_RANK {world.local_rank} but this machine has "
                              f"{count} CUDA GPU{'s' if count != 1 else ''}; start at most {count} processes per "
                              "machine (torchrun --nproc-per-node)")
        return torch.device("cuda", world.local_rank)
    if name == "auto":
        return torch.device("cpu")
    device = resolve_device(name)  # refuses what does not exist here, with its own message
    if device.type == "cuda":
        raise ConfigError(f"--device {name} would put all {world.size} processes on one GPU; under torchrun use "
                          "--device auto or cuda (each process takes the GPU numbered by its LOCAL_RANK)")
    if device.type != "cpu":
        raise ConfigError(f"--device {name} cannot be shared by {world.size} processes; under torchrun use "
                          "auto, cuda or cpu")
    return device


def check_batch_size(batch_size: int, world: World, what: str = "--batch-size") -> int:
    """Images per process and step: the global batch split evenly; a batch that does not split is refused."""
    if batch_size % world.size:
        raise ConfigError(f"{what} {batch_size} does not split evenly over {world.size} processes; give a multiple "
                          f"of {world.size} (it is the global batch: each process takes an equal share)")
    return batch_size // world.size


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"


def start(world: World, device: torch.device, timeout: timedelta | None = None) -> bool:
    """Join the job's process group (from torchrun's environment). Returns whether this call created it (and so
    should end it); False for a world of one or a group that already exists."""
    if not world.distributed:
        return False
    if not dist.is_available():
        raise ConfigError("this PyTorch build has no torch.distributed; it cannot run under torchrun")
    if dist.is_initialized():
        if dist.get_world_size() != world.size:
            raise ConfigError(f"the process group has {dist.get_world_size()} processes but the job has "
                              f"{world.size}")
        return False
    backend = backend_for(device)
    options = {"backend": backend, "init_method": "env://", "world_size": world.size, "rank": world.rank}
    if timeout is not None:
        options["timeout"] = timeout
    if device.type == "cuda":
        torch.cuda.set_device(device)
        options["device_id"] = device  # binds the NCCL communicator to this process's GPU
    try:
        dist.init_process_group(**options)
    except (ValueError, RuntimeError) as exc:  # no MASTER_ADDR/PORT, a rendezvous that cannot be reached, ...
        detail = " ".join(str(exc).split())[:200]
        raise ConfigError(f"cannot join the torchrun job as process {world.rank} of {world.size} ({backend}): "
                          f"{detail}") from None
    return True


def stop() -> None:
    """Leave the process group, if there is one (safe to call more than once)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def backend() -> str | None:
    return dist.get_backend() if dist.is_available() and dist.is_initialized() else None


def gather(values: list[float], device: torch.device) -> list[list[float]]:
    """Every process's `values` (the same length everywhere), in rank order: one small collective from which
    each process computes the same sums and maxima, so all of them take the same decision."""
    mine = torch.tensor(values, dtype=torch.float64 if device.type != "mps" else torch.float32, device=device)
    everyone = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(everyone, mine)
    return torch.stack(everyone).cpu().tolist()


def agree_max(value: float, device: torch.device) -> float:
    """The largest of every process's `value` (0 = nothing to report)."""
    return max(row[0] for row in gather([float(value)], device))


def all_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum of `tensor` over all processes (in place, and returned)."""
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def gather_objects(value) -> list:
    """Every process's picklable `value`, in rank order (small things only: RNG states, a record)."""
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, value)
    return everyone


def broadcast_object(value, source: int = 0):
    """Rank `source`'s `value` on every process."""
    box = [value]
    dist.broadcast_object_list(box, src=source)
    return box[0]


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
