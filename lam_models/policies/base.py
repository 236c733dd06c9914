# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The interface every policy implements, its config defaults, registry and checkpoints.

A policy maps the last ``obs_horizon`` observations (ego frames + joint positions) to a
chunk of ``action_horizon`` actions, of which the caller executes ``action_exec``
(receding horizon). A policy with ``latent_dim`` > 0 carries a second head on the same
trunk that predicts the chunk of pseudo-actions (latent motion labels): robot rows train
both heads, human rows (no actions, no proprio) the latent head only.

A training batch is a dict of tensors (``lam_models.data.windows.PolicyWindows``):
  ``images``          (B, To, H, W, 3) uint8, H = W = ``config.image_size``
  ``state``           (B, To, S) float32 joint positions (anything where not ``state_valid``)
  ``state_valid``     (B,) bool: False for human rows (no proprio)
  ``actions``         (B, Ta, A) float32, env units
  ``action_mask``     (B, Ta) bool: False past the episode's end and for human rows
  ``action_columns``  (B, A) bool, optional: a row's real action columns (``ACTION_COLUMNS``)
  ``pseudo_actions``  (B, Ta, Z) float32 (only read when ``latent_dim`` > 0)
  ``pseudo_mask``     (B, Ta) bool
  ``is_robot``        (B,) bool (not needed by the losses: the masks say it all)
  ``waypoints``       (B, 2, 3) float32 m: the effector's way to the next two gripper events
  ``waypoint_mask``   (B, 2) bool: each waypoint's: rows with end-effector actions or a
                      path, and a video's first frames where its look targets saw the point
Every policy carries a waypoint head on its observation tokens (``look_loss``): from what
it sees, where the effector will grasp and release. The trainer's look-first stage trains
it alone on first frames, where it must find the objects (``lam_models.policies.train``);
while acting it stays on at ``waypoint_weight``.
Normalization (``set_normalization``): ``action_mean/std`` (A,), ``state_mean/std`` (S,),
``latent_mean/std`` (Z,), stored as buffers so a checkpoint carries them.

Checkpoints: ``lam_models.checkpoints`` (safetensors + JSON sidecar, sha256s) under
``POLICY_FORMAT``; ``save_policy`` / ``load_policy`` / ``resume_policy``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from typing_extensions import override

from lam_models.checkpoints import (
    CheckpointFormat,
    ModelConfig,
    Registry,
)
from lam_models.policies.layers import masked_loss, require_keys

POLICY_FORMAT = 'lam_ros.policy/2'  # /2: every policy has a waypoint head
WAYPOINT_SCALE = 0.05  # m: waypoints are regressed in these units (a step is <= 3 cm)
NORMALIZATION_BUFFERS = ('action_mean', 'action_std', 'state_mean', 'state_std',
                         'latent_mean', 'latent_std')


