"""Fréchet Inception Distance, in pytorch-fid's three stages, from in-memory image batches.

1. `activations(batches, network)`: (N, D) features. Images are float in [0, 1] (or uint8); by default they are
   rounded to 8 bits as an 8-bit PNG would store them, grey images are repeated to 3 channels (what PIL's
   `convert("RGB")` does on pytorch-fid's dataset path) and bilinearly resized to 299×299 (pytorch-fid's
   `resize_input`). The network maps (N, 3, H, W) in [0, 1] to (N, D); `load_inception()` gives pytorch-fid's
   FID Inception (2048-d pool features), and tests inject small random networks instead.
2. `statistics(features)`: mean and covariance (float64, unbiased, as `np.cov`), cached for reference sets in
   pytorch-fid's `.npz` format (keys `mu`, `sigma`) by `reference_statistics`.
3. `frechet_distance(mu1, sigma1, mu2, sigma2)`: ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr √(Σ1 Σ2).

With the same images and the same network the value equals pytorch-fid's own (`python -m pytorch_fid` over PNG
files of them); `benchmarks/bench_fid.py` checks that and compares the speed. Nothing here downloads anything:
the Inception weights are looked up on disk (`find_inception_weights`) and a missing file is a MissingWeightsError
that says where to get it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cvae.errors import ConfigError, MissingWeightsError

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILE
WEIGHTS_ENV = "CVAE_INCEPTION_WEIGHTS"
CACHE_ENV = "CVAE_FID_CACHE"
INCEPTION_NAME = "inception-2015-12-05"  # names the network in cached statistics' file names
INCEPTION_SIZE = 299
INCEPTION_DIMS = 2048
UNBIASED_SAMPLES = 2048  # below this many samples (the feature size) FID is known to be biased upwards


class FewSamplesWarning(UserWarning):
    """Statistics from fewer samples than features: FID is then biased (upwards) and not comparable."""


# ----- the network ------------------------------------------------------------------------------------------

def hub_weights_path() -> Path:
    """Where torch.hub (and so pytorch-fid) keeps the downloaded weights: <hub dir>/checkpoints/<file>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def find_inception_weights(path: str | os.PathLike | None = None) -> Path:
    """The FID Inception weights file: torch hub's checkpoint cache first (where pytorch-fid puts them), then
    `path` (a file, or a folder holding it), then $CVAE_INCEPTION_WEIGHTS. A missing file is a MissingWeightsError
    whose one line names every place looked at and how to provide it."""
    candidates = [hub_weights_path()]
    if path:
        candidates.append(Path(path).expanduser())
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        candidates.append(Path(env).expanduser())
    for candidate in candidates:
        if candidate.is_dir():
            candidate = candidate / WEIGHTS_FILE
        if candidate.is_file():
            return candidate
    looked = [f"the torch hub cache {hub_weights_path().parent}"]
    looked.append(f"--inception-weights {path}" if path else "--inception-weights (not given)")
    looked.append(f"${WEIGHTS_ENV}={env}" if env else f"${WEIGHTS_ENV} (not set)")
    raise MissingWeightsError(
        f"FID needs the Inception weights file {WEIGHTS_FILE}, which is not on this machine (looked in "
        f"{', '.join(looked)}); download {WEIGHTS_URL} and pass --inception-weights PATH or set {WEIGHTS_ENV}=PATH")


