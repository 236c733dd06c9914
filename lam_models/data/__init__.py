# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
from lam_models.data.episode import Episode

__all__ = ['Episode']
