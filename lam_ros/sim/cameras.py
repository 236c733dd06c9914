# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Pinhole intrinsics of MuJoCo cameras, as a sensor_msgs/CameraInfo would hold them."""
from __future__ import annotations

from dataclasses import dataclass, field
import math

import numpy as np


@dataclass(frozen=True)
class CameraInfo:
    """Intrinsics of one rendered camera: ``K`` (3x3), ``D`` (5 zeros, plumb_bob)."""

    width: int
    height: int
    K: np.ndarray
    D: np.ndarray = field(default_factory=lambda: np.zeros(5))
    distortion_model: str = 'plumb_bob'

    @property
    def P(self) -> np.ndarray:
        """3x4 projection matrix (monocular: [K | 0])."""
        return np.hstack([self.K, np.zeros((3, 1))])


def camera_info_from_fovy(fovy_deg: float, width: int, height: int) -> CameraInfo:
    """MuJoCo cameras are ideal pinholes with square pixels; ``fovy`` spans the image height.

    Pixel centres sit at integer coordinates (the ROS convention), so the principal point
    of a W-wide image is at (W - 1) / 2.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f'camera size must be positive, got {width}x{height}')
    focal = 0.5 * height / math.tan(math.radians(fovy_deg) / 2.0)
    K = np.array([[focal, 0.0, (width - 1) / 2.0],
                  [0.0, focal, (height - 1) / 2.0],
                  [0.0, 0.0, 1.0]])
    return CameraInfo(width=width, height=height, K=K)


def depth_to_uint16_mm(depth_m: np.ndarray) -> np.ndarray:
    """Metres (float) -> millimetres (uint16) as a RealSense depth image; 0 = no return."""
    depth_mm = np.round(np.nan_to_num(depth_m, nan=0.0, posinf=0.0) * 1000.0)
    return np.clip(depth_mm, 0, np.iinfo(np.uint16).max).astype(np.uint16)
