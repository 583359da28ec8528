"""Honest numbers for a model card: held-out loss, the judge's accuracy, conditional accuracy, and the judge
Fréchet distance (the Fréchet distance in the judge's own features: a quality figure that needs no download).
FID proper, in Inception features, is cvae.fid.

The functions that loop over batches take `on_batch(images_done)`, called after each batch (progress); raising
from it stops the loop (cooperative cancel, as trainer.evaluation does)."""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

import torch

from cvae.data import ImageDataset
from cvae.errors import ConfigError
from cvae.models import Classifier, GenerativeModel

OnBatch = Callable[[int], None] | None


@torch.no_grad()
def mean_loss_terms(model, data: ImageDataset, beta: float = 1.0, seed: int = 0, batch_size: int = 1000,
                    on_batch: OnBatch = None) -> dict[str, float]:
    """Per-image means of the loss terms over a whole set (nats), with seeded noise so the figure repeats."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    totals: dict[str, float] = {}
    done = 0
    for images, labels in data.to(device).batches(batch_size):
        terms = model.loss(images, labels, beta=beta, generator=generator)
        for key, value in terms.items():
            if key != "loss":
                totals[key] = totals.get(key, 0.0) + float(value) * images.shape[0]
        done += images.shape[0]
        if on_batch is not None:
            on_batch(done)
    return {k: v / len(data) for k, v in totals.items()}


@torch.no_grad()
def classifier_accuracy(judge: Classifier, data: ImageDataset, batch_size: int = 1000, on_batch: OnBatch = None,
                        ) -> float:
    judge.eval()
    device = next(judge.parameters()).device
    correct = done = 0
    for images, labels in data.to(device).batches(batch_size):
        correct += int((judge.predict(images, batch_size) == labels).sum())
        done += images.shape[0]
        if on_batch is not None:
            on_batch(done)
    return correct / len(data)


@torch.no_grad()
def conditional_accuracy(model: GenerativeModel, judge: Classifier, per_class: int = 1000,
                         temperature: float = 1.0, seed: int = 0, batch_size: int = 1000,
                         on_batch: OnBatch = None) -> tuple[float, list[float]]:
    """Share of prior samples generated for class d that the judge reads as d; overall and per class."""
    model.eval()
    judge.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    classes = model.config.label_dim
    per_class_correct = []
    done = 0
    for label in range(classes):
        correct = 0
        for start in range(0, per_class, batch_size):
            n = min(batch_size, per_class - start)
            z = torch.randn((n, model.latent_dim), generator=generator, device=device) * temperature
            images = model.decode(z, torch.full((n,), label, device=device))
            correct += int((judge(images.to(next(judge.parameters()).device)).argmax(1) == label).sum())
            done += n
            if on_batch is not None:
                on_batch(done)
        per_class_correct.append(correct / per_class)
    return sum(per_class_correct) / classes, per_class_correct


@torch.no_grad()
def reconstruction_accuracy(model: GenerativeModel, judge: Classifier, data: ImageDataset, batch_size: int = 1000,
                            on_batch: OnBatch = None) -> tuple[float, list[float]]:
    """Share of the set's reconstructions (posterior means decoded under their own labels) that the judge reads
    as their label; overall and per class. Next to conditional accuracy it tells the two failures apart: a class
    whose reconstructions are misread is lost in the decoder (detail it cannot draw), one whose reconstructions
    are read right but whose prior samples are not is lost in the prior."""
    model.eval()
    judge.eval()
    device = next(model.parameters()).device
    classes = model.config.label_dim
    correct = torch.zeros(classes, dtype=torch.float64)
    counts = torch.zeros(classes, dtype=torch.float64)
    for images, labels in data.to(device).batches(batch_size):
        shown = model.decode(model.encode(images, labels)[0], labels)
        labels = labels.cpu()
        right = judge(shown.to(next(judge.parameters()).device)).argmax(1).cpu() == labels
        counts += torch.bincount(labels, minlength=classes)
        correct += torch.bincount(labels[right], minlength=classes)
        if on_batch is not None:
            on_batch(int(counts.sum()))
    per_class = [float(c / n) if n else float("nan") for c, n in zip(correct, counts)]
    return float(correct.sum() / counts.sum()), per_class


def labels_like(data: ImageDataset, count: int) -> torch.Tensor:
    """`count` labels as the data has them: the set's own labels in order, repeated as needed (so 10,000 samples
    against the 10,000-image MNIST test set have exactly its class counts, and faces its attribute rows)."""
    return data.labels[torch.arange(count) % len(data)]


@torch.no_grad()
def generated_batches(model: GenerativeModel, count: int, labels: torch.Tensor | None = None,
                      batch_size: int = 500, temperature: float = 1.0, seed: int = 0) -> Iterator[torch.Tensor]:
    """`count` prior samples (N(0, temperature² I), seeded) decoded in batches of [0, 1] images, conditioned on
    `labels` (one per sample, e.g. labels_like(test, count)) or on nothing; nothing is kept in memory."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    for start in range(0, count, batch_size):
        n = min(batch_size, count - start)
        z = torch.randn((n, model.latent_dim), generator=generator, device=device) * temperature
        batch_labels = labels[start:start + n].to(device) if labels is not None else None
        yield model.decode(z, batch_labels)


