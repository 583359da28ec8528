"""Implied attributes and latent attribute directions (cvae.attribute_edits), and the editing figures measured
with them (cvae.metrics.edit_control)."""

from __future__ import annotations

import pytest
import torch

from cvae.attribute_edits import (attribute_directions, edit_inputs, implied_labels, implied_partners,
                                  label_correlations, mean_difference_directions)


def correlated_rows(n: int = 4000, seed: int = 0) -> torch.Tensor:
    """Attribute 0 ("male"); 1 ("lipstick") mostly present without it; 2 independent; 3 ("beard") mostly with it."""
    g = torch.Generator().manual_seed(seed)
    male = torch.rand(n, generator=g) < 0.4
    lipstick = torch.where(male, torch.rand(n, generator=g) < 0.05, torch.rand(n, generator=g) < 0.8)
    other = torch.rand(n, generator=g) < 0.5
    beard = torch.where(male, torch.rand(n, generator=g) < 0.6, torch.rand(n, generator=g) < 0.01)
    return torch.stack([male, lipstick, other, beard], 1).float()


def test_partners_are_the_strongly_correlated_attributes_strongest_first():
    rows = correlated_rows()
    r = label_correlations(rows)
    assert r[0, 1] < -0.5 and r[0, 3] > 0.5 and abs(r[0, 2]) < 0.05
    assert implied_partners(rows, 0) == sorted([1, 3], key=lambda j: -abs(float(r[0, j])))
    assert implied_partners(rows, 2) == []


def test_an_implied_edit_sets_the_partners_to_their_most_likely_values():
    rows = correlated_rows()
    woman_with_lipstick = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    edited, partners = implied_labels(woman_with_lipstick, 0, 1.0, rows)
    assert sorted(partners) == [1, 3]
    assert edited.tolist() == [[1.0, 0.0, 1.0, 1.0]]  # no lipstick, a beard (60% of men), the rest kept
    back, _ = implied_labels(edited, 0, 0.0, rows)
    assert back.tolist() == [[0.0, 1.0, 1.0, 0.0]]


def test_directions_are_corrected_for_co_occurring_attributes():
    """Codes built as z = y·D + noise with attribute 1 strongly anti-correlated with 0: the least-squares
    directions recover D; the plain mean difference of attribute 0 also carries attribute 1's vector."""
    rows = correlated_rows()
    g = torch.Generator().manual_seed(1)
    truth = torch.randn(4, 6, generator=g)
    means = rows @ truth + 0.05 * torch.randn(len(rows), 6, generator=g)
    directions = attribute_directions(means, rows)
    assert torch.allclose(directions, truth, atol=0.02)
    naive = mean_difference_directions(means, rows)
    assert (naive[0] - truth[0]).norm() > 0.5 * truth[1].norm()


def test_an_attribute_no_face_varies_in_gets_no_direction():
    rows = correlated_rows()
    rows[:, 2] = 1.0
    means = torch.randn(len(rows), 3)
    assert attribute_directions(means, rows)[2].abs().sum() == 0


def test_edit_inputs_by_label_direction_or_both():
    z = torch.zeros(2, 3)
    labels = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    target = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    directions = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    codes, decoded = edit_inputs(z, labels, target, "label", directions, strength=2.0)
    assert torch.equal(codes, z) and decoded.tolist() == [[2.0, 1.0], [1.0, 0.0]]
    codes, decoded = edit_inputs(z, labels, target, "direction", directions, strength=2.0)
    assert codes.tolist() == [[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]] and torch.equal(decoded, labels)
    codes, decoded = edit_inputs(z, labels, target, "both", directions)
    assert codes.tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]] and torch.equal(decoded, target)
    with pytest.raises(ValueError, match="needs attribute directions"):
        edit_inputs(z, labels, target, "direction")
