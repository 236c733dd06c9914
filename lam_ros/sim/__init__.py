# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Simulated WidowX world (placeholder docstring, filled in below)."""
import os

os.environ.setdefault('MUJOCO_GL', 'egl')
