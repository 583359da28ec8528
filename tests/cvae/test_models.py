import pytest
import torch

from cvae.errors import ConfigError
from cvae.latent import prepare_for_inference
from cvae.models import (AutoencoderConfig, BetaCVAEConfig, ClassifierConfig, ConditionalVAEConfig, VAEConfig,
                         build_model, config_from_dict)

SIZES = [(28, 28), (32, 32), (64, 64), (27, 33)]


def labels_for(config, n):
    if config.family in ("cvae", "classifier"):
        return torch.arange(n) % config.num_classes
    if config.family == "beta-cvae":
        return torch.randint(0, 2, (n, config.num_attributes))
    return None


@pytest.mark.parametrize("architecture", ["plain", "residual"])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("cls", [AutoencoderConfig, VAEConfig, ConditionalVAEConfig, BetaCVAEConfig])
def test_generative_models_reconstruct_at_the_data_size(cls, size, architecture):
    config = cls(image_size=size, image_channels=3 if cls is BetaCVAEConfig else 1, conv_channels=(4, 8),
                 hidden_dim=16, architecture=architecture)
    model = build_model(config)
    x = torch.rand(3, config.image_channels, *size)
    labels = labels_for(config, 3)
    mean, logvar = model.encode(x, labels)
    logits = model.decode_logits(mean, labels)
    assert logits.shape == x.shape
    assert mean.shape == (3, config.latent_dim)
    assert (logvar is None) == (cls is AutoencoderConfig)
    images = model.decode(mean, labels)
    assert images.min() >= 0 and images.max() <= 1
    terms = model.loss(x, labels)
    assert terms["loss"].requires_grad and torch.isfinite(terms["loss"])


def test_defaults_match_the_design():
    assert ConditionalVAEConfig().latent_dim == 2
    assert BetaCVAEConfig().latent_dim == 128 and BetaCVAEConfig().image_size == (64, 64)
    assert AutoencoderConfig().latent_dim == 4
    assert VAEConfig().latent_dim == 20


def test_beta_cvae_sees_labels_as_encoder_channels():
    config = BetaCVAEConfig(image_size=(16, 16), conv_channels=(4, 8), hidden_dim=16, num_attributes=5)
    model = build_model(config)
    assert model.encoder.net[0].in_channels == 3 + 5
    x = torch.rand(2, 3, 16, 16)
    mean_a, _ = model.encode(x, torch.zeros(2, 5))
    mean_b, _ = model.encode(x, torch.ones(2, 5))
    assert not torch.allclose(mean_a, mean_b)


def test_config_round_trip_rebuilds_the_same_model():
    config = ConditionalVAEConfig(image_size=(20, 24), conv_channels=(3, 5), hidden_dim=7, likelihood="gaussian")
    again = config_from_dict("cvae", config.to_dict())
    assert again == config
    a, b = build_model(config), build_model(again)
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]


@pytest.mark.parametrize("values, message", [
    ({"latent_dim": 0}, "latent_dim"),
    ({"likelihood": "poisson"}, "likelihood"),
    ({"image_size": (8, 8), "conv_channels": (4, 4, 4, 4)}, "too many"),
])
def test_bad_configuration_names_the_field(values, message):
    with pytest.raises(ConfigError, match=message):
        ConditionalVAEConfig(**values)


def test_unknown_config_fields_are_rejected():
    with pytest.raises(ConfigError, match="unknown fields: colour"):
        config_from_dict("vae", {"colour": "red"})


def test_losses_are_per_image_nats():
    model = build_model(VAEConfig(image_size=(8, 8), conv_channels=(2,), hidden_dim=4))
    x = torch.rand(5, 1, 8, 8)
    one = model.loss(x[:1], generator=torch.Generator().manual_seed(0))
    many = model.loss(x[:1].repeat(5, 1, 1, 1), generator=torch.Generator().manual_seed(0))
    # per-image means do not grow with the batch; the Bernoulli term of 64 pixels is at most 64·log-scale
    assert many["rec"] == pytest.approx(float(one["rec"]), rel=0.05)
    assert many["nelbo"] == pytest.approx(float(many["rec"] + many["kl"]))


