# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Pinhole intrinsics of MuJoCo cameras, as the shared ``CameraIntrinsics`` of every camera."""
from __future__ import annotations

import math

import numpy as np

from lam_ros.hardware.camera_source import CameraIntrinsics


def camera_info_from_fovy(fovy_deg: float, width: int, height: int,
                          frame_id: str = 'camera_color_optical_frame') -> CameraIntrinsics:
    """MuJoCo cameras are ideal pinholes with square pixels; ``fovy`` spans the image height.

    Pixel centres sit at integer coordinates (the ROS convention), so the principal point
    of a W-wide image is at (W - 1) / 2.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f'camera size must be positive, got {width}x{height}')
    focal = 0.5 * height / math.tan(math.radians(fovy_deg) / 2.0)
    return CameraIntrinsics.pinhole(width, height, focal, focal, (width - 1) / 2.0,
                                    (height - 1) / 2.0, frame_id)


def depth_to_uint16_mm(depth_m: np.ndarray) -> np.ndarray:
    """Metres (float) -> millimetres (uint16) as a RealSense depth image; 0 = no return."""
    depth_mm = np.round(np.nan_to_num(depth_m, nan=0.0, posinf=0.0) * 1000.0)
    return np.clip(depth_mm, 0, np.iinfo(np.uint16).max).astype(np.uint16)