class FidInception(nn.Module):
    """pytorch-fid's `InceptionV3([3])` without its resize: (N, 3, H, W) in [0, 1] → (N, 2048) pool features.

    Built from torchvision's Inception v3 (no weights) with pytorch-fid's own FID blocks put in, layer for layer
    what `pytorch_fid.inception.fid_inception_v3` builds, so its weight files load with the same keys; only the
    weights come from a local file instead of a download."""

    def __init__(self, state_dict: dict[str, torch.Tensor] | None = None):
        super().__init__()
        import torchvision
        from pytorch_fid import inception as fid

        # with weights to load, build on the meta device and take the loaded tensors as they are: no random
        # initialisation of 24 million parameters that are about to be replaced (a second saved on a CPU)
        with torch.device("meta") if state_dict is not None else contextlib.nullcontext():
            net = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None,
                                                  init_weights=False)
            for name, block in (("Mixed_5b", fid.FIDInceptionA(192, pool_features=32)),
                                ("Mixed_5c", fid.FIDInceptionA(256, pool_features=64)),
                                ("Mixed_5d", fid.FIDInceptionA(288, pool_features=64)),
                                ("Mixed_6b", fid.FIDInceptionC(768, channels_7x7=128)),
                                ("Mixed_6c", fid.FIDInceptionC(768, channels_7x7=160)),
                                ("Mixed_6d", fid.FIDInceptionC(768, channels_7x7=160)),
                                ("Mixed_6e", fid.FIDInceptionC(768, channels_7x7=192)),
                                ("Mixed_7b", fid.FIDInceptionE_1(1280)),
                                ("Mixed_7c", fid.FIDInceptionE_2(2048))):
                setattr(net, name, block)
        if state_dict is not None:
            state_dict = {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v
                          for k, v in state_dict.items()}
            net.load_state_dict(state_dict, strict=True, assign=True)
            if any(t.is_meta for t in (*net.parameters(), *net.buffers())):
                raise ValueError("some weights were not in the state dict")
        names = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                 "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                 "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool")
        self.layers = nn.Sequential(*(getattr(net, name) for name in names))
        self.weights_name: str | None = None  # set when the real weights are loaded (names cached statistics)
        self.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.mul(2).sub_(1)).flatten(1)  # pytorch-fid's normalize_input: [0, 1] → [-1, 1]


