"""A per-task image preprocessing plan: frame → model input with no per-frame allocations.

:func:`.image.preprocess_placed` is the reference (MediaPipe's image-to-tensor step, then float32
normalization, then quantization at the model boundary). A task runs the same arithmetic through an
:class:`ImagePlan`, which does the work once that does not depend on the pixels:

- the ``cv2.remap`` maps for a (frame size, region) are built on the first frame of that size and kept;
- the resized pixels, and the model's input tensor, live in buffers made once and written in place;
- a uint8 model whose input quantization is (within one step) the normalization gets the resized
  pixels themselves, as MediaPipe feeds them: all 256 pixel values stay distinct, where the float
  round trip (pixel → float → quantize) folds them onto fewer codes; any other quantized input reads
  a 256-entry table; a float input reads a float32 table made with the reference's own float32 ops,
  so its values are bit-identical to :func:`.image.normalize`.

Frames the plan does not cover (grey output, float frames, per-channel statistics with a quantized
input, the ``area`` resampler) go through the reference path unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..metadata.card import ImageSpec
from .image import Placement, border_for, fit_placed, normalize, place, preprocess_placed, to_color_order
from .warp import _FRACTION_BITS, _ONE, opencv, sample_positions

_MAPS_KEPT = 4  # frame sizes / regions whose remap tables stay cached (a camera has one)


def normalization_table(spec: ImageSpec) -> np.ndarray:
    """The float32 value of every pixel 0..255 (per channel: shape (256, C)), computed as :func:`.image.normalize`."""
    pixels = np.arange(256, dtype=np.uint8).reshape(256, 1, 1)
    if len(spec.mean) == 1 and len(spec.std) == 1:
        return normalize(pixels, spec.mean, spec.std).reshape(256, 1)
    channels = np.repeat(pixels, spec.channels, axis=2)
    return normalize(channels, spec.mean, spec.std).reshape(256, spec.channels)


def quantized_table(values: np.ndarray, dtype: np.dtype, scale: float, zero_point: int) -> np.ndarray:
    """Each normalized value quantized as the model boundary does (``rint(v / scale + zero_point)``, clipped)."""
    info = np.iinfo(dtype)
    scaled = np.divide(values, np.float32(scale), dtype=np.float32) + np.float32(zero_point)
    return np.clip(np.rint(scaled), info.min, info.max).astype(dtype)


def pixels_pass_through(spec: ImageSpec, dtype: np.dtype, scale: float | None, zero_point: int | None) -> bool:
    """Whether the resized uint8 pixels can be the model's input as they are.

    True for a uint8 input whose code ``p`` stands for a real value within one quantization step of
    the normalized pixel ``p`` (for every p and channel). That is MediaPipe's choice for uint8 models,
    and it loses no pixel value, where quantizing the float values may fold two pixels onto one code
    (scale 1/127.5, zero point 127 with mean = std = 127.5 keeps only 144 of 256 codes).
    A uint8 input without quantization parameters takes the pixels when mean is 0 and std 1.
    """
    if np.dtype(dtype) != np.uint8:
        return False
    values = normalization_table(spec).astype(np.float64)
    codes = np.arange(256, dtype=np.float64)[:, None]
    if scale is None or zero_point is None:
        return bool(np.all(values == codes))
    return bool(np.all(np.abs(values / scale + zero_point - codes) <= 1.0))


class _Maps:
    """The remap tables for one (frame size, region), and the box of the tensor they can change."""

    def __init__(self, maps: tuple[np.ndarray, np.ndarray], placement: Placement, box: tuple[slice, slice]):
        self.maps, self.placement, self.box = maps, placement, box
        # contiguous copies, so cv2 reads them without a per-frame conversion
        self.box_maps = tuple(np.ascontiguousarray(m[box]) for m in maps)


class ImagePlan:
    """Turns frames into one model input tensor, reusing its buffers frame after frame.

    Args:
        spec: the model's ImageSpec.
        dtype: the model input's dtype (float32, float16, uint8 or int8).
        scale, zero_point: the input's quantization (None for a float input).

    The tensor :meth:`prepare` returns is the plan's own buffer: it is overwritten by the next call
    (the model copies it in ``set_tensor``), so keep a copy if you need it later.
    """

    def __init__(self, spec: ImageSpec, dtype: np.dtype, scale: float | None = None, zero_point: int | None = None):
        self.spec = spec
        self.dtype = np.dtype(dtype)
        self.scale, self.zero_point = scale, zero_point
        self.border = border_for(spec.resize_mode)
        self.supported = (
            spec.resampling == "mediapipe"
            and spec.channels == 3
            and spec.color_order in ("RGB", "BGR")
            and (self.dtype == np.float32 or (self.dtype.kind in "iu" and self.dtype.itemsize == 1))
        )
        self.pass_through = self.supported and pixels_pass_through(spec, self.dtype, scale, zero_point)
        table = normalization_table(spec)
        if self.dtype.kind in "iu" and not self.pass_through:
            if scale is None or zero_point is None:  # an integer input without quantization: clip, as the boundary does
                info = np.iinfo(self.dtype)
                table = np.clip(np.rint(table), info.min, info.max).astype(self.dtype)
            else:
                table = quantized_table(table, self.dtype, scale, zero_point)
        elif self.dtype.kind == "f":
            table = table.astype(np.float32)
        # cv2.LUT takes one table, or one per channel as a (1, 256, C) array.
        self.table = table[:, 0].copy() if table.shape[1] == 1 else np.ascontiguousarray(table[None])
        shape = (1, spec.height, spec.width, spec.channels)
        self.tensor = np.empty(shape, self.dtype)
        self._resized = self.tensor[0] if self.pass_through else np.empty(shape[1:], np.uint8)
        self._swapped = np.empty(shape[1:], np.uint8)
        self._maps: dict[tuple, _Maps] = {}
        self._drawn: _Maps | None = None  # the placement whose bars the buffers hold

    def prepare(
        self, frame: np.ndarray, source_order: str = "RGB", region: Sequence[float] | None = None
    ) -> tuple[np.ndarray, Placement]:
        """Frame (H, W, C) → ((1, height, width, channels) tensor in the model's dtype, Placement).

        Raises:
            InputError: a malformed frame or region (as :func:`.image.preprocess_placed`).
        """
        cv2 = opencv(counting=False)
        if (
            not self.supported
            or cv2 is None
            or frame.dtype != np.uint8
            or frame.ndim != 3
            or frame.shape[2] != 3
            or not frame.flags.c_contiguous
        ):
            return self._reference(frame, source_order, region)
        entry = self._maps_for(frame.shape[1], frame.shape[0], region)
        placement = entry.placement
        if entry is self._drawn:  # the bars (zeros outside the box) are already in the buffers: the box only
            maps, box = entry.box_maps, entry.box
        else:  # the first frame of this placement: whole buffers, bars included
            maps, box = entry.maps, (slice(None), slice(None))
        mode = cv2.BORDER_REPLICATE if self.border == "replicate" else cv2.BORDER_CONSTANT
        resized = self._resized[box]
        cv2.remap(frame, maps[0], maps[1], cv2.INTER_LINEAR, dst=resized, borderMode=mode, borderValue=0)
        if source_order != self.spec.color_order:
            swapped = self._swapped[box]
            cv2.cvtColor(resized, cv2.COLOR_RGB2BGR, dst=swapped)  # the same swap either way
            if self.pass_through:
                np.copyto(resized, swapped)
            resized = swapped
        if not self.pass_through:
            cv2.LUT(resized, self.table, dst=self.tensor[0][box])
        self._drawn = entry
        return self.tensor, placement

    def pixels(self, tensor: np.ndarray) -> np.ndarray:
        """A tensor :meth:`prepare` made → the (height, width, 3) uint8 RGB picture it stands for.

        The inverse of the last steps of preprocessing (dequantize, ``value * std + mean``, colour order),
        so a person sees what the model sees: the crop, letterbox bars and resampling all stay. Grey
        inputs come back as three equal channels.
        """
        spec = self.spec
        values = np.asarray(tensor).reshape(spec.height, spec.width, -1)
        if self.pass_through:
            pixels = values.astype(np.float32)  # the resized pixels themselves
        else:
            real = values.astype(np.float32)
            if self.dtype.kind in "iu" and self.scale is not None and self.zero_point is not None:
                real = (real - np.float32(self.zero_point)) * np.float32(self.scale)
            std = np.asarray(spec.std, np.float32)
            mean = np.asarray(spec.mean, np.float32)
            pixels = real * std + mean
        image = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
        if image.shape[2] == 1:
            return np.repeat(image, 3, axis=2)
        return np.ascontiguousarray(image[:, :, ::-1]) if spec.color_order == "BGR" else image

    def _maps_for(self, src_width: int, src_height: int, region: Sequence[float] | None) -> _Maps:
        key = (src_width, src_height, None if region is None else tuple(float(v) for v in region))
        cached = self._maps.get(key)
        if cached is not None:
            return cached
        if region is not None:
            from .image import crop_pixels

            crop_pixels(np.empty((src_height, src_width, 0), np.uint8), region)  # the reference's overlap check
        spec = self.spec
        fitted, placement = place(src_width, src_height, spec.width, spec.height, spec.resize_mode, region)
        xs, ys = sample_positions(fitted, spec.width, spec.height)
        # The fixed-point maps warp._warp_opencv builds, kept: integer pixel + 1/32 fraction per sample.
        limit = np.iinfo(np.int16)
        map_xy = np.empty((spec.height, spec.width, 2), np.int16)
        map_xy[..., 0] = np.clip(xs >> _FRACTION_BITS, limit.min, limit.max)[None, :]
        map_xy[..., 1] = np.clip(ys >> _FRACTION_BITS, limit.min, limit.max)[:, None]
        fractions = ((ys & (_ONE - 1))[:, None] * _ONE + (xs & (_ONE - 1))[None, :]).astype(np.uint16)
        if len(self._maps) >= _MAPS_KEPT:
            dropped = self._maps.pop(next(iter(self._maps)))
            self._drawn = None if dropped is self._drawn else self._drawn
        self._maps[key] = _Maps((map_xy, fractions), placement, self._box(xs, ys, src_width, src_height))
        return self._maps[key]

    def _box(self, xs: np.ndarray, ys: np.ndarray, src_width: int, src_height: int) -> tuple[slice, slice]:
        """The tensor rows and columns that can differ from zero: outside them, with the zero border, both
        bilinear taps of a row (or column) fall outside the frame, so the pixel is 0 on every frame
        (a letterbox's bars)."""
        if self.border == "replicate":
            return slice(None), slice(None)

        def span(positions: np.ndarray, size: int) -> slice:
            first = positions >> _FRACTION_BITS
            inside = np.flatnonzero((first + 1 >= 0) & (first < size))
            return slice(int(inside[0]), int(inside[-1]) + 1) if inside.size else slice(0, 0)

        return span(ys, src_height), span(xs, src_width)

    def _reference(self, frame: np.ndarray, source_order: str, region: Sequence[float] | None):
        self._drawn = None  # the reference writes the whole tensor
        if not self.pass_through:
            values, placement = preprocess_placed(frame, self.spec, source_order, region)
            if self.dtype.kind == "f":
                self.tensor[0] = values
            elif self.scale is not None and self.zero_point is not None:
                self.tensor[0] = quantized_table(values, self.dtype, self.scale, self.zero_point)
            else:
                info = np.iinfo(self.dtype)
                self.tensor[0] = np.clip(np.rint(values), info.min, info.max)
            return self.tensor, placement
        # The pixels the reference resamples before normalizing (the numpy warp gives the same ones).
        image = frame[:, :, None] if frame.ndim == 2 else frame
        image = image[:, :, :3] if image.shape[2] == 4 else image
        spec = self.spec
        resized, placement = fit_placed(
            np.ascontiguousarray(image), spec.width, spec.height, spec.resize_mode, spec.resampling, region
        )
        pixels = to_color_order(resized, spec.color_order, source_order)
        self.tensor[0] = np.clip(np.rint(pixels), 0, 255) if pixels.dtype != np.uint8 else pixels
        return self.tensor, placement
