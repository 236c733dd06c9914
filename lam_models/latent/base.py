# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The interface every latent motion model implements, and its checkpoint format.

Image convention (all models, all methods): batched float tensors
(B, 3, H, W) with values in [0, 1]. ``images_to_float`` converts uint8 frames.
Each model standardizes images internally with per-channel statistics of its
training set, stored as buffers so a checkpoint carries them.

A training batch is a dict:
  ``window``      (B, K+1, 3, H, W) float in [0, 1]: the frames o_{t-(K-1)n} .. o_t, o_{t+n}
                  (K = ``config.context_frames``, 1 for a plain pair);
  ``action``      (B, A) float, ground-truth action summed over the gap (zeros if unknown);
  ``has_action``  (B,) bool, which rows may use ``action`` (CLAM's labelled subset).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from typing_extensions import override

CHECKPOINT_FORMAT = 'lam_ros.latent/1'


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable or does not match what the caller asked for."""


@dataclass
class LatentConfig:
    """Knobs shared by every latent model; each method's config extends it."""

    image_size: int = 64
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

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, safe for ``torch.load(weights_only=True)`` and YAML."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LatentConfig:
        """Build from a dict, naming any key this config does not have."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f'{cls.__name__} has no field(s) {unknown}; known: {sorted(known)}')
        return cls(**values)


def images_to_float(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, H, W) -> float [0, 1]; float input is returned unchanged."""
    if frames.dtype == torch.uint8:
        return frames.float().div_(255.0)
    return frames


class LatentActionModel(nn.Module):
    """Base class: a model trained on frame windows that maps (o_t, o_{t+n}) to a small z.

    Subclasses set ``name`` and ``config_class`` and implement ``encode_window``,
    ``predict_next`` and ``loss``. ``forward`` is ``loss`` so DDP can wrap the model.
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
        """[0,1] images (..., 3, H, W) -> standardized."""
        return (images - self.image_mean[:, None, None]) / self.image_std[:, None, None]

    def denormalize(self, images: torch.Tensor) -> torch.Tensor:
        """Inverse of ``normalize``."""
        return images * self.image_std[:, None, None] + self.image_mean[:, None, None]

    # -- the interface -------------------------------------------------------------------------
    @property
    def window_size(self) -> int:
        """Frames per window: ``context_frames`` up to o_t, plus o_{t+n}."""
        return self.config.context_frames + 1

    def encode(self, o_t: torch.Tensor, o_next: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) [0,1] pair -> z (B, z_dim); a missing context repeats o_t."""
        context = o_t.unsqueeze(1).expand(-1, self.config.context_frames, -1, -1, -1)
        return self.encode_window(torch.cat([context, o_next.unsqueeze(1)], dim=1))

    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        """(B, K+1, 3, H, W) [0,1] -> z (B, z_dim)."""
        raise NotImplementedError

    def predict_next(self, o_t: torch.Tensor, o_next: torch.Tensor) -> torch.Tensor:
        """Reconstruct o_{t+n} from o_t and z(o_t, o_{t+n}); [0,1] images out."""
        raise NotImplementedError

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss and scalar metrics for logging."""
        raise NotImplementedError

    @override
    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        return self.loss(batch)

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path: str | Path, **extra: Any) -> None:
        """Write weights + config + normalization stats (+ ``extra``, e.g. optimizer, step)."""
        save_checkpoint(path, self, **extra)


_REGISTRY: dict[str, type[LatentActionModel]] = {}


def register(model_class: type[LatentActionModel]) -> type[LatentActionModel]:
    """Class decorator adding a model to ``make_latent_model``."""
    _REGISTRY[model_class.name] = model_class
    return model_class


def available_models() -> list[str]:
    """Registered model names."""
    return sorted(_REGISTRY)


def make_latent_model(name: str, **config: Any) -> LatentActionModel:
    """Build a registered model from its name and config fields."""
    if name not in _REGISTRY:
        raise KeyError(f'unknown latent model {name!r}; available: {available_models()}')
    model_class = _REGISTRY[name]
    return model_class(model_class.config_class.from_dict(config))


def save_checkpoint(path: str | Path, model: LatentActionModel, **extra: Any) -> None:
    """One format for exports and resumable training states (rank 0 writes it)."""
    model = getattr(model, 'module', model)  # unwrap DDP
    payload = {
        'format': CHECKPOINT_FORMAT,
        'model_name': model.name,
        'model_config': model.config.to_dict(),
        'state_dict': {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **extra,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + '.tmp')
    torch.save(payload, tmp)
    tmp.replace(path)  # never leave a half-written checkpoint under the real name


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and validate a checkpoint dict; errors name the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'{path}: checkpoint file does not exist')
    try:
        payload = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # torch raises many types for truncated/garbled files
        raise CheckpointError(f'{path}: not a readable checkpoint ({type(exc).__name__}: '
                              f'{exc})') from exc
    if not isinstance(payload, dict) or payload.get('format') != CHECKPOINT_FORMAT:
        found = payload.get('format') if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f'{path}: expected format {CHECKPOINT_FORMAT!r}, found {found!r}')
    for key in ('model_name', 'model_config', 'state_dict'):
        if key not in payload:
            raise CheckpointError(f'{path}: missing key {key!r}')
    return payload


def check_config_matches(path: str | Path, payload: dict[str, Any], name: str,
                         config: dict[str, Any]) -> None:
    """Raise if a checkpoint was written by a different model or config."""
    if payload['model_name'] != name:
        raise CheckpointError(f'{path}: checkpoint is model {payload["model_name"]!r}, '
                              f'config asks for {name!r}')
    saved = payload['model_config']
    diffs = [f'{k}: checkpoint={saved.get(k)!r} config={config.get(k)!r}'
             for k in sorted(set(saved) | set(config)) if saved.get(k) != config.get(k)]
    if diffs:
        raise CheckpointError(f'{path}: incompatible config: ' + '; '.join(diffs))


def load_latent_model(path: str | Path, map_location: str | torch.device = 'cpu'
                      ) -> LatentActionModel:
    """Rebuild a model (weights, config, normalization stats) from a checkpoint."""
    payload = read_checkpoint(path)
    try:
        model = make_latent_model(payload['model_name'], **payload['model_config'])
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f'{path}: cannot rebuild model: {exc}') from exc
    load_state(path, model, payload['state_dict'])
    return model.to(map_location).eval()


def load_state(path: str | Path, model: LatentActionModel, state: dict[str, torch.Tensor]) -> None:
    """``load_state_dict`` with errors that name the file and the tensors at fault."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}'
              for k, v in own.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        raise CheckpointError(f'{path}: weights do not fit {model.name}: missing={missing[:5]} '
                              f'unexpected={unexpected[:5]} shape mismatches={shapes[:5]}')
    model.load_state_dict(state)
