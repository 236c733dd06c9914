# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Policies: observation history -> action chunk, with an optional latent pseudo-action head."""
from lam_models.checkpoints import CheckpointError
from lam_models.policies import autoregressive, clam_route, diffusion  # noqa: F401  (registers)
from lam_models.policies.base import (
    Policy,
    PolicyConfig,
    available_policies,
    load_policy,
    make_policy,
    save_policy,
)

__all__ = ['available_policies', 'CheckpointError', 'load_policy', 'make_policy', 'Policy',
           'PolicyConfig', 'save_policy']
