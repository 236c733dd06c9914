# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The one checkpoint format of every model here (latent motion models, policies).

A checkpoint is ``<name>.safetensors`` (weights, normalization buffers and, for a
training state, optimizer tensors) plus ``<name>.json`` (format, model name, config,
normalization stats, step, ..., the sha256 of the safetensors file and of the sidecar's
own content). No pickle: loading a checkpoint cannot run code. Every way a checkpoint
can be wrong (missing, garbled, a bit flipped, weights swapped, NaN/inf or absurd
values, another model or config) is a ``CheckpointError`` naming the file.

A kind of checkpoint is a ``CheckpointFormat``: its format string (so a policy is never
loaded as a latent model) and the ``Registry`` of model classes that rebuilds its models.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from safetensors.torch import load, save
import torch
from torch import nn

# No trained weight or normalization statistic comes near this; a checkpoint that does
# is garbage even when its hashes match (e.g. rewritten by hand).
MAX_ABS_WEIGHT = 1e6

ConfigT = TypeVar('ConfigT', bound='ModelConfig')
ModelT = TypeVar('ModelT', bound=nn.Module)


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable or does not match what the caller asked for."""


class ModelConfig:
    """Mixin for a model's config dataclass: a plain dict in the sidecar and back."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, for the checkpoint's JSON sidecar and YAML."""
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[ConfigT], values: dict[str, Any]) -> ConfigT:
        """Build from a dict, naming any key this config does not have."""
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f'{cls.__name__} has no field(s) {unknown}; known: {sorted(known)}')
        return cls(**values)


class CheckpointModel(Protocol):
    """What a checkpoint stores of a model: its registry name, config and tensors."""

    name: str
    config: ModelConfig

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Every tensor to store, by name (``nn.Module.state_dict``)."""
        ...


class Registry(Generic[ModelT]):
    """Model classes of one kind by ``name``: what builds them from a name and a config.

    A class registers with ``@registry.register``; it has ``name`` and ``config_class``
    (a ``ModelConfig`` dataclass).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.classes: dict[str, type[ModelT]] = {}

    def register(self, model_class: type[ModelT]) -> type[ModelT]:
        """Class decorator adding a class under its ``name``."""
        self.classes[model_class.name] = model_class  # type: ignore[attr-defined]
        return model_class

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self.classes)

    def get(self, name: str) -> type[ModelT]:
        """The class registered as ``name``; a KeyError lists the others."""
        if name not in self.classes:
            raise KeyError(f'unknown {self.kind} {name!r}; available: {self.names()}')
        return self.classes[name]

    def build(self, name: str, **config: Any) -> ModelT:
        """An instance of ``name`` from its config fields (unknown fields are named)."""
        cls = self.get(name)
        return cls(cls.config_class.from_dict(config))  # type: ignore[attr-defined, call-arg]


def checkpoint_files(path: str | Path) -> tuple[Path, Path]:
    """(``<name>.safetensors``, ``<name>.json``) of a checkpoint named by either or the stem."""
    path = Path(path)
    base = path.with_suffix('') if path.suffix in ('.safetensors', '.json') else path
    return base.parent / f'{base.name}.safetensors', base.parent / f'{base.name}.json'


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


def _write_atomically(target: Path, content: bytes) -> None:
    tmp = target.with_name(target.name + '.tmp')
    with tmp.open('wb') as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(target)


def write_checkpoint(path: str | Path, fmt: str, model: CheckpointModel,
                     normalization: tuple[str, ...], **extra: Any) -> None:
    """Write ``<name>.safetensors`` (tensors) and ``<name>.json`` (everything else + sha256).

    One format for exports and resumable training states (rank 0 writes it).
    ``normalization`` names the model's buffers copied into the sidecar as lists
    (readable without torch). ``extra`` holds JSON values (step, train_config, ...)
    and optionally ``optimizer``, a torch optimizer state_dict whose tensors go in
    the safetensors file as ``optimizer.state.<param>.<name>``. Non-finite weights
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
        'format': fmt, 'model_name': model.name,
        'model_config': model.config.to_dict(),
        'normalization': {k: getattr(model, k).tolist() for k in normalization},
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
    data = save(tensors, metadata={'format': fmt})
    sidecar.update(weights_file=weights_path.name, weights_sha256=hashlib.sha256(data).hexdigest())
    sidecar['sidecar_sha256'] = sidecar_digest(sidecar)   # a flipped config digit is caught too
    text = json.dumps(sidecar, indent=1, sort_keys=True, allow_nan=False)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    # Never a half-written file under the real names; a crash between the two renames
    # leaves weights that fail the sidecar's sha256: a clear error, not a wrong model.
    _write_atomically(weights_path, data)
    _write_atomically(sidecar_path, text.encode())