def load_inception(weights: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> FidInception:
    """pytorch-fid's FID Inception with the weights from `find_inception_weights(weights)`, on `device`."""
    path = find_inception_weights(weights)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        network = FidInception(state)
        network.weights_name = INCEPTION_NAME
    except Exception as exc:  # unpickling, a damaged zip, wrong keys or shapes: all mean "not that file"
        detail = " ".join(str(exc).split())[:160]
        raise MissingWeightsError(f"{path} is not a usable copy of {WEIGHTS_FILE} ({detail}); download it again "
                                  f"from {WEIGHTS_URL}") from None
    return network.to(device)


# ----- stage 1: activations ---------------------------------------------------------------------------------

def prepare(images: torch.Tensor, size: int | None = INCEPTION_SIZE, quantize: bool = True) -> torch.Tensor:
    """(N, C, H, W) uint8 or [0, 1] float images → (N, 3, size, size) float in [0, 1], as pytorch-fid's dataset
    path makes them from 8-bit PNG files: rounded to 1/255 steps (`quantize`), grey repeated to RGB, then
    resized bilinearly (align_corners=False) as its `resize_input` does. Resizing each channel on its own and
    repeating afterwards gives the same numbers as repeating first, for a third of the work."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ConfigError(f"FID needs (N, 1 or 3, H, W) images, got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        x = images.float() / 255
    else:
        x = images.float().clamp(0, 1)
        if quantize:  # as torchvision's save_image stores floats: ⌊255·x + 0.5⌋
            x = torch.floor(x * 255 + 0.5) / 255
    if size is not None and tuple(x.shape[2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def _device_of(network: Callable) -> torch.device:
    if isinstance(network, nn.Module):
        for tensor in network.parameters():
            return tensor.device
        for tensor in network.buffers():
            return tensor.device
    return torch.device("cpu")


def _as_features(output) -> torch.Tensor:
    """(N, D) from what a feature network returns: a tensor, a (N, D, h, w) map (averaged, as pytorch-fid does
    for its smaller blocks) or pytorch-fid's list of block outputs."""
    if isinstance(output, (list, tuple)):
        output = output[0]
    if output.dim() == 4:
        output = F.adaptive_avg_pool2d(output, 1) if output.shape[2:] != (1, 1) else output
    return output.flatten(1)


def _batches(images: torch.Tensor | Iterable[torch.Tensor], batch_size: int) -> Iterable[torch.Tensor]:
    if torch.is_tensor(images):
        return images.split(batch_size)
    return images


@torch.no_grad()
def activations(images: torch.Tensor | Iterable[torch.Tensor], network: Callable[[torch.Tensor], torch.Tensor],
                batch_size: int = 50, preprocess: Callable[[torch.Tensor], torch.Tensor] | None = prepare,
                on_batch: Callable[[int], None] | None = None, device: str | torch.device | None = None,
                ) -> np.ndarray:
    """(N, D) float64 features of `images` (a tensor, split into `batch_size` batches, or an iterable of batches,
    e.g. a generator that decodes samples as it goes), each batch put through `preprocess` (default: `prepare`,
    FID's 8-bit rounding, RGB and 299×299) on the network's device (or `device`), then `network`.
    `on_batch(images_done)` runs after each batch; raising from it stops the work (cooperative cancel)."""
    if isinstance(network, nn.Module):
        network.eval()
    device = torch.device(device) if device is not None else _device_of(network)
    out: list[np.ndarray] = []
    done = 0
    for batch in _batches(images, batch_size):
        batch = batch.to(device)
        features = _as_features(network(preprocess(batch) if preprocess is not None else batch))
        out.append(features.double().cpu().numpy())
        done += batch.shape[0]
        if on_batch is not None:
            on_batch(done)
    if not out:
        raise ConfigError("FID got no images: expected at least 2")
    return np.concatenate(out)


# ----- stage 2: statistics ----------------------------------------------------------------------------------

def statistics(features: np.ndarray, what: str = "images") -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (float64) of (N, D) features, as pytorch-fid computes them. Fewer than two
    samples have no covariance (ConfigError); fewer than 2,048 give a noticeably biased FID (FewSamplesWarning:
    the estimate is biased upwards at any count, by roughly 1/N, and comparable only between equal counts)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ConfigError(f"FID statistics need (N, D) features, got shape {features.shape}")
    count = features.shape[0]
    if count < 2:
        raise ConfigError(f"FID needs at least 2 {what} to estimate a covariance, got {count}")
    if count < UNBIASED_SAMPLES:
        warnings.warn(f"FID from {count} {what} (< {UNBIASED_SAMPLES}) is biased upwards and comparable only to "
                      f"figures from the same count; use {UNBIASED_SAMPLES} or more (10,000 is usual)",
                      FewSamplesWarning, stacklevel=2)
    return features.mean(axis=0), np.cov(features, rowvar=False).reshape(features.shape[1], features.shape[1])


def save_statistics(path: str | os.PathLike, mu: np.ndarray, sigma: np.ndarray) -> Path:
    """pytorch-fid's `.npz` (exactly `mu` and `sigma`), written to a temporary file beside `path`, then renamed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:  # a file object, so numpy adds no second ".npz"
            np.savez(out, mu=np.asarray(mu, dtype=np.float64), sigma=np.asarray(sigma, dtype=np.float64))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_statistics(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) from a `.npz` as pytorch-fid writes it (`--save-stats`) or as `save_statistics` does."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            mu, sigma = data["mu"][:], data["sigma"][:]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{path} is not FID statistics (expected an .npz with arrays mu and sigma: "
                          f"{' '.join(str(exc).split())[:120]})") from None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ConfigError(f"{path}: mu has shape {mu.shape} and sigma {sigma.shape}; expected (D,) and (D, D)")
    return mu.astype(np.float64), sigma.astype(np.float64)


def default_cache_dir() -> Path:
    """$CVAE_FID_CACHE, else <user cache dir>/cvae-explorer/fid ($XDG_CACHE_HOME or ~/.cache)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "cvae-explorer" / "fid"


def network_name(network: Callable) -> str:
    """What cached statistics are keyed by: the Inception's name, or a digest of another network's weights."""
    if getattr(network, "weights_name", None):
        return network.weights_name
    digest = hashlib.sha1(type(network).__name__.encode())
    if isinstance(network, nn.Module):
        for key, tensor in network.state_dict().items():
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return "net-" + digest.hexdigest()[:10]


def reference_path(cache_dir: str | os.PathLike | None, dataset: str, split: str, images: torch.Tensor,
                   network: Callable) -> Path:
    """<cache>/<dataset>-<split>-<H>x<W>-n<count>-<content digest>-<network>.npz: computed once per data set,
    split, image size and count, and never mistaken for another set's (the digest covers the pixels)."""
    digest = hashlib.sha1(images.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:10]
    h, w = images.shape[2:]
    folder = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    return folder / f"{dataset}-{split}-{h}x{w}-n{images.shape[0]}-{digest}-{network_name(network)}.npz"


def reference_statistics(images: torch.Tensor, network: Callable, dataset: str, split: str,
                         cache_dir: str | os.PathLike | None = None, batch_size: int = 50,
                         on_batch: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray, bool]:
    """(mu, sigma, from_cache) for a real image set (uint8): read from the cache when there, else computed and
    cached. A cache file that cannot be read is recomputed and replaced; one that cannot be written is skipped
    (the figure is the same, only slower next time)."""
    path = reference_path(cache_dir, dataset, split, images, network)
    if path.is_file():
        try:
            mu, sigma = load_statistics(path)
            return mu, sigma, True
        except ConfigError:
            pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewSamplesWarning)  # the caller warns once about the run's counts
        mu, sigma = statistics(activations(images, network, batch_size, on_batch=on_batch), "reference images")
    try:
        save_statistics(path, mu, sigma)
    except OSError:
        pass
    return mu, sigma, False


