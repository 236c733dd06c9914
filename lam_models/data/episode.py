# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The in-memory episode every part of lam_models consumes.

Bags (robot or human recordings) and the simulator both end up as an
``Episode``; models, metrics and training never see a rosbag or a MuJoCo
object directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Sequence

import numpy as np

Embodiment = Literal['robot', 'human']
EMBODIMENTS: tuple[Embodiment, ...] = ('robot', 'human')
# ee_delta actions (the simulator's, BridgeData's) are [dx, dy, dz, droll, dpitch, dyaw,
# gripper], the gripper 0 (closed) .. 1 (open), open above the middle as the arm node reads
# it (GRIPPER_OPEN_ABOVE in lam_ros.control.kinematics, which lam_models does not import).
EE_DELTA = 'ee_delta'                 # what such an episode's action_space starts with
GRIPPER_OPEN_ABOVE = 0.5
WAYPOINTS = 2                         # look-first targets per frame: the next grasp, release
# Episode.metadata key: which action columns are real (a list of bools, one per column; all
# when absent). Human actions decoded from pseudo-actions carry only the axes that are
# measured to transfer from the hand to the gripper; the others train nothing.
ACTION_COLUMNS = 'action_columns'
# Episode.metadata key: where a video's effector grasps and releases, read off its frames
# (lam_models.data.look_targets): WAYPOINTS entries, each [x, y, z] m in the robot's base
# frame or None (not seen). An episode without waypoints of its own looks at these.
LOOK_TARGETS = 'look_targets'
# Episode.metadata key: True where the frames were filmed with the simulator's avatar for the
# effector (WidowXEnv(avatar=True)): another camera than a real arm's or hand's.
AVATAR = 'avatar'
# The teleop's and the deploy controller's rate_hz (config/*.yaml) and the simulator's
# camera: a dataset keeps one row per command (at_frame_rate), as the policy acts.
CONTROL_RATE_HZ = 10.0
# Episode.metadata key: the rate (Hz) its frames were thinned to (at_frame_rate).
FRAME_RATE = 'frame_rate_hz'
# Episode.metadata key: [height, width] px of its frames as recorded, where they were resized
# on reading (read_episodes(image_size=)): a policy keeps its camera's shape (deploy checks it).
SOURCE_FRAME_SHAPE = 'source_frame_shape'
# Rates within this share of each other are one rate (a camera's 29.97 fps, its drops).
RATE_TOLERANCE = 0.1
PER_FRAME = ('frames', 'timestamps', 'actions', 'joint_positions', 'hidden_motion',
             'effector_positions', 'pseudo_actions')   # Episode fields with a row per frame
PER_FRAME_METADATA = ('pseudo_valid',)   # metadata lists with an entry per frame


def frame_stride(native_hz: float, rate_hz: float) -> int:
    """Every how many frames a ``native_hz`` stream keeps one at about ``rate_hz``.

    The whole ratio, a half rounded up with a margin for clocks: 15 fps to 10 Hz is 2
    (7.5 Hz) whether its median period reads a nanosecond over or under 1/15 s.
    """
    return max(int(native_hz / rate_hz + 0.5 + 0.02), 1)


def frame_rate_hz(episode: Episode) -> float:
    """Frames per second, from the median frame interval (drops, jitter aside); 0: unknown."""
    times = np.asarray(episode.timestamps, np.float64)
    period = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    return 1.0 / period if period > 0 else 0.0


def source_frame_shape(episode: Episode) -> tuple[int, int]:
    """(height, width) px of the episode's frames as its camera gave them."""
    shape = episode.metadata.get(SOURCE_FRAME_SHAPE) or episode.frames.shape[1:3]
    return int(shape[0]), int(shape[1])


def episode_name(index: int, episode: Episode) -> str:
    """How errors name an episode: its index in the list, and its source when known."""
    source = episode.metadata.get('source')
    return f'episode {index} ({source})' if source else f'episode {index}'


RATE_FRAMES = 9   # an episode's frames before its rate is checked against the others'


def common_frame_rate(episodes: Sequence[Episode],
                      reference: Sequence[Episode] | None = None) -> float:
    """The ``reference`` episodes' median frame rate (default: all; 0 unknown), shared by all.

    A latent or an action step is one row: rows at 30 Hz beside rows at 10 Hz are motions of
    a third the size under one label (a dataset built without ``--rate-hz``): a ValueError
    names the episode. One of fewer than ``RATE_FRAMES`` frames is not judged: a few
    intervals of a jittery clock (the simulator's over ROS: 87 to 115 ms) are no rate.
    """
    rates = [frame_rate_hz(ep) for ep in (episodes if reference is None else reference)]
    rate = float(np.median([r for r in rates if r] or [0.0]))
    for index, ep in enumerate(episodes):
        own = frame_rate_hz(ep) if len(ep) >= RATE_FRAMES else 0.0
        if rate and own and abs(own / rate - 1.0) > RATE_TOLERANCE:
            raise ValueError(f'{episode_name(index, ep)}: frames at {own:.3g} Hz, the '
                             f'{"others" if reference is None else "episodes with actions"} '
                             f'at {rate:.3g} Hz: build every dataset at one rate '
                             '(lam-ros dataset build --rate-hz)')
    return round(rate, 3)


