
import pytest
import torch

from cvae.checkpoint import FORMAT_VERSION, Checkpoint, checkpoint_dict, load_checkpoint, save_checkpoint
from cvae.errors import CheckpointError
from cvae.models import ConditionalVAEConfig, VAEConfig, build_model


def tiny_cvae(seed=0, **overrides):
    torch.manual_seed(seed)
    values = dict(image_size=(12, 12), conv_channels=(4, 8), hidden_dim=16)
    values.update(overrides)
    return build_model(ConditionalVAEConfig(**values)).eval()


def make_checkpoint(model=None, **fields):
    return Checkpoint(model=model or tiny_cvae(), label_names=[str(d) for d in range(10)],
                      dataset={"name": "mnist", "image_size": [12, 12]}, train_config={"epochs": 3}, epoch=3,
                      metrics={"test_nelbo": 101.5}, **fields)


def test_round_trip_restores_everything(tmp_path):
    original = make_checkpoint(derived={"test_encodings": torch.randn(5, 2), "test_labels": torch.arange(5)})
    path = save_checkpoint(original, tmp_path / "model.pt")
    loaded = load_checkpoint(path)
    assert loaded.model.config == original.model.config
    assert loaded.label_names == original.label_names and loaded.epoch == 3
    assert loaded.metrics == {"test_nelbo": 101.5} and loaded.dataset["name"] == "mnist"
    assert torch.equal(loaded.derived["test_labels"], torch.arange(5))
    z = torch.randn(4, 2)
    assert torch.equal(loaded.model.decode(z, torch.tensor([7])), original.model.decode(z, torch.tensor([7])))
    assert not loaded.model.training


def test_half_precision_on_disk_keeps_decodes_close(tmp_path):
    original = make_checkpoint(tiny_cvae(hidden_dim=256))
    small = save_checkpoint(original, tmp_path / "half.pt", half=True)
    full = save_checkpoint(original, tmp_path / "full.pt")
    assert small.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_checkpoint(small)
    assert next(loaded.model.parameters()).dtype == torch.float32
    z = torch.randn(8, 2)
    assert torch.allclose(loaded.model.decode(z, torch.tensor([1])), original.model.decode(z, torch.tensor([1])),
                          atol=2e-3)


def save_as_if_on_cuda(checkpoint, path, monkeypatch):
    """Write `checkpoint` with every tensor tagged 'cuda:0', as torch.save does for tensors on a GPU (no GPU needed:
    the tag is the only thing a file remembers of the device)."""
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        path = save_checkpoint(checkpoint, path)
    locations = []
    torch.load(path, map_location=lambda storage, location: locations.append(location) or storage, weights_only=True)
    assert locations and set(locations) == {"cuda:0"}  # the file really says CUDA for every tensor
    return path


def test_cuda_saved_files_load_on_cpu_by_default(tmp_path, monkeypatch):
    original = make_checkpoint()
    path = save_as_if_on_cuda(original, tmp_path / "model.pt", monkeypatch)
    if torch.cuda.is_available():  # what a plain torch.load does with the file: it goes back to the GPU ...
        raw = torch.load(path, weights_only=True)
        assert next(iter(raw["state_dict"].values())).device.type == "cuda"
    else:  # ... or fails where there is none
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)
    for loaded in (load_checkpoint(path), load_checkpoint(path, device="cpu")):
        assert {p.device.type for p in loaded.model.parameters()} == {"cpu"}
        z = torch.randn(4, 2)
        assert torch.equal(loaded.model.decode(z, torch.tensor([7])), original.model.decode(z, torch.tensor([7])))


def test_truncated_file(tmp_path):
    path = save_checkpoint(make_checkpoint(), tmp_path / "model.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or damaged"):
        load_checkpoint(path)


def test_foreign_file(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("these are my notes, not a model")
    with pytest.raises(CheckpointError, match="not a cVAE Explorer checkpoint"):
        load_checkpoint(path)


def test_other_pytorch_file(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.ones(3)}, path)
    with pytest.raises(CheckpointError, match="not a cVAE Explorer checkpoint"):
        load_checkpoint(path)


class Payload:
    def __reduce__(self):
        return (print, ("this would run",))


def test_file_that_would_execute_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    raw = checkpoint_dict(make_checkpoint())
    raw["metrics"] = {"surprise": Payload()}
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="could run code"):
        load_checkpoint(path)


def another_architectures_weights(raw):
    vae = build_model(VAEConfig(image_size=(12, 12), conv_channels=(4, 8), hidden_dim=16, latent_dim=2))
    raw["state_dict"] = vae.state_dict()  # a VAE has no label inputs: the shapes disagree


@pytest.mark.parametrize("change, message", [
    (lambda raw: raw.update(format_version=FORMAT_VERSION + 1), f"version {FORMAT_VERSION + 1}, newer"),
    (lambda raw: raw["model_config"].update(hidden_dim=32), "weights do not match the saved cvae configuration"),
    (another_architectures_weights, "weights do not match"),
    (lambda raw: raw.update(family="vae"), "unusable model configuration.*num_classes"),
    (lambda raw: raw.update(family="gan"), "unknown model family 'gan'"),
    (lambda raw: raw.update(label_names=["a", "b"]), "names 2 labels but its model expects 10"),
], ids=["future-version", "config-mismatch", "other-architecture", "other-family", "unknown-family",
        "label-count"])
def test_inconsistent_checkpoints_are_refused_with_the_reason(tmp_path, change, message):
    raw = checkpoint_dict(make_checkpoint())
    change(raw)
    path = tmp_path / "changed.pt"
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "absent.pt")


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(make_checkpoint(), tmp_path / "model.pt")
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("cvae.checkpoint.os.replace", broken_replace)
    with pytest.raises(OSError):
        save_checkpoint(make_checkpoint(tiny_cvae(seed=1)), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary file left behind


def test_unconditional_models_round_trip(tmp_path):
    model = build_model(VAEConfig(image_size=(10, 14), conv_channels=(3,), hidden_dim=8)).eval()
    path = save_checkpoint(Checkpoint(model=model, label_names=[]), tmp_path / "vae.pt")
    loaded = load_checkpoint(path)
    z = torch.randn(3, 20)
    assert torch.equal(loaded.model.decode(z), model.decode(z))
    assert loaded.model.decode(z).shape == (3, 1, 10, 14)


def test_new_checkpoints_get_ordinary_file_permissions(tmp_path):
    import os
    umask = os.umask(0o022)
    try:
        path = save_checkpoint(make_checkpoint(), tmp_path / "model.pt")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
