# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Record robot teleop demos or human egocentric episodes.

    ros2 launch lam_ros collect.launch.py                       # simulated WidowX
    ros2 launch lam_ros collect.launch.py use_sim:=false serials:=123456789012 teleop:=joy
    ros2 launch lam_ros collect.launch.py use_sim:=false serials:=123456789012 teleop:=none
    ros2 run lam_ros teleop      # (another terminal) the keyboard: a node needs a terminal
    ros2 launch lam_ros collect.launch.py mode:=human output_dir:=~/demos
    ros2 launch lam_ros collect.launch.py mode:=human label:=true \
        label_checkpoint:=runs/como/last.safetensors   # + live pseudo-actions

Nodes and parameters come from ``lam_ros.app.graph``: the same description that
``lam-ros collect`` runs in one process.
"""
from lam_ros.app.launch_description import generate


def generate_launch_description():
    return generate('collect')
