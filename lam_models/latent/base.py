# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The interface every latent motion model implements, and its checkpoint format.

A checkpoint is ``<name>.safetensors`` (weights, normalization buffers and, for
a training state, optimizer tensors) plus ``<name>.json`` (format, model name,
config, normalization stats, step, ... and the sha256 of the safetensors file,
checked on load). No pickle: loading a checkpoint cannot run code.

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

from dataclasses import asdict, dataclass, fields
import hashlib
import json
import os
from pathlib import Path
from typing import Any, ClassVar

from safetensors.torch import load, save
import torch
from torch import nn
from typing_extensions import override

CHECKPOINT_FORMAT = 'lam_ros.latent/2'
NORMALIZATION_BUFFERS = ('image_mean', 'image_std', 'action_mean', 'action_std')


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable or does not match what the caller asked for."""


@dataclass
class LatentConfig:
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

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, for the checkpoint's JSON sidecar and YAML."""
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


_REGISTRY: dict[str, type[LatentActionModel]] = {}


def register(model_class: type[LatentActionModel]) -> type[LatentActionModel]:
    """Class decorator adding a model to ``make_latent_model``."""
    _REGISTRY[model_class.name] = model_class
    return model_class


def available_models() -> list[str]:
    """Registered model names."""
    return sorted(_REGISTRY)


def model_class(name: str) -> type[LatentActionModel]:
    """The registered model class called ``name``."""
    if name not in _REGISTRY:
        raise KeyError(f'unknown latent model {name!r}; available: {available_models()}')
    return _REGISTRY[name]


def make_latent_model(name: str, **config: Any) -> LatentActionModel:
    """Build a registered model from its name and config fields."""
    cls = model_class(name)
    return cls(cls.config_class.from_dict(config))


def checkpoint_files(path: str | Path) -> tuple[Path, Path]:
    """(``<name>.safetensors``, ``<name>.json``) of a checkpoint named by either or the stem."""
    path = Path(path)
    base = path.with_suffix('') if path.suffix in ('.safetensors', '.json') else path
    return base.parent / f'{base.name}.safetensors', base.parent / f'{base.name}.json'


# No trained weight or normalization statistic comes near this; a checkpoint that does
# is garbage even when its hashes match (e.g. rewritten by hand).
MAX_ABS_WEIGHT = 1e6


def _non_finite(tensors: dict[str, torch.Tensor]) -> list[str]:
    return [k for k, v in tensors.items() if v.is_floating_point() and not v.isfinite().all()]


def _implausible(tensors: dict[str, torch.Tensor]) -> list[str]:
    return [k for k, v in tensors.items() if v.is_floating_point() and v.numel()
            and not k.startswith('optimizer.') and v.abs().max() > MAX_ABS_WEIGHT]


def sidecar_digest(sidecar: dict[str, Any]) -> str:
    """sha256 of the sidecar's own content (all but this digest), canonical JSON."""
    content = {k: v for k, v in sidecar.items() if k != 'sidecar_sha256'}
    return hashlib.sha256(json.dumps(content, sort_keys=True, allow_nan=False).encode()
                          ).hexdigest()


