import pytest
import torch

from cvae import latent
from cvae.errors import ConfigError
from cvae.models import ConditionalVAEConfig, VAEConfig, build_model
from cvae.plane import LatentPlane, grid_points
from tests.fixtures import face_model


@pytest.fixture(scope="module")
def cvae_model():
    torch.manual_seed(0)
    return build_model(ConditionalVAEConfig(image_size=(12, 12), conv_channels=(4, 8), hidden_dim=16)).eval()


def test_decode_a_single_point_matches_the_decoder(cvae_model):
    image = latent.decode(cvae_model, (0.5, -1.25), torch.tensor([4]))
    expected = cvae_model.decode(torch.tensor([[0.5, -1.25]]), torch.tensor([4]))
    assert torch.equal(image, expected) and image.shape == (1, 1, 12, 12)


def test_grid_is_row_major_from_the_top_and_batched(cvae_model):
    points = grid_points((-2, 2), (-1, 1), columns=4, rows=2)
    assert points.shape == (8, 2)
    assert points[0].tolist() == [-1.5, 0.5] and points[3].tolist() == [1.5, 0.5]
    assert points[4].tolist() == [-1.5, -0.5]
    images, z = latent.decode_grid(cvae_model, (-2, 2), (-1, 1), 4, 2, torch.tensor([2]))
    assert images.shape == (8, 1, 12, 12)
    for i in (0, 5):
        assert torch.allclose(images[i], latent.decode(cvae_model, z[i], torch.tensor([2]))[0], atol=1e-6)


def test_grid_slices_higher_latents_around_a_base_point():
    model = build_model(VAEConfig(image_size=(8, 8), conv_channels=(2,), hidden_dim=4, latent_dim=5)).eval()
    base = torch.arange(5, dtype=torch.float32)
    images, z = latent.decode_grid(model, (-1, 1), (-1, 1), 3, 3, plane=LatentPlane.slice(5, (1, 3), base))
    assert images.shape == (9, 1, 8, 8)
    assert torch.equal(z[:, [0, 2, 4]], base[[0, 2, 4]].expand(9, 3))
    assert z[:, 1].unique().numel() == 3 and z[:, 3].unique().numel() == 3


def test_prior_samples_repeat_with_a_seed_and_scale_with_temperature(cvae_model):
    a, za = latent.sample_prior(cvae_model, 6, torch.tensor([1]), seed=3)
    b, zb = latent.sample_prior(cvae_model, 6, torch.tensor([1]), seed=3)
    assert torch.equal(a, b)
    _, cold = latent.sample_prior(cvae_model, 6, torch.tensor([1]), temperature=0.5, seed=3)
    assert torch.allclose(cold, za * 0.5)


def test_interpolation_ends_at_both_points():
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    for method in ("linear", "spherical"):
        path = latent.interpolate(z0, z1, 5, method)
        assert path.shape == (5, 2)
        assert torch.allclose(path[0], z0) and torch.allclose(path[-1], z1, atol=1e-6)
    linear_mid = latent.interpolate(z0, z1, 3, "linear")[1]
    assert torch.allclose(linear_mid, torch.tensor([0.5, 1.0]))
    # slerp between orthogonal vectors of norm 1 and 2 bulges outwards compared with the straight line
    assert latent.interpolate(z0, z1, 3, "spherical")[1].norm() > linear_mid.norm()


def test_encode_means_accepts_uint8_and_batches(cvae_model):
    images = torch.randint(0, 256, (7, 1, 12, 12), dtype=torch.uint8)
    labels = torch.arange(7)
    means = latent.encode_means(cvae_model, images, labels, batch_size=3)
    direct = cvae_model.encode(images.float() / 255, labels)[0]
    assert torch.allclose(means, direct, atol=1e-6)


def test_edit_changes_attributes_and_keeps_the_code():
    torch.manual_seed(0)
    model = face_model(num_attributes=3).eval()
    images = torch.rand(2, 3, 16, 16)
    labels = torch.tensor([[0, 1, 0], [1, 0, 0]])
    smiling = labels.clone()
    smiling[:, 2] = 1
    edited = latent.edit(model, images, labels, smiling)
    z = latent.encode_means(model, images, labels)
    with torch.no_grad():  # the same inference kernels as latent.edit
        assert torch.equal(edited, model.decode(z, smiling))
        assert not torch.allclose(edited, model.decode(z, labels))


def test_tile_builds_a_mosaic():
    images = torch.stack([torch.full((1, 2, 2), float(i)) for i in range(5)])
    mosaic = latent.tile(images, columns=3, padding=1, pad_value=-1)
    assert mosaic.shape == (1, 2 * 3 + 1, 3 * 3 + 1)
    assert mosaic[0, 1, 1] == 0 and mosaic[0, 1, 4] == 1 and mosaic[0, 4, 4] == 4
    assert mosaic[0, 4, 7] == -1  # the empty sixth cell stays padding


def test_inference_preparation_keeps_the_decodes():
    torch.manual_seed(0)
    model = build_model(ConditionalVAEConfig(conv_channels=(4, 8), hidden_dim=16, label_every_layer=True)).eval()
    z, y = torch.randn(5, 2), torch.arange(5)
    before = model.decode(z, y)
    prepared = latent.prepare_for_inference(model)
    assert prepared is not model and model.decoder.folded_labels is None  # a copy; the original is as it was
    assert not prepared.training
    assert prepared.decoder.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(prepared.decode(z, y), before, atol=1e-5)