def test_class_labels_become_one_hot_and_broadcast():
    model = build_model(ConditionalVAEConfig(image_size=(8, 8), conv_channels=(2,), hidden_dim=4))
    z = torch.zeros(4, 2)
    single = model.decode(z, torch.tensor([3]))
    explicit = model.decode(z, torch.full((4,), 3))
    assert torch.equal(single, explicit)
    with pytest.raises(ConfigError, match="conditional"):
        model.decode(z, None)


def test_classifier_predicts_classes():
    model = build_model(ClassifierConfig(image_size=(12, 12), conv_channels=(2,), hidden_dim=4)).eval()
    assert model.predict(torch.rand(7, 1, 12, 12)).shape == (7,)


def test_judge_augmentation_shifts_each_image_within_the_limit():
    from cvae.models.classifier import random_shift
    x = torch.zeros(50, 1, 9, 9)
    x[:, :, 4, 4] = 1
    moved = random_shift(x, 2, torch.Generator().manual_seed(0))
    positions = {tuple(p) for p in moved[:, 0].nonzero()[:, 1:].tolist()}
    assert moved.sum() == 50  # nothing lost: the pixel stays inside the image
    assert len(positions) > 5 and all(2 <= r <= 6 and 2 <= c <= 6 for r, c in positions)


def test_judge_trains_on_shifted_images_and_evaluates_the_images_as_given():
    from cvae.models.classifier import random_shift
    small = dict(image_size=(12, 12), conv_channels=(4,), hidden_dim=8, dropout=0.0)
    torch.manual_seed(0)
    judge = build_model(ClassifierConfig(**small, augment_shift=2))
    with torch.no_grad():  # sharper than a fresh initialisation, so that what the judge reads shows in its loss
        for parameter in judge.parameters():
            parameter.mul_(4)
    plain = build_model(ClassifierConfig(**small))  # the same weights, no augmentation
    plain.load_state_dict(judge.state_dict())
    x, labels = torch.rand(16, 1, 12, 12), torch.arange(16) % 10

    def cross_entropy(images):
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(plain.eval()(images), labels))

    judge.train()
    trained = float(judge.loss(x, labels, generator=torch.Generator().manual_seed(0))["loss"].detach())
    shifted = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert not torch.equal(shifted, x)
    assert trained == pytest.approx(cross_entropy(shifted), rel=1e-6)  # the loss reads the shifted batch ...
    assert abs(trained - cross_entropy(x)) > 0.01  # ... not the batch as given
    other = float(judge.loss(x, labels, generator=torch.Generator().manual_seed(1))["loss"].detach())
    assert other != trained  # each draw shifts differently
    assert torch.equal(judge(x), plain(x))  # forward itself never shifts, even in training

    judge.eval()  # evaluation: no shift whatever the generator, the same answer every time
    evaluated = [float(judge.loss(x, labels, generator=torch.Generator().manual_seed(s))["loss"].detach())
                 for s in (0, 1)]
    assert evaluated[0] == evaluated[1] == pytest.approx(cross_entropy(x), rel=1e-6)
    assert torch.equal(judge(x), plain(x)) and torch.equal(judge.predict(x), plain.predict(x))


def test_the_seed_layout_of_fully_connected_layers():
    seed = build_model(ConditionalVAEConfig())
    assert [k for k in seed.state_dict() if "fc" in k or "head" in k] == [
        "encoder_head.0.weight", "encoder_head.0.bias", "decoder.fc.0.weight", "decoder.fc.0.bias",
        "decoder.fc.2.weight", "decoder.fc.2.bias"]


