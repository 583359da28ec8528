"""Objective terms (cvae.models.objectives): each network learns only from its own part of the one loss, the
terms are saved and resumed exactly with their own optimizers, and they reach the metrics log."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from cvae.checkpoint import load_checkpoint
from cvae.data import ImageDataset
from cvae.models import ConditionalVAEConfig, build_model
from cvae.models.objectives import AttributeReading, ClassReading, ImageCritic, LatentAdversary
from cvae.models.terms import LossTerms
from tests import fixtures
from trainer import TrainConfig, Trainer
from trainer.callbacks import MetricsLog

A = 5
NAMES = [f"Attribute_{i}" for i in range(A)]


def faces(n: int = 32, seed: int = 0) -> ImageDataset:
    return fixtures.tiny_faces(n, names=NAMES, rates=0.4, seed=seed)  # 16×16 RGB, the first attribute painted in


def face_model(**overrides):
    """The tests' face model (4-d latent, A attributes) with the residual body, the calibrated likelihood and
    all three objective terms."""
    torch.manual_seed(0)
    values = dict(latent_dim=4, num_attributes=A, architecture="residual", likelihood="calibrated",
                  attribute_loss=10.0, latent_adversary=5.0, adversary_warmup=0.0, critic=2.0)
    return fixtures.face_model(**{**values, **overrides})


def grads(module) -> list[torch.Tensor]:
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in module.parameters()]


def one_step(model, terms, x, y, seed=1) -> LossTerms:
    model.train()
    for term in terms:
        term.train()
    model.zero_grad()
    for term in terms:
        term.zero_grad()
    out = model(x, y, 1.0, torch.Generator().manual_seed(seed), terms, 1.0)
    out.loss.backward()
    return out


def test_the_family_lists_its_terms_and_the_model_weights_hold_none_of_them():
    model = face_model()
    assert [type(t) for t in model.objective_terms()] == [AttributeReading, LatentAdversary, ImageCritic]
    assert face_model(attribute_loss=0.0, latent_adversary=0.0, critic=0.0).objective_terms() == []
    assert not any(k.startswith(("reader", "critic", "net")) for k in model.state_dict())
    cvae = build_model(ConditionalVAEConfig(conv_channels=(4, 8), hidden_dim=16, class_loss=3.0))
    assert [type(t) for t in cvae.objective_terms()] == [ClassReading]


def test_each_term_reports_its_figures_and_adds_its_weighted_share():
    model = face_model()
    terms = model.objective_terms()
    data = faces()
    x, y = data.images.float() / 255, data.labels
    out = one_step(model, terms, x, y)
    assert list(out) == ["loss", "nelbo", "rec", "kl", "reader", "control", "adversary", "hiding", "critic",
                         "realism"]
    expected = (out["rec"] + out["kl"] + out["reader"] + 10.0 * out["control"] + out["adversary"]
                + 5.0 * out["hiding"] + out["critic"] + 2.0 * out["realism"])
    assert float(out.loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    eval_terms = model.eval()(x, y)  # evaluation: the model's own terms only
    assert list(eval_terms) == ["loss", "nelbo", "rec", "kl"]


def test_the_reader_learns_from_real_faces_only_and_its_reading_moves_the_decoder():
    model = face_model(latent_adversary=0.0, critic=0.0)
    (reading,) = model.objective_terms()
    data = faces()
    x, y = data.images.float() / 255, data.labels
    one_step(model, [reading], x, y)
    with_term = grads(reading)
    decoder_with = grads(model.decoder)
    reading.zero_grad()
    alone = F.binary_cross_entropy_with_logits(reading.reader(x), y.float(), reduction="none").sum(1).mean()
    alone.backward()
    for a, b in zip(with_term, grads(reading)):
        assert torch.allclose(a, b, atol=1e-6)  # nothing from the decodes reached the reader
    one_step(model, [], x, y)
    assert any(not torch.allclose(a, b) for a, b in zip(decoder_with, grads(model.decoder)))


def test_a_low_pass_reader_reads_the_averaged_faces_and_no_stripe_finer_than_a_block():
    """attribute_read_size: the reader learns from, and reads the decodes as, faces area-averaged to that size, so a
    texture finer than one averaged block (a two-pixel stripe pattern) moves neither its reading nor its loss."""
    model = face_model(latent_adversary=0.0, critic=0.0, attribute_read_size=8)  # 16×16 faces read at 8×8
    (reading,) = model.objective_terms()
    assert reading.read_shape == (8, 8) and face_model(latent_adversary=0.0, critic=0.0).objective_terms()[
        0].read_shape == (16, 16)
    data = faces()
    x, y = data.images.float() / 255, data.labels
    stripes = torch.zeros_like(x)
    stripes[:, :, 0::2] = 0.2
    stripes[:, :, 1::2] = -0.2  # mean 0 over every 2×2 block
    with torch.no_grad():
        assert torch.allclose(reading.reader(reading.look(x)), reading.reader(reading.look(x + stripes)), atol=1e-5)
        assert torch.allclose(reading.look(x), F.avg_pool2d(x, 2))
    out = one_step(model, [reading], x, y)
    alone = F.binary_cross_entropy_with_logits(reading.reader(F.avg_pool2d(x, 2)), y.float(),
                                               reduction="none").sum(1).mean()
    assert float(out["reader"]) == pytest.approx(float(alone.detach()), rel=1e-5)


def test_the_class_reader_targets_every_class_and_teaches_only_the_decoder():
    torch.manual_seed(0)
    model = build_model(ConditionalVAEConfig(conv_channels=(4, 8), hidden_dim=16, label_every_layer=True,
                                             class_loss=5.0))
    (reading,) = model.objective_terms()
    x, labels = torch.rand(500, 1, 28, 28), torch.zeros(500, dtype=torch.long)
    seen = []
    original = model.decode_logits
    model.decode_logits = lambda z, lab, warps=None: (seen.append(lab), original(z, lab, warps))[1]
    one_step(model, [reading], x, labels)
    counts = torch.bincount(seen[-1], minlength=10)
    assert (counts > 25).all()  # drawn uniformly, not the images' own class (all 0 here)
    with_term = grads(reading)
    reading.zero_grad()
    F.cross_entropy(reading.reader(x), labels).backward()
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(with_term, grads(reading)))


def test_the_adversary_trains_on_detached_codes_and_the_encoder_only_through_the_reversed_objective():
    model = face_model(attribute_loss=0.0, critic=0.0)
    (adversary,) = model.objective_terms()
    data = faces()
    x, y = data.images.float() / 255, data.labels
    out = one_step(model, [adversary], x, y)
    with_term = grads(adversary)
    # the adversary's gradient is that of its own BCE on the (detached) codes it saw
    generator = torch.Generator().manual_seed(1)
    mean, logvar = model.encode(x, y)
    z = model.reparameterize(mean, logvar, generator)
    adversary.zero_grad()
    F.binary_cross_entropy_with_logits(adversary(z.detach()), y.float(), reduction="none").sum(1).mean().backward()
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(with_term, grads(adversary)))
    # the encoder's extra gradient is the hiding term's: the decoder is untouched by it
    encoder_with, decoder_with = grads(model.encoder), grads(model.decoder)
    one_step(model, [], x, y)
    assert any(not torch.allclose(a, b) for a, b in zip(encoder_with, grads(model.encoder)))
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(decoder_with, grads(model.decoder)))
    assert float(out["hiding"]) > 0


def test_the_adversary_weight_ramps_up_over_its_warmup():
    adversary = face_model(attribute_loss=0.0, critic=0.0, latent_adversary=4.0, adversary_warmup=2.0
                           ).objective_terms()[0]
    assert [adversary.ramp(p) for p in (0.0, 1.0, 2.0, 5.0)] == [0.0, 2.0, 4.0, 4.0]


def test_the_critic_sees_only_real_faces_and_decodes_and_trains_on_its_own_hinge_loss():
    model = face_model(latent_adversary=0.0)
    reading, critic = model.objective_terms()
    data = faces()
    x, y = data.images.float() / 255, data.labels
    inputs = []
    handle = critic.critic.register_forward_hook(lambda module, args, output: inputs.append(args[0]))
    model.train()
    critic.eval()  # spectral norm's power iteration then stands still, so the passes below use the same weights
    out = model(x, y, 1.0, torch.Generator().manual_seed(1), [reading, critic], 1.0)
    handle.remove()
    assert torch.equal(inputs[0], x)  # the real faces as they are
    assert not inputs[1].requires_grad and inputs[1].shape == x.shape  # detached decodes
    assert inputs[2].requires_grad  # the decoder's view, through detached critic weights
    assert torch.allclose(inputs[1], inputs[2].detach())
    model.zero_grad()
    critic.zero_grad()
    out.loss.backward()
    with_term = grads(critic)
    critic.zero_grad()
    hinge = F.relu(1 - critic.critic(x)).mean() + F.relu(1 + critic.critic(inputs[1])).mean()
    hinge.backward()
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(with_term, grads(critic)))
    assert float(out["critic"]) > 0


def _train(path, epochs, data, cancel_after=None, resume=False):
    config = TrainConfig(epochs=epochs, batch_size=8, learning_rate=2e-3, seed=3, sample_count=0,
                         lr_schedule="constant")
    if resume:
        return Trainer.resume(path, data, None, epochs=epochs).run()
    return Trainer(face_model(), data, None, config, path).run()


@pytest.mark.slow  # three short training runs of the residual body
def test_a_resumed_run_with_three_objective_terms_continues_exactly(tmp_path):
    data = faces(24)
    straight = _train(tmp_path / "straight.pt", 2, data)
    _train(tmp_path / "split.pt", 1, data)
    resumed = _train(tmp_path / "split.pt", 2, data, resume=True)
    for key in ("train_loss", "train_reader", "train_control", "train_adversary", "train_hiding", "train_critic",
                "train_realism"):
        assert [r[key] for r in resumed.history] == [r[key] for r in straight.history], key
    a, b = load_checkpoint(tmp_path / "straight.pt"), load_checkpoint(tmp_path / "split.pt")
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(p, q), name
    saved = a.training_state["objectives"]
    assert sorted(saved) == ["attribute-reading", "image-critic", "latent-adversary"]
    assert all(saved[n]["optimizer"]["state"] for n in saved)  # each term's Adam moments travel with the run


def test_resume_refuses_a_file_whose_terms_differ(tmp_path):
    from cvae.errors import CheckpointError

    data = faces(16)
    _train(tmp_path / "r.pt", 1, data)
    raw = torch.load(tmp_path / "r.pt", weights_only=True)
    del raw["training_state"]["objectives"]["image-critic"]
    torch.save(raw, tmp_path / "r.pt")
    with pytest.raises(CheckpointError, match="objective terms"):
        Trainer.resume(tmp_path / "r.pt", data, None, epochs=2)


def test_the_terms_reach_the_metrics_log(tmp_path):
    data = faces(16)
    path = tmp_path / "log.pt"
    Trainer(face_model(), data, data, TrainConfig(epochs=1, batch_size=8, sample_count=0), path,
            [MetricsLog(MetricsLog.path_for(path))]).run()
    record = json.loads(MetricsLog.path_for(path).read_text().splitlines()[-1])
    assert {"train_reader", "train_control", "train_adversary", "train_hiding", "train_critic",
            "train_realism"} <= set(record)
    assert {"test_nelbo", "test_rec", "test_kl"} <= set(record) and "test_critic" not in record
