# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
from lam_models.latent.vq.configuration_vq import VQConfig
from lam_models.latent.vq.modeling_vq import VQModel

__all__ = ['VQConfig', 'VQModel']