def test_retired_fields_of_older_files_load_only_at_their_neutral_values():
    """fc_layers and decoder_refine measured no gain and were removed; files that never used them still load,
    a file that did is refused by name; a judge saved with the generative fields it never used loads too."""
    values = ConditionalVAEConfig().to_dict()
    assert config_from_dict("cvae", {**values, "fc_layers": 1, "decoder_refine": 0}) == ConditionalVAEConfig()
    with pytest.raises(ConfigError, match="decoder_refine = 3 is no longer supported"):
        config_from_dict("cvae", {**values, "decoder_refine": 3})
    judge = ClassifierConfig().to_dict()
    old_judge = {**judge, "latent_dim": 2, "likelihood": "bernoulli", "fc_layers": 1, "warp_probability": 0.0}
    assert config_from_dict("classifier", old_judge) == ClassifierConfig()
    assert "latent_dim" not in judge  # the judge's own configuration has no generative fields any more


@pytest.mark.parametrize("size", [(28, 28), (27, 33)])
def test_label_fed_to_every_decoder_layer(size):
    config = ConditionalVAEConfig(image_size=size, conv_channels=(4, 8), hidden_dim=16, label_channels=True,
                                  label_every_layer=True)
    model = build_model(config).eval()
    assert model.encoder.net[0].in_channels == 1 + 10
    z = torch.zeros(2, 2)
    images = model.decode(z, torch.tensor([1, 1]))
    assert images.shape == (2, 1, *size)
    # the last conv sees the label directly: changing only the label changes the output
    assert not torch.allclose(images, model.decode(z, torch.tensor([2, 2])))
    again = config_from_dict("cvae", config.to_dict())
    assert build_model(again).load_state_dict(model.state_dict()) is not None


@pytest.mark.parametrize("size, layout", [((28, 28), torch.channels_last), ((27, 33), torch.contiguous_format)])
def test_the_inference_copy_folds_label_planes_into_the_same_outputs(size, layout):
    config = ConditionalVAEConfig(image_size=size, conv_channels=(4, 8), hidden_dim=16, label_channels=True,
                                  label_every_layer=True)
    torch.manual_seed(0)
    model = build_model(config).eval().to(memory_format=layout)
    fast = prepare_for_inference(model)
    assert fast.decoder.folded_labels is not None and model.decoder.folded_labels is None
    z = torch.randn(6, 2)
    for labels in (torch.tensor([4]), torch.tensor([0, 1, 2, 3, 9, 9])):  # one label for all, or one each
        with torch.no_grad():
            expected = model.decode(z, labels)  # the training model: label planes concatenated
        assert torch.allclose(fast.decode(z, labels), expected, atol=1e-6)
        assert not torch.equal(fast.decode(z, labels), expected)  # really another computation, not the same path


def test_the_training_model_never_takes_the_inference_paths():
    """No global switch: decoding the training model under no_grad (as evaluation and previews do) runs the
    ordinary layers, and training it after a copy was made leaves the copy as it was."""
    config = ConditionalVAEConfig(image_size=(12, 12), conv_channels=(4, 8), hidden_dim=16, label_every_layer=True)
    torch.manual_seed(0)
    model = build_model(config).eval()
    fast = prepare_for_inference(model)
    z, labels = torch.randn(3, 2), torch.tensor([4])
    before = fast.decode(z, labels)
    with torch.no_grad():
        model.decoder.net[0].weight.mul_(1.5)  # an optimizer step on the original
        changed = model.decode(z, labels)
    assert torch.equal(fast.decode(z, labels), before)  # the copy is independent
    assert torch.allclose(prepare_for_inference(model).decode(z, labels), changed, atol=1e-6)  # a new copy sees it
    assert not any(p.requires_grad for p in fast.parameters()) and all(p.requires_grad for p in model.parameters())