# ----- stage 3: the distance ---------------------------------------------------------------------------------

def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr √(Σ1 Σ2) for symmetric positive semi-definite Σ1, Σ2, through symmetric matrices only.

    With Σ1 = R Rᵀ (a Cholesky factor, or the symmetric root V √W Vᵀ), Σ1 Σ2 = R (Rᵀ Σ2 R) R⁻¹ is similar to the
    symmetric PSD M = Rᵀ Σ2 R, so it has M's eigenvalues λ ≥ 0 and tr √(Σ1 Σ2) = Σ √λ. Why not scipy's `sqrtm` of
    the product, as pytorch-fid does: the product is not symmetric, so `sqrtm` runs a complex Schur decomposition,
    returns round-off imaginary parts that must be checked and dropped, and its `disp` argument that pytorch-fid
    passes is gone from scipy 1.18; a symmetric eigenvalue solver is backward stable, real, and on 2048-d features
    ~10× faster (4-5 s against ~50 s on a 2-core CPU). Σ1 is factored by Cholesky when it is positive definite
    (the usual case, more samples than features), then Σ2 instead (the trace is symmetric in the two); when both
    are singular (fewer samples than features) the root comes from Σ1's eigendecomposition, its zero eigenvalues
    contributing nothing. Round-off leaves tiny negative λ for rank-deficient products; they are clamped to 0.
    """
    from scipy.linalg import eigh

    for first, second in ((sigma1, sigma2), (sigma2, sigma1)):
        try:
            root = np.linalg.cholesky(first)
            break
        except np.linalg.LinAlgError:
            continue
    else:
        w, v = eigh(sigma1, driver="evd")
        root, second = (v * np.sqrt(np.clip(w, 0, None))) @ v.T, sigma2
    m = root.T @ second @ root
    eigenvalues = eigh((m + m.T) / 2, eigvals_only=True, driver="evd")
    return float(np.sqrt(np.clip(eigenvalues, 0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 √(Σ1 Σ2)), the Fréchet distance between two Gaussians (FID on Inception
    features). Inputs are symmetrised; a decomposition that fails on a near-singular pair is retried with eps·I
    added to both covariances, as pytorch-fid does. Mismatched shapes or non-finite statistics are ConfigErrors."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != mu2.shape or mu1.ndim != 1 or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ConfigError(f"Fréchet distance of mismatched statistics: means {mu1.shape} and {mu2.shape}, "
                          f"covariances {sigma1.shape} and {sigma2.shape}")
    for name, value in (("first mean", mu1), ("second mean", mu2), ("first covariance", sigma1),
                        ("second covariance", sigma2)):
        if not np.isfinite(value).all():
            raise ConfigError(f"Fréchet distance: the {name} holds NaN or infinite values (did the images?)")
    sigma1, sigma2 = (sigma1 + sigma1.T) / 2, (sigma2 + sigma2.T) / 2
    try:
        tr_covmean = trace_sqrt_product(sigma1, sigma2)
    except (np.linalg.LinAlgError, ValueError):  # no convergence, or non-finite intermediate values
        tr_covmean = float("nan")
    if not np.isfinite(tr_covmean):
        offset = np.eye(d) * eps
        tr_covmean = trace_sqrt_product(sigma1 + offset, sigma2 + offset)
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)
    return max(value, 0.0)  # round-off can make identical sets come out at -1e-12


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """The distance between two feature sets (convenience for tests and small sets)."""
    return frechet_distance(*statistics(features1), *statistics(features2))