def _read_sidecar(path: str | Path, fmt: str) -> dict[str, Any]:
    """The verified JSON sidecar of ``path`` (format, required keys, its own sha256)."""
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
    if not isinstance(sidecar, dict) or sidecar.get('format') != fmt:
        found = sidecar.get('format') if isinstance(sidecar, dict) else type(sidecar).__name__
        raise CheckpointError(f'{sidecar_path}: expected format {fmt!r}, found {found!r}')
    for key in ('model_name', 'model_config', 'weights_sha256', 'sidecar_sha256'):
        if key not in sidecar:
            raise CheckpointError(f'{sidecar_path}: missing key {key!r}')
    if sidecar_digest(sidecar) != sidecar['sidecar_sha256']:
        raise CheckpointError(f'{sidecar_path}: content does not match its sidecar_sha256 '
                              '(corrupted, or edited by hand)')
    return sidecar


def read_checkpoint(path: str | Path, fmt: str) -> dict[str, Any]:
    """Load and verify a checkpoint of format ``fmt``; errors name the file and what is wrong.

    Returns the sidecar's entries plus ``state_dict`` (and ``optimizer`` rebuilt
    as a torch state_dict when the checkpoint is a training state).
    """
    sidecar = _read_sidecar(path, fmt)
    weights_path, sidecar_path = checkpoint_files(path)
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
                         config: dict[str, Any], defaults: dict[str, Any] | None = None) -> None:
    """Raise if a checkpoint was written by a different model or config.

    A key the checkpoint lacks (a field added since it was written) reads as ``defaults``'
    value: the behaviour that checkpoint was trained with.
    """
    if payload['model_name'] != name:
        raise CheckpointError(f'{path}: checkpoint is model {payload["model_name"]!r}, '
                              f'config asks for {name!r}')
    saved = {**(defaults or {}), **payload['model_config']}
    diffs = [f'{k}: checkpoint={saved.get(k)!r} config={config.get(k)!r}'
             for k in sorted(set(saved) | set(config)) if saved.get(k) != config.get(k)]
    if diffs:
        raise CheckpointError(f'{path}: incompatible config: ' + '; '.join(diffs))


def load_state(path: str | Path, model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """``load_state_dict`` with errors that name the file and the tensors at fault."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}'
              for k, v in own.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        name = getattr(model, 'name', type(model).__name__)
        raise CheckpointError(f'{path}: weights do not fit {name}: missing={missing[:5]} '
                              f'unexpected={unexpected[:5]} shape mismatches={shapes[:5]}')
    model.load_state_dict(state)



@dataclass(frozen=True)
class CheckpointFormat:
    """One kind of checkpoint: its format string and the registry that rebuilds its models.

    ``normalization`` names the buffers copied into the sidecar as lists.
    """

    format: str
    registry: Registry
    normalization: tuple[str, ...] = ()

    def save(self, path: str | Path, model: CheckpointModel, **extra: Any) -> None:
        """``write_checkpoint`` in this format (``extra``: step, optimizer, ...)."""
        write_checkpoint(path, self.format, model, self.normalization, **extra)

    def read(self, path: str | Path) -> dict[str, Any]:
        """``read_checkpoint`` in this format: the verified sidecar + ``state_dict``."""
        return read_checkpoint(path, self.format)

    def load(self, path: str | Path, map_location: str | torch.device = 'cpu') -> nn.Module:
        """Rebuild a model (weights, config, normalization stats), in eval mode."""
        payload = self.read(path)
        try:
            model = self.registry.build(payload['model_name'], **payload['model_config'])
        except Exception as exc:  # torch layers raise AssertionError/RuntimeError on odd configs
            raise CheckpointError(f'{path}: cannot rebuild model {payload["model_name"]!r}: '
                                  f'{type(exc).__name__}: {exc}') from exc
        load_state(path, model, payload['state_dict'])
        return model.to(map_location).eval()
