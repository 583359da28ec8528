"""Attribute edits beyond flipping one label: the attributes an edit implies, and latent attribute directions.

A face model conditioned on all 40 CelebA attributes obeys the 39 it was not asked to change: "flip Male" alone
asks for a man with lipstick, heavy make-up and earrings. The implied edit also sets the attributes that go with
the flipped one in the training labels (|Pearson r| above a threshold) to their most likely values given its new
value — which is what a 13-attribute editor such as AttGAN's flip amounts to.

An attribute direction (White 2016, "Sampling generative networks") is a vector in the latent space that adds
an attribute to a code. The plain mean difference of codes with and without it also carries whatever co-occurs
with it (men's codes differ from women's in make-up too); the least-squares fit of the codes on all attributes at
once gives each attribute's effect with the others held fixed — the bias-corrected direction.
"""

from __future__ import annotations

import torch

IMPLIED_THRESHOLD = 0.3  # |r| in the training labels above which an attribute goes with another
EDIT_MODES = ("label", "direction", "both")


def label_correlations(rows: torch.Tensor) -> torch.Tensor:
    """(A, A) Pearson correlations of binary attribute rows (N, A); a constant attribute correlates with none."""
    x = rows.float()
    x = x - x.mean(0)
    scale = x.pow(2).sum(0).sqrt()
    r = (x.t() @ x) / (scale[:, None] * scale[None, :]).clamp_min(1e-12)
    return r.fill_diagonal_(1.0)


def implied_partners(rows: torch.Tensor, attribute: int, threshold: float = IMPLIED_THRESHOLD) -> list[int]:
    """The attributes that go with `attribute` in `rows`: |r| > threshold, strongest first."""
    r = label_correlations(rows)[attribute]
    order = torch.argsort(r.abs(), descending=True).tolist()
    return [j for j in order if j != attribute and abs(float(r[j])) > threshold]


def implied_labels(labels: torch.Tensor, attribute: int, value: float, rows: torch.Tensor,
                   threshold: float = IMPLIED_THRESHOLD) -> tuple[torch.Tensor, list[int]]:
    """`labels` (N, A) with `attribute` set to `value` and each of its partners set to its most likely value given
    that one in `rows` (present when more than half of the rows with the attribute at that value have it).
    Returns (edited labels, the partners set). A value between 0 and 1 (a strength) picks the side it is
    nearer to for the partners."""
    rows = rows.float()
    side = rows[:, attribute] >= 0.5 if value >= 0.5 else rows[:, attribute] < 0.5
    edited = labels.float().clone()
    edited[:, attribute] = value
    partners = implied_partners(rows, attribute, threshold)
    if partners and bool(side.any()):
        likely = (rows[side][:, partners].mean(0) > 0.5).float()
        edited[:, partners] = likely.to(edited)
    return edited, partners


def flipped_labels(labels: torch.Tensor, attribute: int,
                   rows: torch.Tensor | None = None) -> tuple[torch.Tensor, list[int]]:
    """Each face's `labels` with `attribute` flipped (added where it was off, removed where it was on): alone, or
    (given training `rows`) with its implied partners set likewise. Returns (targets, the partners set by either
    flip). The edit that the editing metric and the face sheet make per attribute."""
    target = labels.float().clone()
    partners: set[int] = set()
    for value in (0.0, 1.0):  # the faces gaining the attribute, then those losing it
        faces = labels[:, attribute] != value
        if not faces.any():
            continue
        if rows is None:
            target[faces, attribute] = value
        else:
            target[faces], set_too = implied_labels(labels[faces], attribute, value, rows)
            partners.update(set_too)
    return target, sorted(partners)


def implied_edit(labels: torch.Tensor, values: dict[int, float], rows: torch.Tensor,
                 threshold: float = IMPLIED_THRESHOLD) -> tuple[torch.Tensor, dict[int, float]]:
    """`labels` (N, A) with several attributes set at once ({attribute: value}), each with its partners
    (implied_labels, in the order given: where two set attributes imply the same partner, the later one's value
    stands); an attribute set in `values` always keeps its own value, never a partner's. Returns (edited labels,
    {partner: the value it was set to} for the partners set, those in `values` left out)."""
    edited = labels.float().clone()
    implied: dict[int, float] = {}
    for attribute, value in values.items():
        edited, partners = implied_labels(edited, attribute, value, rows, threshold)
        for partner in partners:
            if partner not in values and len(edited) and bool((edited[:, partner] == edited[0, partner]).all()):
                implied[partner] = float(edited[0, partner])  # set alike for every row (not: no row to read)
    for attribute, value in values.items():
        edited[:, attribute] = value
    return edited, implied


def attribute_directions(means: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(A, D): for each attribute the latent vector that adds it, from codes `means` (N, D) of faces with
    attributes `labels` (N, A): the coefficients of the least-squares fit means ≈ labels · W + b, i.e. each
    attribute's effect with the co-occurring ones held fixed. An attribute no face has (or all have) gets 0."""
    y = labels.float()
    varies = (y.min(0).values != y.max(0).values)
    design = torch.cat([y[:, varies], torch.ones(len(y), 1)], dim=1).double()
    solution = torch.linalg.lstsq(design, means.double()).solution  # (A' + 1, D)
    directions = torch.zeros(y.shape[1], means.shape[1], dtype=torch.double)
    directions[varies] = solution[:-1]
    return directions.to(means.dtype)


def mean_difference_directions(means: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(A, D): the uncorrected directions, mean code with the attribute minus mean code without (for comparison:
    it mixes in whatever co-occurs)."""
    y = labels.float()
    out = torch.zeros(y.shape[1], means.shape[1], dtype=means.dtype)
    for k in range(y.shape[1]):
        on, off = y[:, k] >= 0.5, y[:, k] < 0.5
        if on.any() and off.any():
            out[k] = means[on].mean(0) - means[off].mean(0)
    return out


def edit_inputs(z: torch.Tensor, labels: torch.Tensor, target: torch.Tensor, mode: str,
                directions: torch.Tensor | None = None, strength: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """What to decode for an edit from `labels` to `target` (both (N, A)): by `label` (the same code, the target
    labels; `strength` scales the change of the labels), by latent `direction` (the code moved by `strength` ×
    the label change along the directions, the labels as they were) or `both`. Returns (codes, labels)."""
    if mode not in EDIT_MODES:
        raise ValueError(f"edit mode {mode!r}; expected one of {', '.join(EDIT_MODES)}")
    change = target.float() - labels.float()
    if mode == "label":
        return z, labels.float() + strength * change
    if directions is None:
        raise ValueError(f"a {mode} edit needs attribute directions")
    moved = z + strength * change.to(z) @ directions.to(z)
    return moved, (labels.float() if mode == "direction" else labels.float() + strength * change)
