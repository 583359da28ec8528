"""FID (cvae.fid): the distance against closed forms and pytorch-fid's own, the activations' preprocessing, the
.npz statistics both ways, the reference cache, and the Inception weights lookup. No real Inception weights are
used: small random networks stand in, and pytorch-fid's network is built with random weights."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cvae import fid
from cvae.errors import ConfigError, CvaeError, MissingWeightsError


def random_statistics(rng, dims: int, samples: int, scale: float = 1.0, shift: float = 0.0):
    features = rng.normal(size=(samples, dims)) * scale + shift
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fid.FewSamplesWarning)
        return fid.statistics(features)


class TinyNet(nn.Module):
    """A small random feature network: (N, 3, H, W) in [0, 1] → (N, 8)."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, 8, 5, stride=4)
        self.calls = 0
        self.inputs: list[torch.Tensor] = []

    def forward(self, x):
        self.calls += 1
        self.inputs.append(x)
        return torch.tanh(self.conv(x)).mean(dim=(2, 3))


# ----- the distance -------------------------------------------------------------------------------------------

def test_a_set_against_itself_is_zero():
    mu, sigma = random_statistics(np.random.default_rng(0), 32, 200)
    assert fid.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0, abs=1e-8)


def test_equal_covariances_give_the_squared_distance_of_the_means():
    rng = np.random.default_rng(1)
    _, sigma = random_statistics(rng, 16, 500)
    mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
    assert fid.frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(float(np.sum((mu1 - mu2) ** 2)), rel=1e-9)


def test_diagonal_covariances_match_the_closed_form():
    """For commuting (diagonal) covariances tr √(Σ1Σ2) = Σ √(a_i b_i), so FID = ‖Δμ‖² + Σ (√a_i − √b_i)²."""
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = 1.0 + float(np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    assert fid.frechet_distance(np.zeros(3), np.diag(a), np.array([1.0, 0, 0]), np.diag(b)) == \
        pytest.approx(expected, rel=1e-12)


def pytorch_fid_distance(*statistics):
    from pytorch_fid.fid_score import calculate_frechet_distance

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # scipy ≥ 1.16 deprecates sqrtm's disp
            return calculate_frechet_distance(*statistics)
    except TypeError as exc:
        pytest.skip(f"pytorch-fid cannot run with this scipy (sqrtm's disp argument was removed): {exc}")


@pytest.mark.parametrize("dims,samples", [(64, 1000), (64, 40)], ids=["full-rank", "fewer-samples-than-features"])
def test_equals_pytorch_fid_on_the_same_statistics(dims, samples):
    rng = np.random.default_rng(2)
    first = random_statistics(rng, dims, samples)
    second = random_statistics(rng, dims, samples, scale=1.3, shift=0.2)
    assert fid.frechet_distance(*first, *second) == pytest.approx(pytorch_fid_distance(*first, *second), rel=1e-6)


def test_near_singular_covariances_give_a_finite_number():
    rng = np.random.default_rng(3)
    basis = rng.normal(size=(64, 3))
    sigma1 = basis @ basis.T + 1e-12 * np.eye(64)  # rank 3, condition number ~1e13
    sigma2 = basis @ np.diag([2.0, 1.0, 0.5]) @ basis.T
    value = fid.frechet_distance(np.zeros(64), sigma1, np.zeros(64), sigma2)
    assert np.isfinite(value) and value >= 0
    assert value == pytest.approx(pytorch_fid_distance(np.zeros(64), sigma1, np.zeros(64), sigma2), rel=1e-4, abs=1e-4)
    zero = np.zeros((64, 64))
    assert fid.frechet_distance(np.zeros(64), zero, np.ones(64), zero) == pytest.approx(64)


def test_mismatched_or_non_finite_statistics_are_refused_by_name():
    mu, sigma = np.zeros(4), np.eye(4)
    with pytest.raises(ConfigError, match=r"mismatched.*\(4,\).*\(5,\)"):
        fid.frechet_distance(mu, sigma, np.zeros(5), np.eye(5))
    bad = sigma.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ConfigError, match="second covariance holds NaN"):
        fid.frechet_distance(mu, sigma, mu, bad)


