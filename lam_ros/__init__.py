# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""lam_ros: ROS 2 nodes, hardware drivers and the simulated WidowX."""
__version__ = '0.1.0'
