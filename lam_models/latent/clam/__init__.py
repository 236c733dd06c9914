# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
from lam_models.latent.clam.configuration_clam import CLAMConfig
from lam_models.latent.clam.modeling_clam import CLAMModel

__all__ = ['CLAMConfig', 'CLAMModel']
