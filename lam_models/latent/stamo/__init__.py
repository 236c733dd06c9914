# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
from lam_models.latent.stamo.configuration_stamo import StaMoConfig
from lam_models.latent.stamo.modeling_stamo import StaMoModel

__all__ = ['StaMoConfig', 'StaMoModel']
