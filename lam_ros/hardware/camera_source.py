# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The camera types every frame producer shares: RealSense, recordings and the simulator.

Nothing here imports pyrealsense2 or rclpy, so the sim camera node can build a
``CameraFrame`` and the ROS node can publish one without either being installed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


class CameraError(RuntimeError):
    """A camera could not be opened, failed while streaming, or could not be reconnected."""


class CameraTimeout(CameraError):
    """A started camera delivered no complete frame within the read timeout."""


@dataclass(frozen=True, eq=False)
class CameraIntrinsics:
    """Pinhole calibration of one image stream, in the terms sensor_msgs/CameraInfo uses.

    ``distortion_model`` is the CameraInfo name ('plumb_bob' or 'equidistant') and ``d``
    holds its coefficients in CameraInfo order.
    """

    width: int
    height: int
    k: np.ndarray                 # (3, 3) float64 camera matrix
    d: tuple[float, ...]
    distortion_model: str
    frame_id: str

    def __post_init__(self) -> None:
        k = np.asarray(self.k, dtype=np.float64)
        if k.shape != (3, 3):
            raise ValueError(f'CameraIntrinsics.k must be 3x3, got shape {k.shape}')
        if self.width <= 0 or self.height <= 0:
            raise ValueError(
                f'CameraIntrinsics size must be positive, got {self.width}x{self.height}')
        object.__setattr__(self, 'k', k)
        object.__setattr__(self, 'd', tuple(float(c) for c in self.d))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CameraIntrinsics):
            return NotImplemented
        return (self.width, self.height, self.d, self.distortion_model, self.frame_id) == (
            other.width, other.height, other.d, other.distortion_model, other.frame_id
        ) and np.array_equal(self.k, other.k)

    @classmethod
    def pinhole(cls, width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                frame_id: str) -> CameraIntrinsics:
        """Build an undistorted camera, e.g. a simulator's render camera."""
        k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        return cls(width, height, k, (0.0,) * 5, 'plumb_bob', frame_id)


@dataclass(frozen=True)
class CameraFrame:
    """One color image with its depth, timestamps and calibration.

    ``device_time_s`` is the camera's own clock in ``time_domain`` (for RealSense:
    'hardware_clock' when the frame metadata carries the sensor time, 'system_time' when
    the driver stamped it on arrival, 'global_time' when host-synchronised);
    ``host_time_s`` is the host's epoch time when the frame arrived (librealsense's time of
    arrival where the frame carries it, else ``time.time()`` when this process read it). Depth is in
    millimetres; when it is aligned to color ``depth_intrinsics`` equals ``intrinsics``.
    """

    color: np.ndarray                       # (H, W, 3) uint8 RGB
    depth: np.ndarray | None                # (h, w) uint16 millimetres, 0 = no reading
    device_time_s: float
    time_domain: str
    host_time_s: float
    frame_number: int
    intrinsics: CameraIntrinsics
    depth_intrinsics: CameraIntrinsics | None = None

    def __post_init__(self) -> None:
        color = self.color
        if color.ndim != 3 or color.shape[2] != 3 or color.dtype != np.uint8:
            raise ValueError(
                f'CameraFrame.color must be (H, W, 3) uint8, got {color.shape} {color.dtype}')
        if color.shape[:2] != (self.intrinsics.height, self.intrinsics.width):
            raise ValueError(
                f'CameraFrame.color is {color.shape[1]}x{color.shape[0]} but its intrinsics '
                f'say {self.intrinsics.width}x{self.intrinsics.height}')
        if self.depth is None:
            return
        if self.depth_intrinsics is None:
            raise ValueError('CameraFrame.depth is set but depth_intrinsics is None')
        depth = self.depth
        expected = (self.depth_intrinsics.height, self.depth_intrinsics.width)
        if depth.dtype != np.uint16 or depth.shape != expected:
            raise ValueError(
                f'CameraFrame.depth must be {expected} uint16 millimetres, got {depth.shape} '
                f'{depth.dtype}')

    @property
    def depth_aligned(self) -> bool:
        """Whether depth pixel (v, u) looks at the same point as color pixel (v, u)."""
        return self.depth is not None and self.depth_intrinsics == self.intrinsics


@runtime_checkable
class FrameSource(Protocol):
    """What a camera node needs from any camera: real, recorded or simulated."""

    @property
    def intrinsics(self) -> CameraIntrinsics:
        """Calibration of the color stream; valid once started."""
        ...

    def start(self) -> None:
        """Open the camera and begin streaming; raises CameraError when it cannot."""
        ...

    def read(self, timeout_s: float | None = None) -> CameraFrame:
        """Return the next frame, or raise CameraTimeout after ``timeout_s``."""
        ...

    def stop(self) -> None:
        """Stop streaming and release the device; safe to call twice."""
        ...
