# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""How lam_ros starts: the graph description, the launch builder, the node runner, CLI, demo."""