def test_an_opened_model_is_converted_in_place_with_the_same_decodes():
    """The explorer's open converts the loaded model itself (copy=False): the same object, frozen, decoding what a
    copy decodes, with no second set of weights."""
    config = ConditionalVAEConfig(image_size=(12, 12), conv_channels=(4, 8), hidden_dim=16, label_every_layer=True)
    torch.manual_seed(0)
    model = build_model(config)
    z, labels = torch.randn(3, 2), torch.tensor([4])
    expected = prepare_for_inference(model).decode(z, labels)
    converted = prepare_for_inference(model, copy=False)
    assert converted is model and not model.training and not any(p.requires_grad for p in model.parameters())
    assert torch.allclose(converted.decode(z, labels), expected, atol=1e-6)


def test_folded_labels_work_for_real_valued_attributes():
    config = BetaCVAEConfig(image_size=(16, 16), conv_channels=(4, 8), hidden_dim=16, num_attributes=5,
                            label_every_layer=True)
    torch.manual_seed(0)
    model = build_model(config).eval()
    z, attributes = torch.randn(3, 128), torch.tensor([[1, 0, 0.5, -1, 2.0]] * 2 + [[0, 1, 1, 0, 0.0]])
    with torch.no_grad():
        expected = model.decode(z, attributes)
    assert torch.allclose(prepare_for_inference(model).decode(z, attributes), expected, atol=1e-6)


@pytest.mark.parametrize("output_padding, layout", [(0, torch.contiguous_format), (1, torch.channels_last)])
def test_fast_transposed_conv_matches_pytorchs(output_padding, layout):
    from cvae.models.layers import UpConv
    torch.manual_seed(0)
    fast = UpConv(6, 1, 4, stride=2, padding=1, output_padding=output_padding).eval()
    fast.fast_inference = True
    plain = torch.nn.ConvTranspose2d(6, 1, 4, stride=2, padding=1, output_padding=output_padding).eval()
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(3, 6, 7, 9).contiguous(memory_format=layout)
    with torch.no_grad():
        out = fast(x)
        assert out.shape == plain(x).shape == (3, 1, 14 + output_padding, 18 + output_padding)
        assert torch.allclose(out, plain(x), atol=1e-5)
        assert not torch.equal(out, plain(x))  # the matmul + fold path really ran
        fast.fast_inference = False
        assert torch.equal(fast(x), plain(x))  # off (every training model): PyTorch's own kernel


def test_decoder_dropout_is_active_in_training_only_and_keeps_old_layouts():
    config = ConditionalVAEConfig(image_size=(12, 12), conv_channels=(4,), hidden_dim=64, decoder_dropout=0.5)
    torch.manual_seed(0)
    model = build_model(config)
    z, labels = torch.randn(4, 2), torch.tensor([1, 2, 3, 4])
    model.train()
    assert not torch.equal(model.decode(z, labels), model.decode(z, labels))  # a fresh mask each pass
    model.eval()
    assert torch.equal(model.decode(z, labels), model.decode(z, labels))
    plain = build_model(ConditionalVAEConfig(image_size=(12, 12), conv_channels=(4,), hidden_dim=64))
    assert not any(isinstance(m, torch.nn.Dropout) for m in plain.modules())  # checkpoints without dropout load
    with pytest.raises(ConfigError, match="decoder_dropout"):
        ConditionalVAEConfig(decoder_dropout=1.0)


