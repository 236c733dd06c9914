# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Arm control without ROS: kinematics, the safety filter, teleop mappings."""
