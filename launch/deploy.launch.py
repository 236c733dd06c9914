# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Run a trained policy on the WidowX in a closed loop, behind the arm's safety layer.

    ros2 launch lam_ros deploy.launch.py checkpoint:=runs/policy/policy.safetensors
    ros2 launch lam_ros deploy.launch.py use_sim:=false serials:=123456789012 checkpoint:=...

Nodes and parameters come from ``lam_ros.app.graph``: the same description that
``lam-ros deploy`` runs in one process.
"""
from lam_ros.app.launch_description import generate


def generate_launch_description():
    return generate('deploy')
