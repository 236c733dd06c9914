# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``CameraFrame`` -> sensor_msgs Image/CameraInfo, shared by the RealSense and sim cameras."""
from __future__ import annotations

from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image

from lam_models.data.images import array_to_image_fields
from lam_ros.hardware.camera_source import CameraFrame, CameraIntrinsics

# RealSense time domains that are on the host's epoch clock, usable as header stamps.
EPOCH_DOMAINS = ('global_time', 'system_time')
# librealsense's global time (the sensor clock mapped to the host's) glitches: ~1 s off, even
# backwards, at its 32-bit millisecond wrap (librealsense#11320), years ahead (#4505). A
# stamp this far from the frame's receive time is one of those, never USB latency (~tens
# of ms); so is a recording's global time played back into a live graph.
MAX_GLOBAL_TIME_SKEW_S = 0.25


def stamp_seconds(frame: CameraFrame) -> float:
    """Device time when it is on the epoch clock (and sane), else the host receive time."""
    if frame.time_domain == 'global_time' and \
            abs(frame.device_time_s - frame.host_time_s) > MAX_GLOBAL_TIME_SKEW_S:
        return frame.host_time_s
    return frame.device_time_s if frame.time_domain in EPOCH_DOMAINS else frame.host_time_s


def to_time(seconds: float) -> Time:
    """Seconds since the epoch as builtin_interfaces/Time."""
    nanoseconds = int(round(seconds * 1e9))
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def camera_info(intrinsics: CameraIntrinsics, stamp: Time) -> CameraInfo:
    """CameraInfo with K, D, an identity R and P = [K | 0] (no stereo)."""
    k = intrinsics.k
    msg = CameraInfo(width=intrinsics.width, height=intrinsics.height,
                     distortion_model=intrinsics.distortion_model, d=list(intrinsics.d),
                     k=k.ravel().tolist(), r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                     p=[k[0, 0], 0.0, k[0, 2], 0.0, 0.0, k[1, 1], k[1, 2], 0.0,
                        0.0, 0.0, 1.0, 0.0])
    msg.header.stamp = stamp
    msg.header.frame_id = intrinsics.frame_id
    return msg


def frame_messages(frame: CameraFrame) -> dict[str, Image | CameraInfo]:
    """Messages of one frame keyed like ``topics.camera_topics`` (depth keys only with depth)."""
    stamp = to_time(stamp_seconds(frame))
    color = Image(**array_to_image_fields(frame.color, 'rgb8'))
    color.header.stamp = stamp
    color.header.frame_id = frame.intrinsics.frame_id
    messages = {'color': color, 'color_info': camera_info(frame.intrinsics, stamp)}
    if frame.depth is not None and frame.depth_intrinsics is not None:
        depth = Image(**array_to_image_fields(frame.depth, '16UC1'))
        depth.header.stamp = stamp
        depth.header.frame_id = frame.depth_intrinsics.frame_id
        messages['depth'] = depth
        messages['depth_info'] = camera_info(frame.depth_intrinsics, stamp)
    return messages
