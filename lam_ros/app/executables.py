# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Every node executable of the package: ``ros2 run lam_ros <name>``.

Plain data with no imports, so setup.py can read it without rclpy installed.
The graph description, the in-process runner and setup.py's wrappers under
``lib/lam_ros`` all come from this one table.
"""

NODE_EXECUTABLES: dict[str, str] = {
    'camera': 'lam_ros.nodes.camera_node:main',
    'arm': 'lam_ros.nodes.arm_node:main',
    'sim': 'lam_ros.nodes.sim_node:main',
    'teleop': 'lam_ros.nodes.teleop_node:main',
    'recorder': 'lam_ros.nodes.recorder_node:main',
    'controller': 'lam_ros.nodes.controller_node:main',
    'labeler': 'lam_ros.nodes.labeler_node:main',
}
