# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The one sensor_msgs/Image <-> numpy conversion of the project, and the one frame resize.

Duck-typed on the Image fields (height, width, encoding, is_bigendian, step,
data) so the same code serves rclpy messages, rosbags messages and plain
objects. Row padding (``step`` larger than ``width * pixel size``) is removed.

``resize_frames`` turns episode frames of any camera size into a latent model's
input size (its ``config.image_size``); every path from an Episode into a model
(``FrameWindows``, so training, labelling, metrics and figures) goes through it.
"""
from __future__ import annotations

import array
import sys
from typing import Any

import numpy as np

# encoding -> (dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    'rgb8': (np.dtype(np.uint8), 3),
    'bgr8': (np.dtype(np.uint8), 3),
    'mono8': (np.dtype(np.uint8), 1),
    '16UC1': (np.dtype(np.uint16), 1),
    '32FC1': (np.dtype(np.float32), 1),
}

_NATIVE_BIGENDIAN = sys.byteorder == 'big'


def _encoding_spec(encoding: str) -> tuple[np.dtype, int]:
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ValueError(
            f'unsupported image encoding {encoding!r}; supported: {sorted(ENCODINGS)}') from None


def image_to_array(msg: Any) -> np.ndarray:
    """Return the pixels of an Image message as a new array.

    Shape is (H, W, 3) for rgb8/bgr8 (channel order as stored) and (H, W) for
    mono8 / 16UC1 / 32FC1, in native byte order.
    """
    encoding = str(msg.encoding)
    dtype, channels = _encoding_spec(encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ValueError(
            f'image step {step} is smaller than width {width} x {channels} channel(s) x '
            f'{dtype.itemsize} byte(s) = {row_bytes} for encoding {encoding!r}')
    data = msg.data
    raw = (np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview,
                                                                     array.array, np.ndarray))
           else np.asarray(data, dtype=np.uint8))
    if raw.size < height * step:
        raise ValueError(
            f'image data has {raw.size} bytes, expected height {height} x step {step} = '
            f'{height * step} for encoding {encoding!r}')
    rows = raw[:height * step].reshape(height, step)[:, :row_bytes]
    pixels = np.ascontiguousarray(rows).view(dtype)
    if dtype.itemsize > 1 and bool(msg.is_bigendian) != _NATIVE_BIGENDIAN:
        pixels = pixels.byteswap()
    shape = (height, width, channels) if channels > 1 else (height, width)
    result = pixels.reshape(shape)
    return result if result.flags.writeable and not np.may_share_memory(result, raw) \
        else result.copy()


def image_to_rgb(msg: Any) -> np.ndarray:
    """Return an rgb8 / bgr8 / mono8 Image as (H, W, 3) uint8 RGB, the layout models consume."""
    pixels = image_to_array(msg)
    encoding = str(msg.encoding)
    if encoding == 'rgb8':
        return pixels
    if encoding == 'bgr8':
        return np.ascontiguousarray(pixels[..., ::-1])
    if encoding == 'mono8':
        return np.repeat(pixels[..., None], 3, axis=-1)
    raise ValueError(f'image encoding {encoding!r} is not a color image (need rgb8, bgr8, mono8)')


def array_to_image_fields(pixels: np.ndarray, encoding: str) -> dict[str, Any]:
    """Return the Image fields (height, width, encoding, is_bigendian, step, data) for an array.

    ``data`` is an ``array.array('B')``, which rclpy takes without a per-byte
    check; rosbags messages need ``np.frombuffer(fields['data'], np.uint8)``.
    """
    dtype, channels = _encoding_spec(encoding)
    expected = '(H, W, 3)' if channels > 1 else '(H, W)'
    ndim_ok = pixels.ndim == 3 and pixels.shape[-1] == channels if channels > 1 \
        else pixels.ndim == 2
    if not ndim_ok or pixels.dtype != dtype:
        raise ValueError(
            f'encoding {encoding!r} needs a {expected} {dtype} array, got shape '
            f'{pixels.shape} {pixels.dtype}')
    height, width = pixels.shape[:2]
    return {
        'height': height,
        'width': width,
        'encoding': encoding,
        'is_bigendian': int(_NATIVE_BIGENDIAN),
        'step': width * channels * dtype.itemsize,
        'data': array.array('B', np.ascontiguousarray(pixels).tobytes()),
    }


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """Episode frames (T, H, W, 3) uint8 of any size -> (T, size, size, 3) uint8.

    ``size`` is the model's input size (``config.image_size``, the one owner of it).
    Frames already that size are returned as they are (no copy); others are
    resized with cv2's INTER_AREA (a non-square camera image is scaled, not cropped).
    Raises ValueError, naming what was given, for anything that is not a stack
    of RGB uint8 frames with at least one pixel, or a size below 1.
    """
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3 \
            or frames.dtype != np.uint8:
        shape = getattr(frames, 'shape', None)
        raise ValueError(f'resize_frames takes (T, H, W, 3) uint8 RGB frames, got '
                         f'{type(frames).__name__} of shape {shape} '
                         f'{getattr(frames, "dtype", "")}'.rstrip())
    if size < 1 or 0 in frames.shape[1:3]:
        raise ValueError(f'cannot resize {frames.shape[2]}x{frames.shape[1]} px frames to '
                         f'{size}x{size} px')
    if frames.shape[1:3] == (size, size):
        return frames
    import cv2

    if not len(frames):
        return np.empty((0, size, size, 3), np.uint8)
    return np.stack([cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
                     for frame in frames])
