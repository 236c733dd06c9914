# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The camera node publishes a recorded RealSense (.db3) on realsense2_camera topics."""
from __future__ import annotations

import gc
from pathlib import Path
import signal
import subprocess
import sys

from conftest import wait_for_messages
import numpy as np
import pyrealsense2 as rs
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
    path = tmp_path / 'camera.db3'
    # librealsense devices and a DDS participant in one process crash at exit (see
    # lam_ros.app.runtime.exit_process): record in a child process, like the camera node runs.
    subprocess.run([sys.executable, '-c', f'from test_camera_node import record_db3; '
                    f'record_db3({str(path)!r})'], check=True, env=ros_env,
                   cwd=str(Path(__file__).parent), timeout=60)
    camera = subprocess.Popen(
        [sys.executable, '-m', 'lam_ros.app.cli', 'run', 'camera', '--ros-args',
         '-r', '__ns:=/camera', '-r', '__node:=camera', '-p', f'playback_file:={path}',
         '-p', 'repeat_playback:=true', '-p', f'color_profile:=[{COLOR_W},{COLOR_H},{FPS}]',
         '-p', f'depth_profile:=[{DEPTH_W},{DEPTH_H},{FPS}]'],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
    finally:
        camera.send_signal(signal.SIGINT)
        output, _ = camera.communicate(timeout=20)
        listener.destroy_node()
    assert camera.returncode == 0, output
    assert color.encoding == 'rgb8' and color.header.frame_id == 'camera_color_optical_frame'
    pixels = image_to_array(color)
    matches = [n for n in range(6) if np.array_equal(pixels, SoftwareRealSense.color_image(n))]
    assert matches, 'published color differs from every recorded frame'
    depth = got['depth'][0]
    assert depth.encoding == '16UC1' and (depth.height, depth.width) == (COLOR_H, COLOR_W)
    info = got['color_info'][0]
    assert (info.width, info.height) == (COLOR_W, COLOR_H) and info.k[0] > 0
