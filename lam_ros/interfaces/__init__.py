# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The graph's contracts: topic names and QoS, message conversions, xs_sdk message types."""
