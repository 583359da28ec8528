"""The decoded-image cache (cvae.data.cache): built once, mapped afterwards, rebuilt when its sources change or
the file is damaged, never half-written, shared by concurrent loaders, and giving exactly the decoded tensors."""

from __future__ import annotations

import os
import threading
import warnings

import numpy as np
import pytest
import torch

import cvae.data.faces as faces
from cvae.data import load_dataset
from cvae.data.cache import CACHE_ENV, END, MAGIC, default_cache_dir, resolve_cache_dir
from cvae.errors import DatasetError
from tests.formats import face_jpeg, make_celeba, make_celeba_hq


@pytest.fixture
def decodes(monkeypatch):
    """Every image decoded from its JPEG, in call order (loads from the map decode none)."""
    calls = []
    real = faces.decode_face

    def counting(path, size, crop_square):
        calls.append(path.name)
        return real(path, size, crop_square)

    monkeypatch.setattr(faces, "decode_face", counting)
    return calls


@pytest.fixture
def hq(tmp_path):
    return make_celeba_hq(tmp_path / "faces", count=30, size=16)


def cache_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".u8") if folder.exists() else []


def load(root, cache, split="train", **kwargs):
    return load_dataset("celeba", root, split, image_size=kwargs.pop("image_size", 16), cache_dir=cache, **kwargs)


def test_first_load_builds_and_the_next_maps_without_decoding(hq, tmp_path, decodes):
    cache = tmp_path / "cache"
    first = load(hq, cache)
    assert len(decodes) == 27 and len(cache_files(cache)) == 1
    decodes.clear()
    second = load(hq, cache)
    assert decodes == []
    assert torch.equal(first.images, second.images) and torch.equal(first.labels, second.labels)
    assert second.label_names == first.label_names and second.describe() == first.describe()
    test = load(hq, cache, "test")  # each split has its own file
    assert len(decodes) == 3 and len(test) == 3 and len(cache_files(cache)) == 2


@pytest.mark.parametrize("layout", ["celeba-hq", "celeba"])
def test_mapped_images_equal_the_decoded_ones(tmp_path, layout):
    root = (make_celeba_hq(tmp_path / "faces", count=20, size=16) if layout == "celeba-hq"
            else make_celeba(tmp_path / "faces", count=12, height=22, width=18))  # crop and resize on this one
    for split in ("train", "test"):
        decoded = load(root, False, split, image_size=8)
        built = load(root, tmp_path / "cache", split, image_size=8)
        mapped = load(root, tmp_path / "cache", split, image_size=8)
        for data in (built, mapped):
            assert data.images.dtype == torch.uint8 and data.images.shape == decoded.images.shape
            assert torch.equal(data.images, decoded.images) and torch.equal(data.labels, decoded.labels)
            assert data.info == decoded.info


