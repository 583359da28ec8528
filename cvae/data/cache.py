"""A decoded uint8 image cache on disk, memory-mapped on later loads.

Decoding 27,000 JPEG faces takes ~10 s on every start, and a set larger than memory cannot be decoded into one
tensor at all. The first load decodes each image straight into a file in the cache folder; later loads map that
file (a fraction of a second whatever its size) and batches are cut from the map, so the operating system pages
in what a batch needs and the data may be larger than memory.

One file per decoded selection (data set, split, image size, crop), named by a key over everything the
pixels depend on: the images' paths, sizes and modification times, the image size, the crop and this file
format's version. A changed source gives another key, so the old file is never used again (and is removed
when its successor is written, as are files whose source folder no longer exists). Files are written under a temporary name and renamed into place once complete,
so a crash mid-build leaves nothing that would be used; concurrent builders (the ranks of a distributed run)
take a lock, and the ones that waited map the finished file. A file whose size, header or end marker is wrong
is not used: it is rebuilt.

Layout of a cache file: the 8-byte magic ``CVAE-U8\\0``, a 4-byte little-endian header length, a JSON header
(version, key, shape, dtype, what it holds), padding up to a multiple of 4096 bytes, the raw uint8 array in C
order, then the 8-byte end marker ``CVAE-END``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import struct
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

CACHE_ENV = "CVAE_CACHE_DIR"
DISABLED = ("off", "none", "no", "0", "false")  # values of $CVAE_CACHE_DIR that turn the cache off
FORMAT_VERSION = 1
MAGIC = b"CVAE-U8\0"
END = b"CVAE-END"
ALIGN = 4096
SUFFIX = ".u8"
HEADROOM = 64 * 1024 * 1024  # free space left on the cache's disk after a build


class CacheUnavailable(Exception):
    """The cache folder cannot take the file (not writable, disk full); the caller decodes into memory instead."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cvae-explorer" / "data"


def resolve_cache_dir(cache_dir: str | os.PathLike | bool | None = None) -> Path | None:
    """The folder to use, or None for no cache: the argument wins (False: off), then $CVAE_CACHE_DIR (`off`:
    off), then ~/.cache/cvae-explorer/data (under $XDG_CACHE_HOME when set)."""
    if cache_dir is False:
        return None
    if cache_dir is not None and cache_dir is not True:
        return Path(cache_dir).expanduser()
    chosen = os.environ.get(CACHE_ENV, "").strip()
    if chosen.lower() in DISABLED:
        return None
    return Path(chosen).expanduser() if chosen else default_cache_dir()


