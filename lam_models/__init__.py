# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""lam_models: latent motion models, datasets and training. Never imports rclpy or lam_ros."""