@dataclass
class PolicyConfig(ModelConfig):
    """Knobs shared by every policy; each method's config extends it.

    These dataclasses own every default: hydra's ``policy`` group is built from them,
    ``config/policy/<name>.yaml`` names the policy and holds only what differs. The
    trainer sets the data's sizes (image_size, horizons, action/state/latent dims).
    """

    image_size: int = 64        # square input frames, pixels (even)
    obs_horizon: int = 2        # To: frames (and states) up to now
    action_horizon: int = 16    # Ta: actions predicted per call
    action_exec: int = 8        # of which the caller executes this many
    action_dim: int = 7         # A: wx250s arm joints + gripper
    state_dim: int = 8          # S: joint_positions, 6 arm joints + 2 fingers
    latent_dim: int = 0         # Z: pseudo-action width; 0 = no latent head
    latent_weight: float = 1.0  # latent-head loss weight
    width: int = 32             # image encoder channels (doubled after its stride)
    keypoints: int = 32         # spatial-softmax keypoints of the stacked frames
    image_pooling: bool = True  # also average-pooled channels (what is seen, not just where)
    shift_pixels: int = 4       # random-shift augmentation (training only), 0: off
    color_jitter: float = 0.0   # contrast/brightness/channel-gain augmentation (training), 0: off
    state_dropout: float = 0.0  # training: share of robot rows shown the 'no state' embedding
    waypoint_weight: float = 1.0  # weight of the waypoint loss beside the action loss; 0: off
    state_noise: float = 0.5    # training: Gaussian noise on the normalized state (std units).
    #   Off, a policy fits 50 demos from the proprio alone (the start pose names the episode)
    #   and never reads its camera: swapping the frames left its actions unchanged.
    action_space: str = 'ee_delta'  # what the action columns mean: the dataset's attribute
    state_names: list[str] = field(default_factory=list)  # joint_states names, state order
    source_frame_size: int = 0  # the data's native frame side (px), before resizing; 0: unknown
    source_frame_aspect: float = 0.0  # its frames' width / height (a 640x480 camera: 1.33),
    #   squashed to a square for the model: a camera of another shape squashes otherwise
    avatar: bool = False        # frames filmed with the simulator's avatar for the effector
    #   (lam_ros.sim WidowXEnv(avatar=True)): evaluation films so too; no real camera does
    control_rate_hz: float = 0.0  # its data's rows per second: one action step is one row,
    #   so the deploy controller must tick at this rate; 0: unknown (written before it was kept)
    start_pose: dict[str, float] = field(default_factory=dict)  # the robot demos' median first
    #   joint positions by joint_states name: deploy goes there first; {}: unknown
    start_gripper: float = -1.0  # their first gripper command (0 closed..1 open); < 0: unknown

    # A checkpoint written before this field existed resumes with the data's value: it says
    # what the data was, not how the weights were trained.
    DESCRIBES_DATA: ClassVar[tuple[str, ...]] = ('control_rate_hz', 'source_frame_aspect',
                                                 'start_pose', 'start_gripper')

    def __post_init__(self) -> None:
        name = type(self).__name__
        if self.image_size < 8 or self.image_size % 2:
            raise ValueError(f'{name}.image_size must be even and >= 8, got {self.image_size}')
        for key in ('obs_horizon', 'action_horizon', 'action_exec', 'action_dim', 'width',
                    'keypoints'):
            if getattr(self, key) < 1:
                raise ValueError(f'{name}.{key} must be >= 1, got {getattr(self, key)}')
        for key in ('state_dim', 'latent_dim', 'shift_pixels', 'latent_weight', 'color_jitter',
                    'state_noise', 'waypoint_weight', 'control_rate_hz',
                    'source_frame_aspect'):
            if getattr(self, key) < 0:
                raise ValueError(f'{name}.{key} must be >= 0, got {getattr(self, key)}')
        if self.action_exec > self.action_horizon:
            raise ValueError(f'{name}.action_exec ({self.action_exec}) must be <= '
                             f'action_horizon ({self.action_horizon})')
        if self.width % 8:
            raise ValueError(f'{name}.width must be a multiple of 8 (GroupNorm), got {self.width}')
        if not 0.0 <= self.state_dropout < 1.0:
            raise ValueError(f'{name}.state_dropout must be in [0, 1), got {self.state_dropout}')


