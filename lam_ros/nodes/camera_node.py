# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Camera node: one Intel RealSense (live by serial, or a recorded .db3/.bag) on ROS topics.

Topics match realsense2_camera (``/<ns>/<name>/color/image_raw``,
``aligned_depth_to_color/image_raw`` in 16UC1 millimetres, and their
``camera_info``), so tools written for the stock driver work unchanged.
Frames are read on a thread of their own: a camera that does not start (yet) or stops
delivering produces an error and reconnect attempts, never a hung executor.
"""
from __future__ import annotations

import threading

from sensor_msgs.msg import CameraInfo, Image

from lam_ros.app.runtime import ConfigError, LamNode, node_main
from lam_ros.hardware.camera_source import CameraError
from lam_ros.interfaces import topics
from lam_ros.interfaces.camera_msgs import frame_messages, stamp_seconds

MSG_TYPES = {'color': Image, 'color_info': CameraInfo, 'depth': Image, 'depth_info': CameraInfo}


class CameraNode(LamNode):
    """Publishes color, aligned depth and camera_info of one RealSense."""

    def __init__(self, node_name: str = 'camera', **kwargs):
        super().__init__(node_name, **kwargs)
        serial = self.param('serial', '', "device serial number ('' = the only one attached)")
        playback_file = self.param('playback_file', '', 'play a recorded .db3/.bag instead')
        repeat = self.param('repeat_playback', False, 'loop the recording')
        color_profile = self.param('color_profile', [640, 480, 30], 'width, height, fps',
                                   length=3, above=0)
        depth_profile = self.param('depth_profile', [640, 480, 30], 'width, height, fps',
                                   length=3, above=0)
        enable_depth = self.param('enable_depth', True, 'publish depth aligned to color')
        self.timeout_s = self.param('frame_timeout_ms', 1000, 'no frame for this long: error',
                                    low=1, high=60000) / 1000.0
        self.max_reconnects = self.param('max_reconnect_attempts', 5, 'then give up', low=0)

        from lam_ros.hardware.realsense import PlaybackEnded, RealSenseCamera
        self.playback_ended = PlaybackEnded
        try:
            self.camera = RealSenseCamera(
                serial=serial or None, playback_file=playback_file or None,
                color_profile=tuple(color_profile),
                depth_profile=tuple(depth_profile) if enable_depth else None,
                timeout_ms=int(self.timeout_s * 1000), repeat_playback=repeat,
                frame_id=f'{self.get_name()}_color_optical_frame',
                depth_frame_id=f'{self.get_name()}_depth_optical_frame')
        except (CameraError, ValueError) as error:
            raise ConfigError(f'{self.get_fully_qualified_name()}: {error}') from None
        # Relative names: under the node's namespace and name, like realsense2_camera.
        self.pubs = {key: self.create_publisher(MSG_TYPES[key], topic, 10)
                     for key, topic in topics.camera_node_topics().items()
                     if enable_depth or not key.startswith('depth')}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.stream, name='camera-read', daemon=True)
        self._thread.start()

    def stream(self) -> None:
        """Read frames and publish them until shutdown; reconnect on errors."""
        failures = 0
        try:
            self.camera.start()
        except CameraError as error:   # e.g. a camera still enumerating on the USB bus
            self.report(f'cannot start: {error}; retrying', 'error')
            try:
                self.camera.reconnect()
            except CameraError as retry_error:
                self.report(f'giving up: {retry_error}', 'error')
                return
        while not self._stop.is_set():
            try:
                frame = self.camera.read(timeout_s=self.timeout_s)
            except self.playback_ended:
                self.get_logger().info('end of the recording: camera stopped')
                return
            except CameraError as error:
                failures += 1
                self.report(f'{error} (reconnect {failures}/{self.max_reconnects})', 'error')
                if failures > self.max_reconnects or self._stop.is_set():
                    self.report('giving up: camera lost', 'error')
                    return
                try:
                    self.camera.reconnect()
                except CameraError as reconnect_error:
                    self.report(f'reconnect failed: {reconnect_error}', 'error')
                continue
            failures = 0
            for key, msg in frame_messages(frame).items():
                if key in self.pubs:
                    self.pubs[key].publish(msg)
            self.get_logger().debug(
                f'frame {frame.frame_number}: stamp {stamp_seconds(frame):.6f} '
                f'({frame.time_domain}), host receive {frame.host_time_s:.6f}')

    def on_shutdown(self) -> None:
        """Stop the reader and release the device."""
        self._stop.set()
        self._thread.join(timeout=2 * self.timeout_s + 1.0)
        self.camera.stop()


NODE_CLASS = CameraNode


def main(args=None) -> int:
    """Run one camera: ``ros2 run lam_ros camera --ros-args -p serial:=...``."""
    return node_main(CameraNode, args)
