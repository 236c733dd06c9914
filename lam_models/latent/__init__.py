# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Latent motion models: CoMo, StaMo, CLAM and a discrete VQ baseline behind one interface."""
from lam_models.latent import clam, como, stamo, vq  # noqa: F401  (registers the models)
from lam_models.latent.base import (
    CheckpointError,
    LatentActionModel,
    LatentConfig,
    available_models,
    images_to_float,
    load_latent_model,
    make_latent_model,
)
from lam_models.latent.labeling import label_frames

__all__ = [
    'available_models', 'CheckpointError', 'images_to_float', 'label_frames',
    'LatentActionModel', 'LatentConfig', 'load_latent_model', 'make_latent_model',
]