def _as_float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255 if images.dtype == torch.uint8 else images.float()


@torch.no_grad()
def judge_features(judge: Classifier, images: torch.Tensor | Iterable[torch.Tensor], batch_size: int = 1000,
                   on_batch: OnBatch = None):
    """(N, hidden_dim) float64 numpy features from the judge's penultimate layer, images at their own size
    (uint8 or [0, 1] float; no 8-bit rounding, no resize: the judge reads what the model makes)."""
    from cvae.fid import activations

    judge.eval()
    return activations(images, judge.features, batch_size, preprocess=_as_float, on_batch=on_batch,
                       device=next(judge.parameters()).device)


def judge_fd(judge: Classifier, real: torch.Tensor | Iterable[torch.Tensor],
             generated: torch.Tensor | Iterable[torch.Tensor], batch_size: int = 1000) -> float:
    """The judge Fréchet distance: the Fréchet distance between Gaussians fitted to the judge's penultimate
    features of `real` and of `generated` images. Lower is better, 0 for identical sets. Not FID: the features
    are a small digit classifier's, not Inception's, so the figure compares models judged by the same judge
    only; it needs no download and runs anywhere. Fewer than 2 images per set are refused (ConfigError)."""
    from cvae.fid import frechet_distance, statistics

    real_stats = statistics(judge_features(judge, real, batch_size), "real images")
    generated_stats = statistics(judge_features(judge, generated, batch_size), "generated images")
    return frechet_distance(*real_stats, *generated_stats)


# ----- faces: the attribute judge's accuracy, and how well a face model obeys its attributes -----
CONTROL_ATTRIBUTES = ("Smiling", "Eyeglasses", "Male", "Blond_Hair", "Mustache", "Wearing_Hat")


def _judge_columns(judge, names: list[str]) -> None:
    if judge.config.num_attributes != len(names):
        raise ConfigError(f"the judge reads {judge.config.num_attributes} attributes; the data has {len(names)}")


def _column(names: list[str], name: str) -> int:
    if name not in names:
        raise ConfigError(f"attribute {name!r} is not one of the data's: {', '.join(names)}")
    return names.index(name)


@torch.no_grad()
def attribute_accuracy(judge, data: ImageDataset, batch_size: int = 500, on_batch: OnBatch = None) -> dict:
    """The judge on labelled faces: per attribute its accuracy, balanced accuracy and the data's positive rate, and
    the means over attributes (plus what always answering each attribute's majority gives, for scale)."""
    from cvae.models.attribute_judge import balanced_accuracy

    _judge_columns(judge, data.label_names)
    judge.eval()
    tick = _Ticker(on_batch)
    chunks = []
    for start in range(0, len(data.images), batch_size):  # one judge batch at a time, so a cancel lands in one
        chunks.append(judge.predict(data.images[start:start + batch_size].float() / 255, batch_size).cpu())
        tick(chunks[-1].shape[0])
    predicted = torch.cat(chunks) if chunks else torch.zeros(0, len(data.label_names), dtype=torch.bool)
    truth = data.labels.bool().cpu()
    accuracy = (predicted == truth).float().mean(0)
    balanced = balanced_accuracy(predicted, truth)
    rates = truth.float().mean(0)
    per_attribute = [{"name": name, "accuracy": float(accuracy[k]), "balanced_accuracy": float(balanced[k]),
                      "positive_rate": float(rates[k])} for k, name in enumerate(data.label_names)]
    return {"mean_accuracy": float(accuracy.mean()), "mean_balanced_accuracy": float(balanced.mean()),
            "majority_accuracy": float(torch.maximum(rates, 1 - rates).mean()), "per_attribute": per_attribute}