def test_fewer_than_two_samples_are_refused_and_fewer_than_2048_warned():
    with pytest.raises(ConfigError, match="at least 2 images.*got 1"):
        fid.statistics(np.zeros((1, 8)))
    assert issubclass(ConfigError, CvaeError)
    with pytest.warns(fid.FewSamplesWarning, match=r"100 images \(< 2048\) is biased"):
        fid.statistics(np.random.default_rng(0).normal(size=(100, 8)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fid.statistics(np.random.default_rng(0).normal(size=(2048, 4)))  # enough: no warning


def test_statistics_are_numpy_mean_and_unbiased_covariance():
    features = np.random.default_rng(4).normal(size=(3000, 5))
    mu, sigma = fid.statistics(features)
    np.testing.assert_allclose(mu, features.mean(0))
    np.testing.assert_allclose(sigma, np.cov(features, rowvar=False))


# ----- activations ------------------------------------------------------------------------------------------

def test_activations_of_grey_images_equal_the_rgb_repeat_and_resize_done_by_hand():
    torch.manual_seed(0)
    images = torch.rand(6, 1, 28, 28)
    net = TinyNet()
    ours = fid.activations(images, net, batch_size=4)
    assert ours.shape == (6, 8) and ours.dtype == np.float64 and net.calls == 2
    by_hand = torch.floor(images * 255 + 0.5) / 255  # as an 8-bit PNG stores them
    by_hand = F.interpolate(by_hand.repeat(1, 3, 1, 1), size=(299, 299), mode="bilinear", align_corners=False)
    with torch.no_grad():
        expected = net(by_hand).double().numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-7)
    assert net.inputs[0].shape == (4, 3, 299, 299)


def test_uint8_images_equal_their_float_values_and_batches_may_come_from_a_generator():
    images = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8)
    net = TinyNet()
    from_uint8 = fid.activations(images, net, batch_size=2)
    from_batches = fid.activations((b.float() / 255 for b in images.split(3)), net)
    np.testing.assert_allclose(from_uint8, from_batches, rtol=1e-6, atol=1e-7)


def test_cancel_raised_from_on_batch_stops_the_work():
    net = TinyNet()

    class Stop(Exception):
        pass

    def on_batch(done):
        if done >= 2:
            raise Stop

    with pytest.raises(Stop):
        fid.activations(torch.rand(10, 1, 8, 8), net, batch_size=2, on_batch=on_batch)
    assert net.calls == 1


INCEPTION_LAYERS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                    "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                    "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool")