def test_grid_through_a_pca_plane_decodes_the_plane_points():
    model = build_model(VAEConfig(image_size=(8, 8), conv_channels=(2,), hidden_dim=4, latent_dim=5)).eval()
    plane = LatentPlane.pca(torch.randn(50, 5, generator=torch.Generator().manual_seed(0)))
    images, z = latent.decode_grid(model, (-1, 1), (-2, 2), 4, 3, plane=plane)
    assert torch.allclose(z, plane.base + grid_points((-1, 1), (-2, 2), 4, 3) @ plane.axes, atol=1e-6)
    assert torch.equal(images, latent.decode(model, z))


def test_grid_refuses_a_plane_of_another_latent_size():
    model = build_model(VAEConfig(image_size=(8, 8), conv_channels=(2,), hidden_dim=4, latent_dim=5)).eval()
    with pytest.raises(ConfigError, match="3-D latent space but the model's is 5-D"):
        latent.decode_grid(model, (-1, 1), (-1, 1), 2, 2, plane=LatentPlane.slice(3))


def test_unknown_interpolation_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown interpolation 'cubic'"):
        latent.interpolate([0.0, 0.0], [1.0, 1.0], 3, "cubic")


# ----- label arithmetic (the panels call these; their tests check them here, once) -----
def test_edited_labels_set_the_named_attributes_and_keep_the_rest():
    labels = torch.tensor([[0, 1, 0], [1, 0, 1]])
    names = ["Smiling", "Male", "Eyeglasses"]
    edited = latent.edited_labels(labels, names, {"Smiling": 1.5, "Eyeglasses": 0.0})
    assert torch.equal(edited, torch.tensor([[1.5, 1.0, 0.0], [1.5, 0.0, 0.0]]))
    assert torch.equal(labels, torch.tensor([[0, 1, 0], [1, 0, 1]]))  # a new tensor: the input is untouched
    assert torch.equal(latent.edited_labels(labels, names, {}), labels.float())
    with pytest.raises(ConfigError, match="'Hat'"):
        latent.edited_labels(labels, names, {"Hat": 1.0})


def test_toward_class_mixes_each_label_with_the_targets_one_hot():
    own = torch.eye(3)[[0, 2]]
    assert torch.equal(latent.toward_class(own, None, 1.0), own)
    assert torch.equal(latent.toward_class(own, 1, 0.0), own)
    assert torch.equal(latent.toward_class(own, 1, 1.0), torch.eye(3)[[1, 1]])
    half = latent.toward_class(own, 1, 0.5)
    assert torch.allclose(half, torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]))
    assert torch.allclose(latent.toward_class(own, 1, 2.0)[0], torch.tensor([-1.0, 2.0, 0.0]))  # past the target


def test_path_labels_run_from_one_label_to_the_other_with_exact_ends():
    a, b = torch.tensor([1.0, 0.0, 0.3]), torch.tensor([0.0, 1.0, 0.7])
    path = latent.path_labels(a, b, 5)
    assert path.shape == (5, 3) and torch.equal(path[0], a) and torch.equal(path[-1], b)
    assert torch.allclose(path[2], (a + b) / 2)
    assert torch.equal(latent.path_labels(a, b, 5, interpolate_labels=False), a[None])  # A's label all along
    assert torch.equal(latent.path_labels(a, None, 5), a[None])
    assert latent.path_labels(None, b, 5) is None  # a model that takes no label


def test_interpolation_ends_exactly_at_both_points():
    z0, z1 = torch.randn(8), torch.randn(8)
    for method in ("linear", "spherical"):
        path = latent.interpolate(z0, z1, 7, method)
        assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)


def test_typical_attributes_are_those_on_for_most_of_the_data():
    rows = torch.tensor([[1, 0, 1], [1, 0, 0], [0, 1, 1]])
    assert torch.equal(latent.typical_attributes(rows, 3), torch.tensor([1.0, 0.0, 1.0]))
    assert torch.equal(latent.typical_attributes(None, 3), torch.zeros(3))
    assert torch.equal(latent.typical_attributes(rows, 4), torch.zeros(4))  # rows of another width do not count


def test_labels_like_the_data_come_from_rows_then_rates_then_even_odds():
    rows = torch.tensor([[1, 0], [0, 1]], dtype=torch.uint8)
    drawn, source = latent.labels_like_data(50, 2, [None, rows], generator=torch.Generator().manual_seed(0))
    assert source == latent.LIKE_THE_ROWS and drawn.dtype == torch.float32
    assert all(row.tolist() in ([1.0, 0.0], [0.0, 1.0]) for row in drawn)
    again, _ = latent.labels_like_data(50, 2, [rows], generator=torch.Generator().manual_seed(0))
    assert torch.equal(drawn, again)  # a seeded generator repeats
    drawn, source = latent.labels_like_data(4000, 2, [torch.ones(3, 5)], torch.tensor([0.9, 0.1]),
                                            torch.Generator().manual_seed(1))  # rows of another width: the rates
    assert source == latent.AT_THE_RATES and torch.allclose(drawn.mean(0), torch.tensor([0.9, 0.1]), atol=0.03)
    drawn, source = latent.labels_like_data(4000, 2, generator=torch.Generator().manual_seed(2))
    assert source == latent.EVEN_ODDS and torch.allclose(drawn.mean(0), torch.full((2,), 0.5), atol=0.03)