class _Ticker:
    """Counts images over several passes and calls on_batch(done so far) after each batch (progress and cancel)."""

    def __init__(self, on_batch: OnBatch):
        self.on_batch, self.done = on_batch, 0

    def __call__(self, images: int) -> None:
        self.done += images
        if self.on_batch is not None:
            self.on_batch(self.done)


def _decode_and_judge(model: GenerativeModel, judges: list, z: torch.Tensor, labels: torch.Tensor,
                      batch_size: int, tick: _Ticker | None = None, keep_images: bool = False):
    """(each judge's (N, A) readings, the decoded images or None): decoded once and read by every judge, one batch
    at a time, `tick` after each, so that a cancel stops within one batch. The same readings as judging all
    images at once with the same batch size."""
    device = next(model.parameters()).device
    readings, images = [[] for _ in judges], []
    for i in range(0, len(z), batch_size):
        batch = model.decode(z[i:i + batch_size].to(device), labels[i:i + batch_size].to(device)).float().cpu()
        for judge, read in zip(judges, readings):
            read.append(judge.predict(batch, batch_size).cpu())
        if keep_images:
            images.append(batch)
        if tick is not None:
            tick(batch.shape[0])
    return [torch.cat(read) for read in readings], (torch.cat(images) if keep_images else None)


def _judges(judge, names: list[str]) -> tuple[list, bool]:
    """(the judges as a list, whether one was given): a metric reads the same decodes by one judge or by several
    side by side (issue 20: every figure by two independent judges), and reports in kind."""
    several = isinstance(judge, (list, tuple))
    judges = list(judge) if several else [judge]
    for one in judges:
        _judge_columns(one, names)
        one.eval()
    return judges, not several


def _set_attribute(labels: torch.Tensor, k: int, value: float, rows: torch.Tensor | None) -> tuple[torch.Tensor, list]:
    """`labels` with attribute k set to `value`: alone, or (given training `rows`) with its implied partners."""
    if rows is None:
        edited = labels.clone()
        edited[:, k] = value
        return edited, []
    from cvae.attribute_edits import implied_labels

    return implied_labels(labels, k, value, rows)


@torch.no_grad()
def attribute_control(model: GenerativeModel, judge, data: ImageDataset, attributes=CONTROL_ATTRIBUTES,
                      count: int = 1000, seed: int = 0, temperature: float = 1.0, batch_size: int = 250,
                      on_batch: OnBatch = None, implied_rows: torch.Tensor | None = None) -> dict:
    """Generation control: `count` prior samples with attribute vectors drawn like `data` (its rows in order),
    decoded once with each attribute forced on and once forced off, same z: the judge's on-rate, off-rate and
    their gap per attribute. A gap of 1 is perfect control; 0 means the toggle does nothing the judge can see.
    With `implied_rows` (training attribute rows) the attributes that go with each one are set likewise
    (cvae.attribute_edits.implied_labels). `judge` may be a list of judges: then a list of reports, one per
    judge, all from the same decodes."""
    judges, one = _judges(judge, data.label_names)
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn((count, model.latent_dim), generator=generator) * temperature
    base = labels_like(data, count).float()
    outs, tick = [{} for _ in judges], _Ticker(on_batch)  # on_batch after each decoded batch: 2 × attributes × count
    for name in attributes:
        k = _column(data.label_names, name)
        rates = [[] for _ in judges]
        for value in (1.0, 0.0):
            labels, _ = _set_attribute(base, k, value, implied_rows)
            readings, _ = _decode_and_judge(model, judges, z, labels, batch_size, tick)
            for rate, read in zip(rates, readings):
                rate.append(float(read[:, k].float().mean()))
        for out, rate in zip(outs, rates):
            out[name] = {"on_rate": rate[0], "off_rate": rate[1], "gap": rate[0] - rate[1]}
    return outs[0] if one else outs