def test_a_changed_image_invalidates_the_cache(hq, tmp_path, decodes):
    cache = tmp_path / "cache"
    before = load(hq, cache)
    old_file = cache_files(cache)
    face_jpeg(hq / "images" / "5.jpg", np.random.default_rng(99), 16, 16)  # new pixels, same name
    stat = (hq / "images" / "5.jpg").stat()
    os.utime(hq / "images" / "5.jpg", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    decodes.clear()
    after = load(hq, cache)
    assert len(decodes) == 27  # rebuilt
    assert not torch.equal(after.images[4], before.images[4]) and torch.equal(after.images[5:], before.images[5:])
    assert torch.equal(after.images, load(hq, False).images)
    assert len(cache_files(cache)) == 1 and cache_files(cache) != old_file  # the superseded file is gone


def test_other_image_size_or_limit_is_another_file(hq, tmp_path, decodes):
    cache = tmp_path / "cache"
    load(hq, cache)
    load(hq, cache, image_size=8)
    load(hq, cache, limit=5)
    assert len(cache_files(cache)) == 3 and len(decodes) == 27 + 27 + 5
    decodes.clear()
    assert load(hq, cache, image_size=8).image_size == (8, 8) and len(load(hq, cache, limit=5)) == 5
    assert decodes == []


def test_files_of_removed_sources_are_cleared_at_the_next_build(tmp_path, decodes):
    import shutil

    cache = tmp_path / "cache"
    gone = make_celeba_hq(tmp_path / "gone", count=10, size=16)
    kept = make_celeba_hq(tmp_path / "kept", count=10, size=16, seed=1)
    load(gone, cache)
    load(kept, cache)
    assert len(cache_files(cache)) == 2
    shutil.rmtree(gone)
    load(kept, cache, "test")  # a build: it clears what nothing can use any more
    assert len(cache_files(cache)) == 2 and all(name.startswith("faces-") for name in cache_files(cache))
    decodes.clear()
    load(kept, cache)
    load(kept, cache, "test")
    assert decodes == []


def test_changed_attribute_values_need_no_rebuild(hq, tmp_path, decodes):
    cache = tmp_path / "cache"
    before = load(hq, cache)
    path = hq / "CelebAMask-HQ-attribute-anno.txt"
    lines = path.read_text().splitlines()
    fields = lines[2].split()
    fields[1] = "1" if fields[1] == "-1" else "-1"
    lines[2] = " ".join(fields)
    path.write_text("\n".join(lines) + "\n")
    decodes.clear()
    after = load(hq, cache)
    assert decodes == [] and torch.equal(after.images, before.images)
    assert after.labels[0, 0] != before.labels[0, 0] and torch.equal(after.labels[1:], before.labels[1:])


def damage(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "cut-before-the-end-marker":
        path.write_bytes(data[: -len(END)])
    elif how == "end-marker-overwritten":
        path.write_bytes(data[: -len(END)] + b"\0" * len(END))
    elif how == "header-damaged":
        path.write_bytes(b"XXXX" + data[4:])
    elif how == "header-of-another-key":  # same length: only the key check can tell
        at = data.index(b'"key": "') + len(b'"key": "')
        path.write_bytes(data[:at] + (b"1" if data[at:at + 1] == b"0" else b"0") + data[at + 1:])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "grown":
        path.write_bytes(data + b"\0" * 10)


@pytest.mark.parametrize("how", ["truncated", "cut-before-the-end-marker", "end-marker-overwritten", "header-damaged",
                                 "header-of-another-key", "empty", "grown"])
def test_a_damaged_cache_file_is_rebuilt_not_used(hq, tmp_path, decodes, how):
    cache = tmp_path / "cache"
    expected = load(hq, cache).images.clone()
    (path,) = [cache / name for name in cache_files(cache)]
    damage(path, how)
    decodes.clear()
    rebuilt = load(hq, cache)
    assert len(decodes) == 27 and torch.equal(rebuilt.images, expected)
    assert path.read_bytes().startswith(MAGIC) and path.read_bytes().endswith(END)
    decodes.clear()
    assert torch.equal(load(hq, cache).images, expected) and decodes == []


def test_a_crash_mid_build_leaves_nothing_that_would_be_used(hq, tmp_path, monkeypatch, decodes):
    cache = tmp_path / "cache"
    real = faces.decode_face

    def dies_after_ten(path, size, crop_square):
        if len(decodes) > 10:
            raise KeyboardInterrupt  # what Ctrl-C does mid-build; any other exception takes the same path
        return real(path, size, crop_square)

    with monkeypatch.context() as patch:
        patch.setattr(faces, "decode_face", lambda *a: (decodes.append(a[0].name), dies_after_ten(*a))[1])
        with pytest.raises(KeyboardInterrupt):
            load(hq, cache)
    assert cache_files(cache) == [] and not list(cache.glob("*.tmp"))
    decodes.clear()
    data = load(hq, cache)
    assert len(decodes) == 27 and torch.equal(data.images, load(hq, False).images)


def test_a_killed_builders_temporary_file_is_ignored_and_cleared(hq, tmp_path, decodes):
    cache = tmp_path / "cache"
    load(hq, cache)
    (name,) = cache_files(cache)
    (cache / name).rename(cache / f".{name}.abc123.tmp")  # as a builder killed before its rename leaves it
    decodes.clear()
    data = load(hq, cache)
    assert len(decodes) == 27 and torch.equal(data.images, load(hq, False).images)
    assert cache_files(cache) == [name] and not list(cache.glob("*.tmp"))


def test_an_unreadable_image_leaves_no_cache(hq, tmp_path):
    cache = tmp_path / "cache"
    (hq / "images" / "20.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match=r"cannot decode image \S*20\.jpg"):
        load(hq, cache)
    assert cache_files(cache) == [] and not list(cache.glob("*.tmp"))


def test_concurrent_loaders_share_one_build(hq, tmp_path, decodes):
    """Two loaders at once (as the ranks of a distributed run): one decodes, the other waits and maps its file."""
    cache, start, results, errors = tmp_path / "cache", threading.Barrier(3), [None] * 3, []

    def loader(i):
        try:
            start.wait()
            results[i] = load(hq, cache)
        except Exception as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=loader, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert len(decodes) == 27 and len(cache_files(cache)) == 1
    assert all(torch.equal(r.images, results[0].images) for r in results)


def test_where_the_cache_lives(tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_cache_dir() == default_cache_dir() == tmp_path / "xdg" / "cvae-explorer" / "data"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert resolve_cache_dir() == tmp_path / "env"
    assert resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"  # the argument wins
    assert resolve_cache_dir(False) is None
    for off in ("off", "OFF", "none", "0"):
        monkeypatch.setenv(CACHE_ENV, off)
        assert resolve_cache_dir() is None


def test_environment_variable_and_off_switch(hq, tmp_path, monkeypatch, decodes):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env-cache"))
    load_dataset("celeba", hq, "test", image_size=16)
    assert len(cache_files(tmp_path / "env-cache")) == 1
    monkeypatch.setenv(CACHE_ENV, "off")
    decodes.clear()
    load_dataset("celeba", hq, "test", image_size=16)
    load_dataset("celeba", hq, "test", image_size=16)
    assert len(decodes) == 6  # decoded both times, nothing written
    assert len(cache_files(tmp_path / "env-cache")) == 1


def test_a_cache_folder_that_cannot_be_written_falls_back_to_memory(hq, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load(hq, blocked / "cache")
    assert torch.equal(data.images, load(hq, False).images)
    assert [str(w.message) for w in caught if "cache not used" in str(w.message)]


def test_mapped_dataset_batches_moves_and_keeps_the_file_intact(hq, tmp_path):
    cache = tmp_path / "cache"
    load(hq, cache)
    data = load(hq, cache)
    (path,) = [cache / name for name in cache_files(cache)]
    before = path.read_bytes()
    assert data.to("cpu").images.data_ptr() == data.images.data_ptr()  # stays mapped on the CPU, no copy
    generator = torch.Generator().manual_seed(0)
    shuffled = torch.cat([x for x, _ in data.batches(8, shuffle=True, generator=generator)])
    assert shuffled.dtype == torch.float32 and shuffled.shape == (27, 3, 16, 16)
    assert torch.equal(data.subset(5).images, data.images[:5])
    data.images[0] = 0  # copy-on-write: a stray in-place write never reaches the shared file
    assert path.read_bytes() == before
    assert not torch.equal(load(hq, cache).images[0], data.images[0])


@pytest.mark.slow  # over a second: two training runs side by side
def test_training_from_the_map_gives_the_same_numbers_as_from_memory(tmp_path):
    from tests.fixtures import face_model
    from trainer import TrainConfig, Trainer

    root = make_celeba_hq(tmp_path / "faces", count=24, size=16)
    results = []
    for cache in (False, tmp_path / "cache", tmp_path / "cache"):  # memory, build, map
        train = load(root, cache)
        torch.manual_seed(0)
        model = face_model(latent_dim=4)
        config = TrainConfig(epochs=2, batch_size=8, device="cpu", sample_count=0)
        result = Trainer(model, train, None, config, tmp_path / f"run-{len(results)}.pt").run()
        results.append((result.history, {k: v.clone() for k, v in model.state_dict().items()}))
    (memory_history, memory_weights), *others = results
    for history, weights in others:
        assert [{k: v for k, v in r.items() if k not in ("seconds", "images_per_second")} for r in history] == \
            [{k: v for k, v in r.items() if k not in ("seconds", "images_per_second")} for r in memory_history]
        assert all(torch.equal(weights[k], memory_weights[k]) for k in memory_weights)


def test_image_dataset_over_a_read_only_numpy_map(tmp_path):
    """np.load(mmap_mode="r") gives a read-only array (torch warns, and a write would fault): indexing, batches,
    subsets and .to() only read, so a dataset over one works as over any tensor."""
    from cvae.data.dataset import ImageDataset

    array = np.random.default_rng(0).integers(0, 256, (20, 3, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "images.npy", array)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "The given NumPy array is not writable"
        images = torch.from_numpy(np.load(tmp_path / "images.npy", mmap_mode="r"))
    data = ImageDataset("mine", "train", images, torch.arange(20) % 10, [str(d) for d in range(10)], "class")
    memory = ImageDataset("mine", "train", torch.from_numpy(array.copy()), torch.arange(20) % 10,
                          [str(d) for d in range(10)], "class")
    for one, other in ((data, memory), (data.to("cpu"), memory), (data.subset(7), memory.subset(7))):
        first = [x for x, _ in one.batches(6, shuffle=True, generator=torch.Generator().manual_seed(3))]
        second = [x for x, _ in other.batches(6, shuffle=True, generator=torch.Generator().manual_seed(3))]
        assert all(torch.equal(a, b) for a, b in zip(first, second)) and len(first) == len(second)
    assert torch.equal(data[4][0], memory[4][0])
