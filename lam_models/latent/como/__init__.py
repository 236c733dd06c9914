# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
from lam_models.latent.como.configuration_como import CoMoConfig
from lam_models.latent.como.modeling_como import CoMoModel

__all__ = ['CoMoConfig', 'CoMoModel']