def at_frame_rate(episode: Episode, rate_hz: float) -> Episode:
    """The episode thinned to every k-th frame, k the whole ratio of its rate to ``rate_hz``.

    A RealSense streams 30 fps beside the teleop's 10 Hz commands: built as recorded, each
    command repeats over three frames, and a policy or latent model learns steps a third of
    the controller's. The frames nearest a grid of k frame periods are kept (a dropped frame
    does not shift the rest), so rows stay evenly spaced: a 15 fps camera gives 7.5 Hz
    (k = 2; record at a multiple of the rate). Nothing changes where k < 2 (the simulator's
    10 Hz, with its jitter); per-frame arrays and labels are kept row for row.
    """
    if not rate_hz > 0:
        raise ValueError(f'rate_hz must be > 0, got {rate_hz}')
    times = np.asarray(episode.timestamps, np.float64)
    native_hz = frame_rate_hz(episode)
    if not native_hz:
        return episode
    frame_s = 1.0 / native_hz
    stride = frame_stride(native_hz, rate_hz)
    if stride < 2:
        return episode
    grid = np.arange(times[0], times[-1] + 1e-6, stride * frame_s)
    right = np.clip(np.searchsorted(times, grid), 0, len(times) - 1)
    left = np.maximum(right - 1, 0)
    nearest = np.where(np.abs(times[left] - grid) <= np.abs(times[right] - grid), left, right)
    keep = np.unique(nearest)
    rows = {name: getattr(episode, name)[keep] for name in PER_FRAME
            if getattr(episode, name) is not None}
    metadata = {key: (np.asarray(value)[keep].tolist() if key in PER_FRAME_METADATA else value)
                for key, value in episode.metadata.items()}
    return replace(episode, **rows, metadata={**metadata, FRAME_RATE: 1.0 / (stride * frame_s)})


UNEVEN_SHARE = 0.2   # a row this share of a period off its place is out of step


def uneven_rows(episode: Episode) -> float:
    """Share of an episode's row intervals more than ``UNEVEN_SHARE`` off their median.

    Thinned rows of a camera that slowed down mid-episode (auto-exposure in dim light)
    alternate 67 and 133 ms apart at 10 Hz: each still carries one command, but the motion
    between two rows is half or twice a step. 0 for evenly spaced rows or under 3 frames.
    """
    intervals = np.diff(np.asarray(episode.timestamps, np.float64))
    if len(intervals) < 2 or not np.median(intervals) > 0:
        return 0.0
    period = float(np.median(intervals))
    return float(np.mean(np.abs(intervals - period) > UNEVEN_SHARE * period))


def gripper_events(actions: np.ndarray) -> np.ndarray:
    """Steps whose gripper command (the last column) is on the other side of open/closed.

    The grasp and the release of a demo: where its waypoints and look targets point.
    """
    opened = actions[:, -1] > GRIPPER_OPEN_ABOVE
    return np.flatnonzero(opened[1:] != opened[:-1]) + 1


@dataclass
class Episode:
    """One demonstration, time-aligned on the camera frames.

    ``frames[t]`` is the camera image at ``timestamps[t]``. For robot
    episodes ``actions[t]`` is the command issued after seeing frame t; for
    human episodes ``actions`` is None (training code never sees the
    demonstrator's motion) and ``hidden_motion`` may hold the simulator's
    ground truth, only for probing metrics. ``effector_positions[t]`` is where the gripper's
    (or the hand's) fingertip centre is at frame t, in the robot's base frame: what the arm
    did, where summed ee-delta commands say what it was told (the arm lags a fast reach by
    up to a quarter). Simulated episodes have it for both embodiments, a human's as ground
    truth like ``hidden_motion``: training reads it only where an episode has actions.
    """

    frames: np.ndarray                      # (T, H, W, 3) uint8, RGB
    timestamps: np.ndarray                  # (T,) float64 seconds
    embodiment: Embodiment = 'robot'
    actions: np.ndarray | None = None       # (T, A) float32
    joint_positions: np.ndarray | None = None  # (T, J) float32
    hidden_motion: np.ndarray | None = None    # (T, A) float32, human only
    effector_positions: np.ndarray | None = None   # (T, 3) float32 m, base frame
    pseudo_actions: np.ndarray | None = None   # (T, Z) float32, from a latent model
    task: str = ''
    instruction: str = ''
    success: bool | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(
                f'Episode.frames must be (T, H, W, 3) uint8, got {self.frames.shape} '
                f'{self.frames.dtype}')
        n = len(self.frames)
        for name in PER_FRAME[1:]:
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f'Episode.{name} has {len(value)} rows, frames have {n}')

    def __len__(self) -> int:
        return len(self.frames)
