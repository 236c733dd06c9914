# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The interface every latent motion model implements, and its checkpoint format.

Checkpoints are ``lam_models.checkpoints``' safetensors + JSON sidecar (sha256s
checked on load, no pickle) under the format string ``CHECKPOINT_FORMAT``.

Image convention (all models, all methods): batched float tensors
(B, 3, H, W) with values in [0, 1]. ``images_to_float`` converts uint8 frames.
Each model standardizes images internally with per-channel statistics of its
training set, stored as buffers so a checkpoint carries them.

A training batch is a dict:
  ``window``      (B, K+1, 3, H, W) float in [0, 1]: the frames o_{t-(K-1)n} .. o_t, o_{t+n}
                  (K = ``config.context_frames``, 1 for a plain pair);
  ``action``      (B, A) float, ground-truth action summed over the gap (zeros if unknown);
  ``has_action``  (B,) bool, which rows may use ``action`` (CLAM's labelled subset);
and, where the model asks for them (``lam_models.data.pairs.FrameWindows``):
  ``jittered``         (B, 3, H, W): o_{t+n+d}, 0 < |d| <= ``model.jitter_frames``
                       (CoMo's contrastive positive);
  ``labelled_window``  (L, K+1, 3, H, W) and ``labelled_action`` (L, A): a separately
                       sampled batch of ``model.labelled_batch_size`` robot windows that
                       have actions (CLAM's action decoder).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from typing_extensions import override

from lam_models.checkpoints import (  # noqa: F401  (re-exported for tests and callers)
    CheckpointError,
    CheckpointFormat,
    ModelConfig,
    Registry,
    check_config_matches,
    checkpoint_files,
    load_state,
    sidecar_digest,
)

CHECKPOINT_FORMAT = 'lam_ros.latent/2'
NORMALIZATION_BUFFERS = ('image_mean', 'image_std', 'action_mean', 'action_std')


@dataclass
class LatentConfig(ModelConfig):
    """Knobs shared by every latent model; each method's config extends it.

    These dataclasses own every default: hydra's ``model`` group is built from
    them (``lam_models.latent.train``), ``config/latent/<name>.yaml`` names the
    model and holds only what differs. ``image_size`` is the model's input size;
    frames of any size reach it through ``lam_models.data.images.resize_frames``.
    """

    image_size: int = 64        # square input frames, pixels (a multiple of 8)
    frame_gap: int = 1          # n in (o_t, o_{t+n})
    context_frames: int = 1     # K frames up to o_t seen by the IDM
    z_dim: int = 8
    action_dim: int = 7         # only used by models that decode actions
    width: int = 64             # conv channels

    def __post_init__(self) -> None:
        if self.image_size % 8:
            raise ValueError(f'{type(self).__name__}.image_size must be a multiple of 8, '
                             f'got {self.image_size}')
        for name in ('frame_gap', 'context_frames', 'z_dim', 'width'):
            if getattr(self, name) < 1:
                raise ValueError(f'{type(self).__name__}.{name} must be >= 1, '
                                 f'got {getattr(self, name)}')


def images_to_float(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, H, W) -> float [0, 1]; float input is returned unchanged."""
    if frames.dtype == torch.uint8:
        return frames.float().div_(255.0)
    return frames


class LatentActionModel(nn.Module):
    """Base class: a model trained on frame windows that maps (o_t, o_{t+n}) to a small z.

    Subclasses set ``name`` and ``config_class`` and implement ``encode_window``
    and ``loss``, and ``predict_window`` unless they have an ``fdm``. ``forward`` is
    ``loss`` so DDP can wrap the model.
    """

    name: ClassVar[str] = ''
    config_class: ClassVar[type[LatentConfig]] = LatentConfig

    def __init__(self, config: LatentConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer('image_mean', torch.full((3,), 0.5))
        self.register_buffer('image_std', torch.full((3,), 0.25))
        self.register_buffer('action_mean', torch.zeros(config.action_dim))
        self.register_buffer('action_std', torch.ones(config.action_dim))

    # -- normalization -------------------------------------------------------------------------
    def set_normalization(self, stats: dict[str, torch.Tensor]) -> None:
        """Store dataset statistics (keys as the buffers above) so checkpoints carry them."""
        for key, value in stats.items():
            buffer = getattr(self, key)
            if value.shape != buffer.shape:
                raise ValueError(f'normalization {key}: shape {tuple(value.shape)}, model expects '
                                 f'{tuple(buffer.shape)}')
            buffer.copy_(value)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """[0,1] images (..., 3, H, W) -> standardized; every model's frames enter here."""
        size = self.config.image_size
        if images.dim() < 3 or tuple(images.shape[-3:]) != (3, size, size):
            got = 'x'.join(str(n) for n in images.shape[-2:])
            raise ValueError(f'{self.name or type(self).__name__} model takes {size}x{size} px '
                             f'frames (config.image_size={size}), got {got} px (images of '
                             f'shape {tuple(images.shape)}, expected (..., 3, {size}, {size}))')
        return (images - self.image_mean[:, None, None]) / self.image_std[:, None, None]

    def denormalize(self, images: torch.Tensor) -> torch.Tensor:
        """Inverse of ``normalize``."""
        return images * self.image_std[:, None, None] + self.image_mean[:, None, None]

    # -- the interface -------------------------------------------------------------------------
    @property
    def window_size(self) -> int:
        """Frames per window: ``context_frames`` up to o_t, plus o_{t+n}."""
        return self.config.context_frames + 1

    @property
    def jitter_frames(self) -> int:
        """Max |d| of the ``jittered`` frame o_{t+n+d} the loss needs; 0: none."""
        return 0

    @property
    def labelled_batch_size(self) -> int:
        """Rows of the separately sampled labelled batch the loss needs; 0: none."""
        return 0

    def pair_window(self, o_t: torch.Tensor, o_next: torch.Tensor,
                    context: torch.Tensor | None = None) -> torch.Tensor:
        """(o_t, o_{t+n}) and the K-1 frames before o_t -> a (B, K+1, 3, H, W) window.

        A model with ``context_frames`` > 1 needs the real previous frames:
        repeating o_t would be a window it never saw in training, so a missing
        context is an error, not a guess.
        """
        needed = self.config.context_frames - 1
        if context is None:
            if needed:
                raise ValueError(
                    f'{self.name or type(self).__name__} encodes {needed + 1} frames up to o_t '
                    f'(context_frames={needed + 1}): pass the {needed} frame(s) before o_t as '
                    f'context=(B, {needed}, 3, H, W), or call encode_window')
            context = o_t.new_empty((len(o_t), 0, *o_t.shape[1:]))
        if context.shape[1] != needed:
            raise ValueError(f'context has {context.shape[1]} frames, '
                             f'context_frames={needed + 1} needs {needed}')
        return torch.cat([context, o_t.unsqueeze(1), o_next.unsqueeze(1)], dim=1)

    def encode(self, o_t: torch.Tensor, o_next: torch.Tensor,
               context: torch.Tensor | None = None) -> torch.Tensor:
        """(B,3,H,W) [0,1] pair -> z (B, z_dim); ``context`` as in ``pair_window``."""
        return self.encode_window(self.pair_window(o_t, o_next, context))

    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        """(B, K+1, 3, H, W) [0,1] -> z (B, z_dim)."""
        raise NotImplementedError

    def predict_window(self, window: torch.Tensor) -> torch.Tensor:
        """Reconstruct the window's last frame o_{t+n} from o_t and z(window); [0,1] out.

        This default runs the model's forward dynamics decoder ``self.fdm``
        (``layers.ForwardDynamicsDecoder``) on o_t and z; a model without one overrides it.
        """
        fdm = getattr(self, 'fdm', None)
        if fdm is None:
            raise NotImplementedError(f'{type(self).__name__} has no fdm: override '
                                      'predict_window')
        return self.denormalize(fdm(self.normalize(window[:, -2]), self.encode_window(window)))

    def predict_next(self, o_t: torch.Tensor, o_next: torch.Tensor,
                     context: torch.Tensor | None = None) -> torch.Tensor:
        """``predict_window`` of (context, o_t, o_next); ``context`` as in ``pair_window``."""
        return self.predict_window(self.pair_window(o_t, o_next, context))

    def collapse_reference(self, o_t: torch.Tensor) -> torch.Tensor:
        """What the decoder gives with no motion: the collapse ratio's denominator.

        For a residual FDM that is o_t itself; a model that re-renders frames
        (StaMo) overrides it with its own reconstruction of o_t.
        """
        return o_t

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss and scalar metrics for logging."""
        raise NotImplementedError

    @override
    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        return self.loss(batch)

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path: str | Path, **extra: Any) -> None:
        """Write ``<name>.safetensors`` + ``<name>.json`` (see ``save_checkpoint``)."""
        save_checkpoint(path, self, **extra)


MODELS: Registry[LatentActionModel] = Registry('latent model')
register = MODELS.register  # class decorator adding a model to ``make_latent_model``


def available_models() -> list[str]:
    """Registered model names."""
    return MODELS.names()


def model_class(name: str) -> type[LatentActionModel]:
    """The registered model class called ``name``."""
    return MODELS.get(name)


def make_latent_model(name: str, **config: Any) -> LatentActionModel:
    """Build a registered model from its name and config fields."""
    return MODELS.build(name, **config)


def save_checkpoint(path: str | Path, model: LatentActionModel, **extra: Any) -> None:
    """Write a latent checkpoint (``lam_models.checkpoints.write_checkpoint``)."""
    CHECKPOINTS.save(path, model, **extra)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and verify a latent checkpoint (``lam_models.checkpoints.read_checkpoint``)."""
    return CHECKPOINTS.read(path)


def load_latent_model(path: str | Path, map_location: str | torch.device = 'cpu'
                      ) -> LatentActionModel:
    """Rebuild a model (weights, config, normalization stats) from a checkpoint."""
    return CHECKPOINTS.load(path, map_location)  # type: ignore[return-value]


CHECKPOINTS = CheckpointFormat(CHECKPOINT_FORMAT, MODELS, NORMALIZATION_BUFFERS)