def source_key(files: Iterable[str | os.PathLike], **facts) -> str:
    """A hex digest over the files' absolute paths, sizes and modification times (nanoseconds) and `facts`
    (image size, crop, ...). Raises FileNotFoundError for a file that does not exist."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": FORMAT_VERSION, **facts}, sort_keys=True, default=str).encode())
    for name in files:
        stat = os.stat(name)
        digest.update(f"\n{os.fspath(name)}\0{stat.st_size}\0{stat.st_mtime_ns}".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def cache_path(cache_dir: Path, name: str, key: str) -> Path:
    return cache_dir / f"{name}-{key[:24]}{SUFFIX}"


def _header_bytes(key: str, shape: tuple[int, ...], about: dict) -> tuple[bytes, int]:
    header = json.dumps({"version": FORMAT_VERSION, "key": key, "shape": list(shape), "dtype": "uint8",
                         **about}).encode()
    start = len(MAGIC) + 4 + len(header)
    offset = -(-start // ALIGN) * ALIGN
    return MAGIC + struct.pack("<I", len(header)) + header + b" " * (offset - start), offset


def open_cache(path: Path, key: str, shape: tuple[int, ...]) -> torch.Tensor | None:
    """The mapped array of a complete cache file for `key` and `shape`, or None when the file is absent or not
    exactly that (another key, truncated, header or end marker damaged): never a half-written file. The file
    checked is the file mapped (one open handle), even if another process replaces or removes it meanwhile."""
    try:
        with open(path, "rb") as handle:
            header, length = _read_header(handle)
            if header is None:
                return None
            offset = -(-(len(MAGIC) + 4 + length) // ALIGN) * ALIGN
            nbytes = int(np.prod(shape, dtype=np.int64))
            size = os.fstat(handle.fileno()).st_size
            if (header.get("version") != FORMAT_VERSION
                    or header.get("key") != key or header.get("dtype") != "uint8"
                    or tuple(header.get("shape") or ()) != tuple(shape) or size != offset + nbytes + len(END)):
                return None
            handle.seek(offset + nbytes)
            if handle.read(len(END)) != END:
                return None
            if nbytes == 0:
                return torch.empty(shape, dtype=torch.uint8)
            # copy-on-write ("c", MAP_PRIVATE): reads share the page cache and the file is never changed; the
            # array is writable as torch expects, and a caller's in-place write only touches its private copy
            array = np.memmap(handle, dtype=np.uint8, mode="c", offset=offset, shape=shape)
    except (OSError, ValueError, TypeError, UnicodeDecodeError):
        return None
    return torch.from_numpy(array)


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[bool]:
    """An exclusive advisory lock beside `path` (fcntl where it exists), released when the holder exits or dies.
    Yields whether a lock is held: without one (Windows), concurrent builders each write their own temporary file
    and the last rename wins, which is still correct."""
    try:
        import fcntl
    except ImportError:
        yield False
        return
    with open(path.with_name(path.name + ".lock"), "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def build_cache(path: Path, key: str, shape: tuple[int, ...], fill: Callable[[torch.Tensor], None],
                about: dict | None = None) -> None:
    """Write the cache file: header, `fill(array)` into a map of a temporary file, end marker, fsync, rename.
    An exception from `fill` removes the temporary file and propagates; CacheUnavailable for disk problems."""
    header, offset = _header_bytes(key, shape, about or {})
    nbytes = int(np.prod(shape, dtype=np.int64))
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError as exc:
        raise CacheUnavailable(f"cannot use the cache folder {path.parent}: {exc.strerror or exc}") from None
    if free < offset + nbytes + HEADROOM:
        raise CacheUnavailable(f"only {free / 1e6:.0f} MB free in the cache folder {path.parent}; the decoded "
                               f"images need {(offset + nbytes) / 1e6:.0f} MB")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise CacheUnavailable(f"cannot write in the cache folder {path.parent}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "r+b") as out:
            try:
                out.write(header)
                out.flush()
                _reserve(out.fileno(), offset + nbytes + len(END))  # a full disk fails here, not as SIGBUS later
                array = np.memmap(out, dtype=np.uint8, mode="r+", offset=offset, shape=shape) if nbytes else None
            except OSError as exc:
                raise CacheUnavailable(f"cannot write the cache file {path}: {exc.strerror or exc}") from None
            if array is not None:
                fill(torch.from_numpy(array))  # errors here (an unreadable image) are the input's: they propagate
            try:
                if array is not None:
                    array.flush()
                    del array
                out.seek(offset + nbytes)
                out.write(END)
                out.flush()
                os.fsync(out.fileno())
                os.fchmod(out.fileno(), 0o644 & ~_umask())  # mkstemp makes owner-only files; ranks may differ
            except OSError as exc:
                raise CacheUnavailable(f"cannot write the cache file {path}: {exc.strerror or exc}") from None
        try:
            os.replace(temporary, path)
        except OSError as exc:
            raise CacheUnavailable(f"cannot write the cache file {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _reserve(fd: int, size: int) -> None:
    """Give the file its final size with its blocks allocated where the system can (posix_fallocate)."""
    os.ftruncate(fd, size)
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system that cannot preallocate
                raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove_superseded(cache_dir: Path, name: str, keep: Path, locked: bool) -> None:
    """Earlier files of the same selection (their sources changed) and, under the build lock only, temporary files
    of builders that died: a live builder holds the lock, so none of its files is touched. A process still mapping
    a removed file keeps reading it (POSIX); where removal fails the file just stays."""
    for other in cache_dir.glob(f"{name}-*{SUFFIX}"):
        if other != keep and len(other.name) == len(keep.name):
            with contextlib.suppress(OSError):
                other.unlink()
    for stale in cache_dir.glob(f".{name}-*{SUFFIX}.*.tmp") if locked else ():
        with contextlib.suppress(OSError):
            stale.unlink()


def read_header(path: Path) -> dict | None:
    """The JSON header of a cache file, or None if it has none."""
    try:
        with open(path, "rb") as handle:
            return _read_header(handle)[0]
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _read_header(handle) -> tuple[dict | None, int]:
    """The JSON header at the start of an open cache file and its length in bytes; (None, 0) when the file has no
    magic number or an implausibly long header. Malformed JSON raises ValueError."""
    head = handle.read(len(MAGIC) + 4)
    if len(head) < len(MAGIC) + 4 or head[:len(MAGIC)] != MAGIC:
        return None, 0
    (length,) = struct.unpack("<I", head[len(MAGIC):])
    if length > ALIGN * 16:
        return None, 0
    header = json.loads(handle.read(length))
    return (header, length) if isinstance(header, dict) else (None, 0)


def _remove_orphans(cache_dir: Path) -> None:
    """Cache files whose source folder no longer exists (a moved data set, a test's temporary folder): nothing
    can ever use them again."""
    for path in cache_dir.glob(f"*{SUFFIX}"):
        source = (read_header(path) or {}).get("source")
        if isinstance(source, str) and source and not os.path.isdir(source):
            for stale in (path, path.with_name(path.name + ".lock")):
                with contextlib.suppress(OSError):
                    stale.unlink()


def cached_uint8(cache_dir: Path, name: str, key: str, shape: tuple[int, ...],
                 fill: Callable[[torch.Tensor], None], about: dict | None = None) -> torch.Tensor | None:
    """The uint8 array `shape` for `key`, mapped from `cache_dir`, built first with `fill` when it is missing or
    unusable. None (with a warning) when the cache folder cannot take it: the caller then decodes into memory.
    Errors raised by `fill` (an unreadable image) propagate and leave no file behind."""
    path = cache_path(cache_dir, name, key)
    mapped = open_cache(path, key, shape)
    if mapped is not None:
        return mapped
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with _build_lock(path) as locked:
            mapped = open_cache(path, key, shape)  # another process may have built it while this one waited
            if mapped is not None:
                return mapped
            _remove_superseded(cache_dir, name, path, locked)
            _remove_orphans(cache_dir)
            build_cache(path, key, shape, fill, about)
    except CacheUnavailable as exc:
        warnings.warn(f"decoded-image cache not used: {exc}; decoding into memory instead", stacklevel=3)
        return None
    except OSError as exc:  # the folder or its lock file cannot be created
        warnings.warn(f"decoded-image cache not used: cannot write in {cache_dir} ({exc.strerror or exc}); "
                      "decoding into memory instead", stacklevel=3)
        return None
    mapped = open_cache(path, key, shape)
    if mapped is None:  # written and renamed, yet unreadable: a file system that does not keep what it is given
        warnings.warn(f"decoded-image cache not used: {path} could not be read back; decoding into memory "
                      "instead", stacklevel=3)
    return mapped