def save_checkpoint(path: str | Path, model: LatentActionModel, **extra: Any) -> None:
    """Write ``<name>.safetensors`` (tensors) and ``<name>.json`` (everything else + sha256).

    One format for exports and resumable training states (rank 0 writes it).
    ``extra`` holds JSON values (step, train_config, ...) and optionally
    ``optimizer``, a torch optimizer state_dict whose tensors go in the
    safetensors file as ``optimizer.state.<param>.<name>``. Non-finite weights
    are refused, so a diverged run never replaces its last good checkpoint.
    """
    model = getattr(model, 'module', model)  # unwrap DDP
    weights_path, sidecar_path = checkpoint_files(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    bad = _non_finite(tensors)
    if bad:
        raise CheckpointError(f'refusing to write {weights_path}: non-finite values in '
                              f'{bad[:5]} (training diverged?); the previous checkpoint is kept')
    sidecar: dict[str, Any] = {
        'format': CHECKPOINT_FORMAT, 'model_name': model.name,
        'model_config': model.config.to_dict(),
        'normalization': {k: getattr(model, k).tolist() for k in NORMALIZATION_BUFFERS},
        **{k: v for k, v in extra.items() if k != 'optimizer'},
    }
    if 'optimizer' in extra:
        state = extra['optimizer']
        layout: dict[str, dict[str, Any]] = {}
        for index, entry in state['state'].items():
            layout[str(index)] = {'tensors': [], 'values': {}}
            for name, value in entry.items():
                if isinstance(value, torch.Tensor):
                    tensors[f'optimizer.state.{index}.{name}'] = value.detach().cpu().contiguous()
                    layout[str(index)]['tensors'].append(name)
                else:
                    layout[str(index)]['values'][name] = value
        sidecar['optimizer'] = {'param_groups': state['param_groups'], 'state': layout}
    data = save(tensors, metadata={'format': CHECKPOINT_FORMAT})
    sidecar.update(weights_file=weights_path.name, weights_sha256=hashlib.sha256(data).hexdigest())
    sidecar['sidecar_sha256'] = sidecar_digest(sidecar)   # a flipped config digit is caught too
    text = json.dumps(sidecar, indent=1, sort_keys=True, allow_nan=False)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    # Never a half-written file under the real names; a crash between the two renames
    # leaves weights that fail the sidecar's sha256: a clear error, not a wrong model.
    for target, content in ((weights_path, data), (sidecar_path, text.encode())):
        tmp = target.with_name(target.name + '.tmp')
        with tmp.open('wb') as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(target)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and verify a checkpoint; errors name the file and what is wrong.

    Returns the sidecar's entries plus ``state_dict`` (and ``optimizer`` rebuilt
    as a torch state_dict when the checkpoint is a training state).
    """
    weights_path, sidecar_path = checkpoint_files(path)
    if Path(path).suffix in ('.pt', '.pth', '.ckpt') and Path(path).is_file():
        raise CheckpointError(f'{path}: a torch pickle file; lam_ros checkpoints are '
                              '<name>.safetensors + <name>.json')
    for required in (sidecar_path, weights_path):
        if not required.is_file():
            raise CheckpointError(f'{required}: checkpoint file does not exist')
    try:
        sidecar = json.loads(sidecar_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f'{sidecar_path}: not a readable checkpoint sidecar '
                              f'({type(exc).__name__}: {exc})') from None
    if not isinstance(sidecar, dict) or sidecar.get('format') != CHECKPOINT_FORMAT:
        found = sidecar.get('format') if isinstance(sidecar, dict) else type(sidecar).__name__
        raise CheckpointError(f'{sidecar_path}: expected format {CHECKPOINT_FORMAT!r}, '
                              f'found {found!r}')
    for key in ('model_name', 'model_config', 'weights_sha256', 'sidecar_sha256'):
        if key not in sidecar:
            raise CheckpointError(f'{sidecar_path}: missing key {key!r}')
    if sidecar_digest(sidecar) != sidecar['sidecar_sha256']:
        raise CheckpointError(f'{sidecar_path}: content does not match its sidecar_sha256 '
                              '(corrupted, or edited by hand)')
    data = weights_path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sidecar['weights_sha256']:
        raise CheckpointError(f'{weights_path}: sha256 {digest[:16]}... does not match '
                              f'{sidecar["weights_sha256"][:16]}... in {sidecar_path.name} '
                              '(corrupted, or weights replaced)')
    try:
        tensors = load(data)
    except Exception as exc:  # safetensors raises several types for garbled files
        raise CheckpointError(f'{weights_path}: not a readable safetensors file '
                              f'({type(exc).__name__}: {exc})') from None
    bad = _non_finite(tensors)
    if bad:
        raise CheckpointError(f'{weights_path}: non-finite values (NaN/inf) in {bad[:5]}')
    huge = _implausible(tensors)
    if huge:
        raise CheckpointError(f'{weights_path}: implausible values (|x| > {MAX_ABS_WEIGHT:g}) '
                              f'in {huge[:5]}')
    payload = {k: v for k, v in sidecar.items() if k != 'optimizer'}
    payload['state_dict'] = {k: v for k, v in tensors.items() if not k.startswith('optimizer.')}
    if 'optimizer' in sidecar:
        layout = sidecar['optimizer']
        try:
            payload['optimizer'] = {'param_groups': layout['param_groups'], 'state': {
                int(index): {**entry['values'],
                             **{n: tensors[f'optimizer.state.{index}.{n}']
                                for n in entry['tensors']}}
                for index, entry in layout['state'].items()}}
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f'{sidecar_path}: optimizer state does not match '
                                  f'{weights_path.name}: {exc!r}') from None
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
    except Exception as exc:  # torch layers raise AssertionError/RuntimeError on odd configs
        raise CheckpointError(f'{path}: cannot rebuild model {payload["model_name"]!r}: '
                              f'{type(exc).__name__}: {exc}') from exc
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