def test_warps_move_images_and_zero_warps_leave_them_exactly():
    from cvae.models.warp import apply_warps, sample_warps
    images = torch.zeros(3, 1, 16, 16)
    images[:, 0, 6:10, 6:10] = 1.0
    warps = torch.tensor([[0.0, 0, 0, 0], [1.0, 0, 0, 0], [0, -1.0, 0, 0]])
    out = apply_warps(images, warps, shift=2.0, rotation=0.0, scale=0.0)
    assert torch.equal(out[0], images[0])
    columns = torch.arange(16.0)

    def centre(image, axis):  # centre of mass along x (axis=2) or y (axis=1)
        profile = image[0].sum(dim=0 if axis == 2 else 1)
        return float((profile * columns).sum() / profile.sum())
    assert centre(out[1], 2) - centre(images[1], 2) == pytest.approx(-2.0, abs=1e-4)  # sampled 2 px to the right
    assert centre(out[2], 1) - centre(images[2], 1) == pytest.approx(2.0, abs=1e-4)
    assert float(out.sum()) == pytest.approx(float(images.sum()), rel=1e-4)  # moved, not blurred away
    drawn = sample_warps(1000, 0.25, torch.Generator().manual_seed(0))
    assert drawn.abs().max() <= 1 and 0.2 < float(drawn.any(dim=1).float().mean()) < 0.3


def test_warp_conditioned_model_sees_the_warp_in_training_and_none_at_inference():
    small = dict(image_size=(16, 16), conv_channels=(4, 8), hidden_dim=16, label_channels=True,
                 label_every_layer=True)
    plain = build_model(ConditionalVAEConfig(**small))
    warped = build_model(ConditionalVAEConfig(**small, warp_probability=0.5))
    assert warped.encoder.net[0].in_channels == plain.encoder.net[0].in_channels + 4
    assert warped.decoder.fc[0].in_features == plain.decoder.fc[0].in_features + 4
    z, labels = torch.randn(4, 2), torch.tensor([1, 2, 3, 4])
    warped.eval()
    with torch.no_grad():  # inference is the identity warp
        assert torch.equal(warped.decode_logits(z, labels), warped.decode_logits(z, labels, torch.zeros(4, 4)))
        assert not torch.allclose(warped.decode_logits(z, labels), warped.decode_logits(z, labels, torch.ones(4, 4)))
    x = torch.rand(8, 1, 16, 16)
    eval_loss = warped.loss(x, torch.arange(8), generator=torch.Generator().manual_seed(0))["nelbo"]
    warped.train()
    first = warped.loss(x, torch.arange(8), generator=torch.Generator().manual_seed(0))["nelbo"]
    again = warped.loss(x, torch.arange(8), generator=torch.Generator().manual_seed(0))["nelbo"]
    assert first == again and first != eval_loss  # seeded warps, drawn only in training
    with pytest.raises(ConfigError, match="warp_probability"):
        ConditionalVAEConfig(warp_probability=1.5)




@pytest.mark.parametrize("size", SIZES)
def test_a_full_size_block_draws_at_the_image_size_and_reads_the_label(size):
    """--full-size-width: one more label-conditioned residual block after the last resize, at every image size
    (odd ones too). With every other label path silenced, the label still changes the image through that block
    alone; a file written before the option (no such field) builds the decoder without it."""
    config = BetaCVAEConfig(image_size=size, conv_channels=(4, 8), hidden_dim=16, num_attributes=5,
                            architecture="residual", full_size_width=6)
    model = build_model(config).eval()
    assert model.decoder.full_size["conv"].out_channels == 6 and model.decoder.to_image.in_channels == 6
    z, labels = torch.randn(2, config.latent_dim), torch.zeros(2, 5)
    with torch.no_grad():
        for block in model.decoder.blocks:
            block.film.weight.zero_(), block.film.bias.zero_()
        model.decoder.fc[0].weight[:, config.latent_dim:].zero_()  # the label beside z in the first layer
        assert model.decode_logits(z, labels).shape == (2, 3, *size)
        assert not torch.allclose(model.decode_logits(z, labels), model.decode_logits(z, labels + 1))
        model.decoder.full_size["block"].film.weight.zero_()
        model.decoder.full_size["block"].film.bias.zero_()
        assert torch.allclose(model.decode_logits(z, labels), model.decode_logits(z, labels + 1))
    old = {k: v for k, v in config.to_dict().items() if k != "full_size_width"}
    assert build_model(config_from_dict("beta-cvae", old)).decoder.full_size is None
