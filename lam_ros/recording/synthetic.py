# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Serialized (CDR) messages built without ROS, as a raw subscription would hand them over.

Used by the recording tests and ``bench/recorder_core.py``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rosbags.typesys.store import Typestore

from lam_models.data.bags import make_typestore
from lam_models.data.images import array_to_image_fields

ARM_JOINTS = ('waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate')
ACTION_NAMES = ARM_JOINTS + ('gripper',)


class CdrFactory:
    """Builds CDR bytes for the message types the recorder sees."""

    def __init__(self, typestore: Typestore | None = None) -> None:
        self.typestore = typestore or make_typestore()
        self._types = self.typestore.types

    def header(self, stamp_ns: int, frame_id: str = '') -> object:
        """A std_msgs/Header for ``stamp_ns``."""
        time = self._types['builtin_interfaces/msg/Time'](
            sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
        return self._types['std_msgs/msg/Header'](stamp=time, frame_id=frame_id)

    def image(self, pixels: np.ndarray, encoding: str, stamp_ns: int,
              frame_id: str = 'camera_color_optical_frame') -> bytes:
        """sensor_msgs/Image."""
        fields = array_to_image_fields(pixels, encoding)
        fields['data'] = np.frombuffer(fields['data'], dtype=np.uint8)
        msg = self._types['sensor_msgs/msg/Image'](header=self.header(stamp_ns, frame_id),
                                                   **fields)
        return bytes(self.typestore.serialize_cdr(msg, 'sensor_msgs/msg/Image'))

    def joint_state(self, names: Sequence[str], positions: Sequence[float],
                    stamp_ns: int) -> bytes:
        """sensor_msgs/JointState with positions only (what /lam/action carries)."""
        empty = np.zeros(0, dtype=np.float64)
        msg = self._types['sensor_msgs/msg/JointState'](
            header=self.header(stamp_ns), name=list(names),
            position=np.asarray(positions, dtype=np.float64), velocity=empty, effort=empty)
        return bytes(self.typestore.serialize_cdr(msg, 'sensor_msgs/msg/JointState'))

    def group_command(self, group: str, cmd: Sequence[float]) -> bytes:
        """interbotix_xs_msgs/JointGroupCommand."""
        msgtype = 'interbotix_xs_msgs/msg/JointGroupCommand'
        msg = self._types[msgtype](name=group, cmd=np.asarray(cmd, dtype=np.float32))
        return bytes(self.typestore.serialize_cdr(msg, msgtype))

    def single_command(self, joint: str, cmd: float) -> bytes:
        """interbotix_xs_msgs/JointSingleCommand."""
        msgtype = 'interbotix_xs_msgs/msg/JointSingleCommand'
        msg = self._types[msgtype](name=joint, cmd=float(cmd))
        return bytes(self.typestore.serialize_cdr(msg, msgtype))
