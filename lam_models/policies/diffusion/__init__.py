# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
from lam_models.policies.diffusion.configuration_diffusion import DiffusionConfig
from lam_models.policies.diffusion.modeling_diffusion import DiffusionPolicy

__all__ = ['DiffusionConfig', 'DiffusionPolicy']