class Policy(nn.Module):
    """Base class: observation history in, action chunk (env units) out.

    Subclasses set ``name`` and ``config_class``, build ``observation`` (an
    ``ObservationEncoder``), and implement ``loss`` (adding ``waypoint_weight`` times
    ``waypoint_term`` of its tokens) and ``sample_actions``.
    ``forward`` is ``loss``, or ``look_loss`` with ``look=True``, so DDP can wrap the policy.
    """

    name: ClassVar[str] = ''
    config_class: ClassVar[type[PolicyConfig]] = PolicyConfig

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.config = config
        for key, size in (('action', config.action_dim), ('state', config.state_dim),
                          ('latent', config.latent_dim)):
            self.register_buffer(f'{key}_mean', torch.zeros(size))
            self.register_buffer(f'{key}_std', torch.ones(size))

    # -- normalization -------------------------------------------------------------------------
    def set_normalization(self, stats: dict[str, torch.Tensor]) -> None:
        """Store dataset statistics (keys as ``NORMALIZATION_BUFFERS``) in the buffers.

        ``latent_*`` is skipped by a policy without a latent head (the loader computes
        it whenever labels exist); any other key or shape mismatch is an error.
        """
        for key, value in stats.items():
            if key not in NORMALIZATION_BUFFERS:
                raise ValueError(f'normalization: unknown key {key!r}; '
                                 f'expected {NORMALIZATION_BUFFERS}')
            if key.startswith('latent_') and not self.config.latent_dim:
                continue
            buffer = getattr(self, key)
            value = torch.as_tensor(value, dtype=buffer.dtype)
            if value.shape != buffer.shape:
                raise ValueError(f'normalization {key}: shape {tuple(value.shape)}, policy '
                                 f'expects {tuple(buffer.shape)}')
            if key.endswith('_std') and not bool((value > 0).all()):
                raise ValueError(f'normalization {key}: every std must be > 0, got '
                                 f'{value.tolist()}')
            buffer.copy_(value)

    def normalize_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Env units -> z-scores (what the heads predict)."""
        return (actions - self.action_mean) / self.action_std

    def denormalize_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Z-scores -> env units."""
        return actions * self.action_std + self.action_mean

    def normalize_state(self, state: torch.Tensor) -> torch.Tensor:
        """Joint positions -> z-scores."""
        return (state - self.state_mean) / self.state_std

    def normalize_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Pseudo-actions -> z-scores (what the latent head predicts)."""
        return (latents - self.latent_mean) / self.latent_std

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """THE observation transform: uint8 (B, To, H, W, 3) -> float (B, To, 3, H, W) in [-1, 1].

        Training (``loss``) and deployment (``predict_chunk``) both go through it;
        frames reach ``config.image_size`` before, via ``lam_models.data.images.resize_frames``.
        """
        size = self.config.image_size
        if images.dtype != torch.uint8 or images.dim() != 5 or images.shape[-1] != 3:
            raise ValueError(f'{self.name} policy takes uint8 images (B, To, H, W, 3), got '
                             f'{images.dtype} of shape {tuple(images.shape)}')
        if tuple(images.shape[2:4]) != (size, size):
            raise ValueError(f'{self.name} policy takes {size}x{size} px frames '
                             f'(config.image_size={size}), got {images.shape[3]}x'
                             f'{images.shape[2]} px: resize with resize_frames first')
        return images.permute(0, 1, 4, 2, 3).float().div(127.5).sub(1.0)

    def check_observation(self, images: torch.Tensor, state: torch.Tensor,
                          state_valid: torch.Tensor) -> None:
        """Refuse an observation history of the wrong shape, naming what was expected."""
        config = self.config
        batch = len(images)
        expected = {'images': (batch, config.obs_horizon), 'state': (batch, config.obs_horizon,
                                                                     config.state_dim),
                    'state_valid': (batch,)}
        got = {'images': images, 'state': state, 'state_valid': state_valid}
        for key, shape in expected.items():
            if tuple(got[key].shape[:len(shape)]) != shape or (key != 'images' and got[key].dim()
                                                                 != len(shape)):
                raise ValueError(f'{self.name} policy: {key} has shape {tuple(got[key].shape)}, '
                                 f'expected {shape}{"+(H, W, 3)" if key == "images" else ""} '
                                 f'(obs_horizon={config.obs_horizon})')
        if state_valid.dtype != torch.bool:
            raise ValueError(f'{self.name} policy: state_valid must be bool, got '
                             f'{state_valid.dtype}')

    # -- the interface -------------------------------------------------------------------------
    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss and scalars to log: ``action_loss``, ``waypoint_loss``, ``latent_loss``."""
        raise NotImplementedError

    @override
    def forward(self, batch: dict[str, torch.Tensor], look: bool = False
                ) -> tuple[torch.Tensor, dict[str, float]]:
        return self.look_loss(batch) if look else self.loss(batch)

    def waypoint_term(self, tokens: torch.Tensor, batch: dict[str, torch.Tensor]
                      ) -> torch.Tensor:
        """MSE of the waypoint head on observation tokens (B, ..., dim), in WAYPOINT_SCALE units."""
        prediction = self.observation.waypoint_head(tokens.flatten(1))
        return masked_loss(prediction, batch['waypoints'] / WAYPOINT_SCALE,
                           batch['waypoint_mask'])

    def look_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """The look-first stage's loss: no action head, only what the first frames show.

        Waypoints, and pseudo-actions where the latent head reads the observation tokens
        directly (``latent_term``).
        """
        require_keys(self.name, batch, ('images', 'state', 'state_valid', 'waypoints',
                                        'waypoint_mask')
                     + (('pseudo_actions', 'pseudo_mask') if self.config.latent_dim else ()))
        tokens = self.observation(self.preprocess(batch['images']),
                                  self.normalize_state(batch['state']), batch['state_valid'],
                                  augment=self.training)
        loss = self.waypoint_term(tokens, batch)
        metrics = {'waypoint_loss': loss.item()}
        latent_loss = self.latent_term(tokens.flatten(1), batch)
        if latent_loss is not None:
            loss = loss + self.config.latent_weight * latent_loss
            metrics['latent_loss'] = latent_loss.item()
        return loss, metrics

    def latent_term(self, tokens: torch.Tensor, batch: dict[str, torch.Tensor]
                    ) -> torch.Tensor | None:
        """The latent head's loss on flattened observation tokens (B, C), where it reads them.

        None without a latent head, or where it sits elsewhere (the autoregressive policy's
        reads its transformer's steps): look-first then trains the waypoints alone.
        """
        return None

    def latent_reads_observation(self) -> bool:
        """Whether ``latent_term`` exists: human first frames have something to teach."""
        return bool(self.config.latent_dim) and type(self).latent_term is not Policy.latent_term

    @torch.no_grad()
    def predict_waypoints(self, images: torch.Tensor, state: torch.Tensor,
                          state_valid: torch.Tensor) -> torch.Tensor:
        """Where the effector will grasp and release (B, 2, 3) m, relative to now."""
        tokens = self.observation(*self.prepare_observation(images, state, state_valid))
        return self.observation.waypoint_head(tokens.flatten(1)) * WAYPOINT_SCALE

    def sample_actions(self, images: torch.Tensor, state: torch.Tensor,
                       state_valid: torch.Tensor, generator: torch.Generator | None
                       ) -> torch.Tensor:
        """Preprocessed images, normalized state -> normalized actions (B, Ta, A)."""
        raise NotImplementedError

    @torch.no_grad()
    def predict_chunk(self, images: torch.Tensor, state: torch.Tensor, state_valid: torch.Tensor,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """The next ``action_horizon`` actions (B, Ta, A) float32, env units.

        ``images`` uint8 (B, To, H, W, 3), ``state`` (B, To, S), ``state_valid`` (B,)
        bool: the last ``obs_horizon`` observations, oldest first. No augmentation,
        whatever the module's mode. ``generator`` seeds a sampling policy's noise
        (diffusion), for reproducible calls; others ignore it.
        """
        actions = self.sample_actions(*self.prepare_observation(images, state, state_valid),
                                      generator)
        return self.denormalize_actions(actions)

    def prepare_observation(self, images: torch.Tensor, state: torch.Tensor,
                            state_valid: torch.Tensor
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A caller's observation history, checked, on the policy's device, preprocessed.

        A policy trained without proprio (``state_dim`` 0) ignores the state it is given and
        sees what it was trained on, the 'no state' embedding.
        """
        device = self.action_mean.device
        images, state, state_valid = images.to(device), state.to(device), state_valid.to(device)
        if not self.config.state_dim:
            state, state_valid = state[..., :0], torch.zeros_like(state_valid)
        self.check_observation(images, state, state_valid)
        return self.preprocess(images), self.normalize_state(state.float()), state_valid


POLICIES: Registry[Policy] = Registry('policy')
register = POLICIES.register          # class decorator adding a policy to make_policy
available_policies = POLICIES.names   # () -> registered names
policy_class = POLICIES.get           # name -> class (KeyError naming the others)
make_policy = POLICIES.build          # (name, **config fields) -> Policy

CHECKPOINTS = CheckpointFormat(POLICY_FORMAT, POLICIES, NORMALIZATION_BUFFERS)


def save_policy(path: str | Path, policy: Policy, **extra: Any) -> None:
    """Write ``<name>.safetensors`` + ``<name>.json``; ``extra``: step, optimizer, train_config."""
    CHECKPOINTS.save(path, policy, **extra)


def read_policy_checkpoint(path: str | Path) -> dict[str, Any]:
    """The verified sidecar entries plus ``state_dict`` (and ``optimizer``) of a policy."""
    return CHECKPOINTS.read(path)


def load_policy(path: str | Path, map_location: str | torch.device = 'cpu') -> Policy:
    """Rebuild a policy (weights, config, normalization stats) in eval mode."""
    return CHECKPOINTS.load(path, map_location)  # type: ignore[return-value]


def resume_policy(path: str | Path, policy: Policy, optimizer: torch.optim.Optimizer) -> int:
    """Load a training state into ``policy`` and ``optimizer``; the step to continue from.

    0 when no checkpoint exists at ``path``. A checkpoint of another policy or config,
    or an exported policy without optimizer state, is a ``CheckpointError``.
    """
    from lam_models.training import resume_state  # the one resume, shared by trainers
    return resume_state(path, policy, optimizer, CHECKPOINTS)[0]