@torch.no_grad()
def edit_control(model: GenerativeModel, judge, data: ImageDataset, attributes=CONTROL_ATTRIBUTES,
                 count: int = 1000, batch_size: int = 250, implied_rows: torch.Tensor | None = None,
                 mode: str = "label", directions: torch.Tensor | None = None, strength: float = 1.0,
                 on_batch: OnBatch = None) -> dict:
    """Editing real faces: the first `count` faces of `data` encoded to their posterior means under their own
    attributes and decoded with one attribute flipped. Per attribute: success (the judge reads the flipped value),
    separately for adding and removing it, and preservation (the share of the other judged attributes whose
    reading did not change from the unedited decode's); plus the unedited decode's reconstruction error.

    `implied_rows` (training attribute rows): the flip also sets the attributes implied by it, and preservation
    counts only the attributes the edit did not set (`implied` lists them per attribute). `mode` edits by label,
    by latent `directions` or both, at `strength` (cvae.attribute_edits.edit_inputs).

    `on_batch(done)` after every batch encoded or decoded: count × (len(attributes) + 2) images in all (encoding,
    the unedited decode, one decode per attribute); raising from it stops the work. `judge` may be a list of
    judges: then a list of reports, one per judge, all from the same decodes."""
    from cvae.attribute_edits import edit_inputs, flipped_labels
    from cvae.latent import encode_means

    judges, one = _judges(judge, data.label_names)
    model.eval()
    images = data.images[:count].float() / 255
    labels = data.labels[:count].float()
    tick = _Ticker(on_batch)
    means = []
    for start in range(0, len(images), batch_size):
        means.append(encode_means(model, images[start:start + batch_size], labels[start:start + batch_size],
                                  batch_size).float().cpu())
        tick(means[-1].shape[0])
    z = torch.cat(means)
    befores, reconstructions = _decode_and_judge(model, judges, z, labels, batch_size, tick, keep_images=True)
    mse = float(((reconstructions - images) ** 2).mean())
    outs: list[dict] = [{"faces": len(images), "reconstruction_mse": mse,
                         "reconstruction_psnr": float(-10 * torch.log10(torch.tensor(max(mse, 1e-12)))),
                         "attributes": {}} for _ in judges]
    for name in attributes:
        k = _column(data.label_names, name)
        target, partners = flipped_labels(labels, k, implied_rows)
        codes, decode_labels = edit_inputs(z, labels, target, mode, directions, strength)
        afters, _ = _decode_and_judge(model, judges, codes, decode_labels, batch_size, tick)
        adding = target[:, k] == 1
        others = torch.ones(len(data.label_names), dtype=torch.bool)
        others[k] = False
        others[partners] = False
        for out, before, after in zip(outs, befores, afters):
            flipped = after[:, k] == target[:, k].bool()
            out["attributes"][name] = {
                "success": float(flipped.float().mean()),
                "add_success": float(flipped[adding].float().mean()) if adding.any() else float("nan"),
                "remove_success": float(flipped[~adding].float().mean()) if (~adding).any() else float("nan"),
                "preservation": float((after[:, others] == before[:, others]).float().mean()),
            }
            if implied_rows is not None:
                out["attributes"][name]["implied"] = [data.label_names[j] for j in partners]
    return outs[0] if one else outs


def sharpness(images: torch.Tensor) -> float:
    """Mean squared response of a 3×3 Laplacian on the grey level of [0, 1] (or uint8) images: fine detail. A
    model's samples over the real faces' figure says how much detail it keeps (blur drives it toward 0)."""
    images = _as_float(images)
    grey = images.mean(1, keepdim=True)
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
    return float(torch.nn.functional.conv2d(grey, kernel.to(grey)).pow(2).mean())