def random_inception_weights(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random FID Inception weights under the .pth file's own keys (fc included), scaled so that features stay
    of order one through the 94 layers: He-scaled convolutions, batch norms near the identity."""
    with torch.device("meta"):
        skeleton = fid.FidInception().state_dict()  # shapes only
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in skeleton.items():
        _, index, rest = key.split(".", 2)
        name, shape = f"{INCEPTION_LAYERS[int(index)]}.{rest}", value.shape
        if rest.endswith("num_batches_tracked"):
            tensor = torch.zeros((), dtype=torch.long)
        elif len(shape) == 4:
            tensor = torch.randn(shape, generator=generator) * (2 / shape[1:].numel()) ** 0.5
        elif rest.endswith(("running_var", "bn.weight")):
            tensor = 1 + 0.1 * torch.rand(shape, generator=generator)
        else:
            tensor = 0.1 * torch.randn(shape, generator=generator)
        state[name] = tensor
    state["fc.weight"], state["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)
    return state


@pytest.mark.slow  # over a second: two full Inception networks
def test_our_network_equals_pytorch_fids_inception_with_the_same_weights(monkeypatch):
    """FidInception is pytorch-fid's InceptionV3([3]) layer for layer: loaded with the same (random) weights under
    the weight file's keys, both give the same 2048-d features. pytorch-fid's download is replaced by the same
    state dict, for this test only."""
    import pytorch_fid.inception as pytorch_fid_inception

    state = random_inception_weights()
    ours = fid.FidInception(state)
    monkeypatch.setattr(pytorch_fid_inception, "load_state_dict_from_url", lambda *a, **k: state)
    theirs = pytorch_fid_inception.InceptionV3([3], resize_input=False).eval()
    x = torch.rand(2, 3, 75, 75)  # the smallest input Inception takes: quick on a CPU
    with torch.no_grad():
        features = ours(x)
        assert features.shape == (2, 2048) and features.std() > 0.01  # not a degenerate network
        assert torch.equal(features, theirs(x)[0].flatten(1))


@pytest.mark.slow  # over a second: a full Inception network
def test_weights_missing_from_the_file_are_refused(empty_hub, tmp_path):
    state = random_inception_weights()
    del state["Mixed_7c.branch_pool.conv.weight"]
    torch.save(state, tmp_path / fid.WEIGHTS_FILE)
    with pytest.raises(MissingWeightsError, match=r"not a usable copy.*Mixed_7c.branch_pool.conv.weight"):
        fid.load_inception(tmp_path)


# ----- statistics files and the reference cache -----------------------------------------------------------

def test_our_npz_holds_exactly_mu_and_sigma_and_pytorch_fid_reads_it(tmp_path):
    from pytorch_fid.fid_score import compute_statistics_of_path

    mu, sigma = random_statistics(np.random.default_rng(5), 12, 50)
    path = fid.save_statistics(tmp_path / "ref.npz", mu, sigma)
    assert path == tmp_path / "ref.npz" and sorted(os.listdir(tmp_path)) == ["ref.npz"]  # no temporary left
    with np.load(path) as data:
        assert sorted(data.files) == ["mu", "sigma"]
        assert data["mu"].shape == (12,) and data["sigma"].shape == (12, 12)
    theirs_mu, theirs_sigma = compute_statistics_of_path(str(path), None, 50, 12, "cpu")
    np.testing.assert_array_equal(theirs_mu, mu)
    np.testing.assert_array_equal(theirs_sigma, sigma)


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed], ids=["savez", "savez_compressed"])
def test_we_read_statistics_saved_the_way_pytorch_fid_saves_them(tmp_path, save):
    mu, sigma = random_statistics(np.random.default_rng(6), 7, 30)
    save(tmp_path / "theirs.npz", mu=mu, sigma=sigma)
    read_mu, read_sigma = fid.load_statistics(tmp_path / "theirs.npz")
    np.testing.assert_array_equal(read_mu, mu)
    np.testing.assert_array_equal(read_sigma, sigma)


def test_a_file_that_is_not_statistics_is_refused_by_name(tmp_path):
    (tmp_path / "junk.npz").write_text("not numpy")
    with pytest.raises(ConfigError, match="junk.npz is not FID statistics"):
        fid.load_statistics(tmp_path / "junk.npz")
    np.savez(tmp_path / "wrong.npz", mu=np.zeros(3), sigma=np.zeros((2, 2)))
    with pytest.raises(ConfigError, match=r"wrong.npz: mu has shape \(3,\) and sigma \(2, 2\)"):
        fid.load_statistics(tmp_path / "wrong.npz")


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    fid.save_statistics(tmp_path / "ref.npz", np.zeros(2), np.eye(2))

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError):
        fid.save_statistics(tmp_path / "ref.npz", np.ones(2), np.eye(2))
    assert sorted(os.listdir(tmp_path)) == ["ref.npz"]
    np.testing.assert_array_equal(fid.load_statistics(tmp_path / "ref.npz")[0], np.zeros(2))


def test_reference_statistics_are_computed_once_and_keyed_by_the_images(tmp_path):
    images = torch.randint(0, 256, (40, 1, 12, 12), dtype=torch.uint8)
    net = TinyNet()
    mu, sigma, cached = fid.reference_statistics(images, net, "mnist", "test", cache_dir=tmp_path, batch_size=20)
    assert not cached and net.calls == 2
    [path] = tmp_path.glob("*.npz")
    assert path.name.startswith("mnist-test-12x12-n40-") and path.name.endswith(f"-{fid.network_name(net)}.npz")
    mu2, sigma2, cached = fid.reference_statistics(images, net, "mnist", "test", cache_dir=tmp_path)
    assert cached and net.calls == 2  # read back, the network not run again
    np.testing.assert_array_equal(mu, mu2)
    np.testing.assert_array_equal(sigma, sigma2)
    fid.reference_statistics(images[:30], net, "mnist", "test", cache_dir=tmp_path)  # other images: own file
    assert len(list(tmp_path.glob("*.npz"))) == 2
    path.write_bytes(b"damaged")  # a damaged cache file is recomputed and replaced
    _, _, cached = fid.reference_statistics(images, net, "mnist", "test", cache_dir=tmp_path)
    assert not cached and fid.load_statistics(path)[0].shape == (8,)


def test_the_cache_folder_defaults_under_the_user_cache_and_can_be_moved(monkeypatch, tmp_path):
    monkeypatch.delenv(fid.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fid.default_cache_dir() == tmp_path / "xdg" / "cvae-explorer" / "fid"
    monkeypatch.setenv(fid.CACHE_ENV, str(tmp_path / "mine"))
    assert fid.default_cache_dir() == tmp_path / "mine"


# ----- the weights --------------------------------------------------------------------------------------------

@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    hub.mkdir()
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.delenv(fid.WEIGHTS_ENV, raising=False)
    return hub


def test_missing_weights_say_where_we_looked_and_how_to_get_them(empty_hub, tmp_path):
    given = tmp_path / "nowhere" / "inception.pth"
    with pytest.raises(MissingWeightsError) as raised:
        fid.load_inception(given)
    message = str(raised.value)
    assert "\n" not in message and isinstance(raised.value, CvaeError)
    for fragment in (fid.WEIGHTS_FILE, str(empty_hub / "checkpoints"), f"--inception-weights {given}",
                     "$CVAE_INCEPTION_WEIGHTS (not set)", fid.WEIGHTS_URL, "--inception-weights PATH",
                     "CVAE_INCEPTION_WEIGHTS=PATH"):
        assert fragment in message


def test_weights_are_found_in_the_hub_cache_a_given_path_or_the_environment(empty_hub, tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / fid.WEIGHTS_FILE).write_bytes(b"x")
    assert fid.find_inception_weights(folder / fid.WEIGHTS_FILE) == folder / fid.WEIGHTS_FILE
    assert fid.find_inception_weights(folder) == folder / fid.WEIGHTS_FILE  # a folder holding the file
    monkeypatch.setenv(fid.WEIGHTS_ENV, str(folder / fid.WEIGHTS_FILE))
    assert fid.find_inception_weights() == folder / fid.WEIGHTS_FILE
    (empty_hub / "checkpoints").mkdir()
    (empty_hub / "checkpoints" / fid.WEIGHTS_FILE).write_bytes(b"y")
    assert fid.find_inception_weights(folder) == empty_hub / "checkpoints" / fid.WEIGHTS_FILE  # pytorch-fid's own


def test_a_file_that_is_not_the_weights_is_refused_in_one_line(empty_hub, tmp_path):
    bogus = tmp_path / fid.WEIGHTS_FILE
    torch.save({"conv.weight": torch.zeros(1)}, bogus)
    with pytest.raises(MissingWeightsError, match="is not a usable copy of pt_inception") as raised:
        fid.load_inception(bogus)
    assert "\n" not in str(raised.value) and fid.WEIGHTS_URL in str(raised.value)


def test_the_benchmark_finds_the_same_fid_as_pytorch_fid_over_png_files(monkeypatch, capsys):
    """benchmarks/bench_fid.py on a few random images: our in-memory FID and pytorch-fid's over PNG files of the
    same images with the same network agree (the script exits 1 when they differ by more than 1e-4)."""
    import importlib.util
    from pathlib import Path

    import pytorch_fid.fid_score as fid_score

    for name in ("InceptionV3", "tqdm"):  # the script patches these in its process: put them back afterwards
        monkeypatch.setattr(fid_score, name, getattr(fid_score, name))
    monkeypatch.delenv("CVAE_DATA_DIR", raising=False)
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_fid.py"
    spec = importlib.util.spec_from_file_location("bench_fid", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--network", "small", "--images", "40", "--rounds", "1", "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "ratio ours / pytorch-fid" in out and "FID: ours" in out
