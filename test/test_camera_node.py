# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The camera node publishes a recorded RealSense (.db3) on realsense2_camera topics."""
from __future__ import annotations

import gc
from pathlib import Path
import signal
import subprocess
import sys

from conftest import spin_until, wait_for_messages
import numpy as np
import pyrealsense2 as rs
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import CameraInfo, Image
from test_realsense import COLOR_H, COLOR_W, DEPTH_H, DEPTH_W, FPS, SoftwareRealSense

from lam_models.data.images import image_to_array
from lam_ros.hardware.realsense import RealSenseCamera
from lam_ros.interfaces import topics


def record_db3(path) -> None:
    """Six frames of the synthetic D4xx through librealsense's own recorder."""
    sw = SoftwareRealSense()
    recorder = rs.recorder(str(path), sw.device)
    with RealSenseCamera(device=recorder, color_profile=(COLOR_W, COLOR_H, FPS),
                         depth_profile=(DEPTH_W, DEPTH_H, FPS)) as camera:
        for n in range(6):
            sw.push(n)
        for _ in range(5):
            camera.read(timeout_s=2.0)
    del camera, recorder
    gc.collect()   # the recorder writes the file when destroyed


def test_camera_node_plays_a_recorded_db3_on_realsense_topics(tmp_path, ros_env,
                                                             rclpy_context):
    """Started before its source exists (a camera still enumerating), it retries."""
    path = tmp_path / 'camera.db3'
    camera = subprocess.Popen(
        [sys.executable, '-m', 'lam_ros.app.cli', 'run', 'camera', '--ros-args',
         '-r', '__ns:=/camera', '-r', '__node:=camera', '-p', f'playback_file:={path}',
         '-p', 'repeat_playback:=true', '-p', f'color_profile:=[{COLOR_W},{COLOR_H},{FPS}]',
         '-p', f'depth_profile:=[{DEPTH_W},{DEPTH_H},{FPS}]'],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # librealsense devices and a DDS participant in one process crash at exit (see
    # lam_ros.app.runtime.exit_process): record in a child process, like the camera node runs.
    recording = tmp_path / 'recording.db3'
    subprocess.run([sys.executable, '-c', f'from test_camera_node import record_db3; '
                    f'record_db3({str(recording)!r})'], check=True, env=ros_env,
                   cwd=str(Path(__file__).parent), timeout=60)
    recording.rename(path)
    listener = rclpy.create_node('listener', context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(listener)
    names = topics.camera_topics('camera')
    got: dict[str, list] = {'depth': [], 'color_info': []}
    listener.create_subscription(Image, names['depth'], got['depth'].append, 10)
    listener.create_subscription(CameraInfo, names['color_info'], got['color_info'].append, 10)
    try:
        color = wait_for_messages(listener, executor, Image, names['color'], count=3,
                                  timeout_s=20.0)[0]
        # depth and info come on their own topics: on a loaded machine after three colours
        spin_until(executor, lambda: got['depth'] and got['color_info'], 10.0)
    finally:
        camera.send_signal(signal.SIGINT)
        output, _ = camera.communicate(timeout=20)
        listener.destroy_node()
    assert camera.returncode == 0, output
    assert 'cannot start' in output and 'retrying' in output, output
    assert color.encoding == 'rgb8' and color.header.frame_id == 'camera_color_optical_frame'
    pixels = image_to_array(color)
    matches = [n for n in range(6) if np.array_equal(pixels, SoftwareRealSense.color_image(n))]
    assert matches, 'published color differs from every recorded frame'
    depth = got['depth'][0]
    assert depth.encoding == '16UC1' and (depth.height, depth.width) == (COLOR_H, COLOR_W)
    info = got['color_info'][0]
    assert (info.width, info.height) == (COLOR_W, COLOR_H) and info.k[0] > 0


@pytest.mark.parametrize('domain, device_offset_s, stamped', [
    ('global_time', 0.03, 'device'),     # USB latency: the sensor's own time
    ('global_time', 1.0, 'host'),        # librealsense's global-time glitch (~1 s ahead)
    ('global_time', -1.0, 'host'),       # ... or behind, at its 32-bit wrap
    ('system_time', 0.0, 'device'),
    ('hardware_clock', 0.0, 'host'),     # not on the epoch clock
])
def test_frames_are_stamped_on_the_host_clock_when_global_time_glitches(
        domain, device_offset_s, stamped):
    from lam_ros.hardware.camera_source import CameraFrame, CameraIntrinsics
    from lam_ros.interfaces.camera_msgs import stamp_seconds

    host = 1_765_000_000.5
    frame = CameraFrame(np.zeros((4, 4, 3), np.uint8), None, host - 0.05 + device_offset_s,
                        domain, host, 0, CameraIntrinsics.pinhole(4, 4, 2.0, 2.0, 2.0, 2.0, 'c'))
    expected = frame.device_time_s if stamped == 'device' else host
    assert stamp_seconds(frame) == expected
