# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The camera node publishes a recorded RealSense (.db3) on realsense2_camera topics."""
from __future__ import annotations

import gc

from conftest import wait_for_messages
import numpy as np
import pyrealsense2 as rs
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import CameraInfo, Image
from test_realsense import COLOR_H, COLOR_W, DEPTH_H, DEPTH_W, FPS, SoftwareRealSense

from lam_models.data.images import image_to_array
from lam_ros import topics
from lam_ros.hardware.realsense import RealSenseCamera
from lam_ros.nodes.camera_node import CameraNode
from lam_ros.runtime import overrides


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


def test_camera_node_plays_a_recorded_db3_on_realsense_topics(tmp_path, rclpy_context):
    path = tmp_path / 'camera.db3'
    record_db3(path)
    node = CameraNode(node_name='camera', namespace='camera', context=rclpy_context,
                      parameter_overrides=overrides({
                          'playback_file': str(path), 'repeat_playback': True,
                          'color_profile': [COLOR_W, COLOR_H, FPS],
                          'depth_profile': [DEPTH_W, DEPTH_H, FPS]}))
    listener = rclpy.create_node('listener', context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    for n in (node, listener):
        executor.add_node(n)
    names = topics.camera_topics('camera')
    got: dict[str, list] = {'color': [], 'depth': [], 'color_info': []}
    listener.create_subscription(Image, names['depth'], got['depth'].append, 10)
    listener.create_subscription(CameraInfo, names['color_info'], got['color_info'].append, 10)
    try:
        got['color'] = wait_for_messages(listener, executor, Image, names['color'], count=3)
    finally:
        node.on_shutdown()
    color = got['color'][0]
    assert color.encoding == 'rgb8' and color.header.frame_id == 'camera_color_optical_frame'
    pixels = image_to_array(color)
    matches = [n for n in range(6) if np.array_equal(pixels, SoftwareRealSense.color_image(n))]
    assert matches, 'published color differs from every recorded frame'
    depth = got['depth'][0]
    assert depth.encoding == '16UC1' and (depth.height, depth.width) == (COLOR_H, COLOR_W)
    info = got['color_info'][0]
    assert (info.width, info.height) == (COLOR_W, COLOR_H) and info.k[0] > 0
