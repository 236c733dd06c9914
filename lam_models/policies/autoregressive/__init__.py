# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
from lam_models.policies.autoregressive.configuration_autoregressive import AutoregressiveConfig
from lam_models.policies.autoregressive.modeling_autoregressive import AutoregressivePolicy

__all__ = ['AutoregressiveConfig', 'AutoregressivePolicy']
