# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Policy training samples: (observation history, action chunk, pseudo-action chunk, masks).

Every frame t of every episode starts a sample: the ``obs_horizon`` frames up to t (the
first frame repeated before the start), and the ``action_horizon`` actions and
pseudo-actions from t on. Rows of a chunk past the episode's end repeat its last row
and are masked (mask False), so no loss is taken on these invented targets; they
teach the policy nothing.

Robot episodes give actions, joint positions (the proprio state) and their own
pseudo-actions; human episodes give frames and pseudo-actions only, or, as the co-training
bench's oracle, the hand's true motion as actions, or actions decoded from their latents of
which only some columns are real (``ACTION_COLUMNS``: the rest train nothing). ``human_acts``
False keeps human actions for the look target alone. ``sample`` mixes the two embodiments at
``robot_fraction`` whatever their labels, and every row trains on the targets it has.
Everything lives in memory as a few flat arrays (64 px frames: 12 kB each) and a batch is a
handful of numpy gathers, so the loader is never the bottleneck (the policy trainer logs the
time of both, ``time/data_s`` and ``time/step_s``).

Rows whose actions are end-effector deltas, or whose episode has an effector path (a
recorded demo's forward kinematics), also carry ``waypoints``: where the effector
goes next, as its displacement to the next gripper events (the grasp, then the
release). On an episode's first frames (t < obs_horizon) that says where the objects are:
the target of the trainer's look-first stage (``lam_models.policies.train``). A video with
no waypoints of its own may say where its effector grasps and releases (``LOOK_TARGETS``,
read off its frames by ``lam_models.data.look_targets``): its first frames then carry those
points less where the robot's effector starts (the mean first point of the robot episodes
with waypoints and a path), and only they train (each waypoint has its own mask: a point
not seen is none).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from lam_models.data.dataset import episode_action_space, read_episodes
from lam_models.data.episode import (
    ACTION_COLUMNS,
    AVATAR,
    EE_DELTA,
    LOOK_TARGETS,
    WAYPOINTS,
    Episode,
    common_frame_rate,
    episode_name,
    gripper_events,
    source_frame_shape,
)
from lam_models.data.images import resize_frames

# The smallest std a state column is normalized by (rad for joints, m for fingers). The
# demos barely move some joints (forearm roll: std 0.002 rad); z-scored by that, a
# closed-loop drift of 0.17 rad read as 74 std and sent the policy off its data. The
# fingers' full travel (0.023 m) still spans half a unit; the frames show the grip too.
STATE_STD_FLOOR = 0.05


@dataclass(frozen=True)
class WindowShape:
    """How much past and future one sample holds, and the frames' side in pixels."""

    obs_horizon: int = 2
    action_horizon: int = 16
    image_size: int = 64

    def __post_init__(self) -> None:
        for name in ('obs_horizon', 'action_horizon', 'image_size'):
            if getattr(self, name) < 1:
                raise ValueError(f'WindowShape.{name} must be >= 1, got {getattr(self, name)}')


def _common_width(episodes: Sequence[Episode], key: str, what: str) -> int:
    """The column count of ``getattr(episode, key)`` shared by every episode that has it.

    0 when none has it; a ValueError names the first episode that differs and both widths.
    """
    first: tuple[int, int] | None = None       # (index, width) of the first with it
    for index, episode in enumerate(episodes):
        values = getattr(episode, key)
        if values is None:
            continue
        if first is None:
            first = index, values.shape[1]
        elif values.shape[1] != first[1]:
            raise ValueError(
                f'{episode_name(index, episode)}: {what} ({key}) has {values.shape[1]} '
                f'columns, {episode_name(first[0], episodes[first[0]])} has {first[1]}; '
                'one policy needs one width')
    return 0 if first is None else first[1]


def _stack(arrays: list[np.ndarray | None], lengths: list[int], width: int) -> np.ndarray:
    """Concatenate per-episode rows; an episode without them gets zeros."""
    return np.concatenate([np.zeros((n, width), np.float32) if a is None
                           else np.asarray(a, np.float32) for a, n in zip(arrays, lengths)])


def waypoint_targets(actions: np.ndarray, positions: np.ndarray | None = None) -> np.ndarray:
    """(T, WAYPOINTS, 3) m: the effector's translation from each step to the next gripper events.

    An event is a step whose gripper command is on the other side of open/closed from the
    step before; the episode's end stands in for the events it does not have. The
    translation is the effector's own path where ``positions`` (T, 3) give it, else the sum
    of the commands: what the arm was told, not what it did. The two differ by up to a
    quarter (the simulated arm lags a fast reach, the hand overshoots), and differently per
    embodiment, so episodes of both in one policy need the path.
    """
    length = len(actions)
    events = np.concatenate([gripper_events(actions),
                             [length] * WAYPOINTS])
    travelled = (np.concatenate([positions, positions[-1:]]) - positions[0]
                 if positions is not None
                 else np.concatenate([np.zeros((1, 3)), np.cumsum(actions[:, :3], 0)]))
    upcoming = np.searchsorted(events, np.arange(length), side='right')   # first event > t
    targets = np.stack([travelled[events[upcoming + k]] - travelled[:length]
                        for k in range(WAYPOINTS)], 1)
    return targets.astype(np.float32)


def _action_columns(index: int, episode: Episode, width: int) -> np.ndarray:
    """(width,) bool: the episode's real action columns (``ACTION_COLUMNS``; all if unsaid)."""
    columns = episode.metadata.get(ACTION_COLUMNS)
    if columns is None:
        return np.ones(width, bool)
    columns = np.asarray(columns)
    if columns.shape != (width,) or columns.dtype != bool or not columns.any():
        raise ValueError(f'{episode_name(index, episode)}: metadata {ACTION_COLUMNS!r} must be '
                         f'{width} bools, at least one True (one per action column), got '
                         f'{episode.metadata.get(ACTION_COLUMNS)!r}')
    return columns


def _look_targets(index: int, episode: Episode) -> list[np.ndarray | None]:
    """The episode's ``LOOK_TARGETS``, checked: WAYPOINTS entries, (3,) m or None each."""
    targets = episode.metadata[LOOK_TARGETS]
    try:
        points = [None if point is None else np.asarray(point, np.float32) for point in targets]
        if len(points) != WAYPOINTS or any(p is not None and (p.shape != (3,)
                                                             or not np.isfinite(p).all())
                                           for p in points):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f'{episode_name(index, episode)}: metadata {LOOK_TARGETS!r} must be '
                         f'{WAYPOINTS} entries (grasp, release), each [x, y, z] finite m or '
                         f'None, got {targets!r}') from None
    return points


def _draw(robot_rows: np.ndarray, human_rows: np.ndarray, batch_size: int,
          rng: np.random.Generator, robot_fraction: float) -> np.ndarray:
    """``batch_size`` rows, ``robot_fraction`` robot ones (one side only if the other is empty)."""
    if not 0.0 <= robot_fraction <= 1.0:
        raise ValueError(f'robot_fraction must be in [0, 1], got {robot_fraction}')
    robot_count = (0 if not len(robot_rows) else batch_size if not len(human_rows)
                   else round(batch_size * robot_fraction))
    return np.concatenate([rng.choice(robot_rows, robot_count) if robot_count
                           else np.zeros(0, np.int64),
                           rng.choice(human_rows, batch_size - robot_count)
                           if batch_size > robot_count else np.zeros(0, np.int64)])


def start_pose(acted: Sequence[Episode]) -> tuple[dict[str, float], float]:
    """Where the robot demos began: median first joint positions by name, first gripper command.

    The deploy controller moves the arm there before a policy's first action (a real arm
    boots at its sleep pose, which no demo starts from). Only the robot demos recorded with
    joint names count (those of another naming are left out); none: ({}, -1.0).
    """
    robot = [ep for ep in acted if ep.embodiment == 'robot' and ep.joint_positions is not None
             and ep.metadata.get('joint_names')]
    if not robot:
        return {}, -1.0
    names = list(robot[0].metadata['joint_names'])
    same = [ep for ep in robot if list(ep.metadata['joint_names']) == names
            and ep.joint_positions.shape[1] == len(names)]
    if not same:
        return {}, -1.0
    first = np.median(np.stack([ep.joint_positions[0] for ep in same]), axis=0)
    gripper = float(np.median([ep.actions[0, -1] for ep in same]))
    return {name: float(value) for name, value in zip(names, first)}, gripper


class PolicyWindows:
    """All samples of a list of episodes, in memory, sampled by embodiment."""

    def __init__(self, episodes: Sequence[Episode], shape: WindowShape = WindowShape(),
                 proprio: bool = True, human_acts: bool = True) -> None:
        """Index ``episodes``; ``proprio`` False leaves their joint positions out.

        Every row is then seen as a human row is, without state (``state_dim`` 0), and so
        is every rollout of the policy trained on them. ``human_acts`` False: a human
        episode's actions say only where its hand grasps and releases (its waypoints, the
        look target), and train no action head: what it shows, not how a hand moves.
        """
        acted = [ep for ep in episodes if ep.actions is not None]
        if not acted:
            raise ValueError('PolicyWindows needs at least one episode with actions')
        self.shape, self.human_acts = shape, human_acts
        self.action_dim = acted[0].actions.shape[1]
        self.start_pose, self.start_gripper = start_pose(acted)   # before proprio drops them
        if not proprio:
            episodes = [replace(ep, joint_positions=None) for ep in episodes]
        self.state_dim = _common_width(episodes, 'joint_positions', 'state')
        self.latent_dim = _common_width(episodes, 'pseudo_actions', 'latent')
        self.action_space = episode_action_space(acted[0])
        # What the policy's state columns are, and the frames' native size: the deploy
        # controller picks joint_states by these names, evaluation renders at this size.
        with_state = next((ep for ep in episodes if ep.joint_positions is not None), acted[0])
        self.state_names = list(with_state.metadata.get('joint_names', []))[:self.state_dim]
        height, width = source_frame_shape(acted[0])
        self.source_frame_size, self.source_frame_aspect = height, width / height
        # Frames filmed with the sim's avatar for the effector (generate_episode(avatar=True))
        # and frames of the real arm or hand are two cameras: one policy sees one of them.
        self.avatar = bool(acted[0].metadata.get(AVATAR, False))
        other = next((index for index, ep in enumerate(episodes)
                      if bool(ep.metadata.get(AVATAR, False)) != self.avatar), None)
        if other is not None:
            raise ValueError(f"{episode_name(other, episodes[other])}: metadata {AVATAR!r} is "
                             f"{not self.avatar}, the first acted episode's {self.avatar}: "
                             'frames filmed with and without the avatar do not mix')
        # One step of its actions means one row: the deploy controller must tick at this rate.
        self.control_rate_hz = common_frame_rate(episodes, acted)
        for index, ep in enumerate(episodes):
            if ep.actions is not None and (ep.actions.shape[1] != self.action_dim or
                                           episode_action_space(ep) != self.action_space):
                raise ValueError(f'{episode_name(index, ep)}: actions '
                                 f'{episode_action_space(ep)!r} with {ep.actions.shape[1]} '
                                 f'columns, others {self.action_space!r} with {self.action_dim}')
        lengths = [len(ep) for ep in episodes]
        self.starts = np.cumsum([0, *lengths[:-1]])
        self.lengths = np.asarray(lengths)
        # sample index -> (episode, t): every frame of every episode
        self.episode_of = np.repeat(np.arange(len(episodes)), lengths)
        self.time_of = np.concatenate([np.arange(n) for n in lengths])
        self.frames = np.concatenate([resize_frames(ep.frames, shape.image_size)
                                      for ep in episodes])
        self.actions = _stack([ep.actions for ep in episodes], lengths, self.action_dim)
        # Columns an episode does not have (decoded human actions: only the axes that
        # transfer) hold the column's mean over those that do, so they enter a policy as 0
        # once normalized, and train nothing (``action_columns`` in the batch).
        self.action_columns = np.stack([_action_columns(index, ep, self.action_dim)
                                        for index, ep in enumerate(episodes)])
        # Embodiment decides which side of the mix a row is drawn from; having actions
        # decides whether it trains the action head (an oracle's human rows do both), unless
        # human_acts is False (their actions then give only their waypoints, below).
        self.is_robot = np.array([ep.embodiment == 'robot' for ep in episodes])
        with_actions = np.array([ep.actions is not None for ep in episodes])
        self.has_actions = with_actions & (self.is_robot | human_acts)
        unseen = np.flatnonzero(~self.action_columns[self.has_actions].any(0))
        if len(unseen):
            raise ValueError(f'action columns {unseen.tolist()} are real in no episode that '
                             f'trains the action head ({ACTION_COLUMNS}): nothing would train '
                             f'them')
        real = self.action_columns[self.episode_of]
        acted_rows = self.has_actions[self.episode_of]
        for column in np.flatnonzero(~real[acted_rows].all(0)):
            have = acted_rows & real[:, column]
            fill = self.actions[have, column].mean() if have.any() else 0.0
            self.actions[acted_rows & ~real[:, column], column] = fill
        self.state = _stack([ep.joint_positions for ep in episodes], lengths, self.state_dim)
        self.pseudo_actions = _stack([ep.pseudo_actions for ep in episodes], lengths,
                                     self.latent_dim)
        self.pseudo_valid = np.concatenate([
            np.zeros(n, bool) if ep.pseudo_actions is None
            else np.asarray(ep.metadata.get('pseudo_valid', np.ones(n, bool)), bool)
            for ep, n in zip(episodes, lengths)])
        self.has_state = np.array([ep.joint_positions is not None for ep in episodes])
        robot_row = self.is_robot[self.episode_of]
        labelled = with_actions[self.episode_of] | self.pseudo_valid   # and look targets, below
        # Waypoints need the effector's translation: ee-delta commands give it, and so does a
        # recorded path (FK of a joint-position demo's joints); the gripper column says when.
        # An episode without a real gripper column (its events), or without the translation
        # columns its displacements would be summed from, has none: they would be invented.
        with_waypoints = [ep.actions is not None and columns[-1]
                          and (ep.effector_positions is not None
                               or (episode_action_space(ep).startswith(EE_DELTA)
                                   and columns[:3].all()))
                          for ep, columns in zip(episodes, self.action_columns)]
        self.waypoints = np.concatenate([
            waypoint_targets(ep.actions, ep.effector_positions) if has
            else np.zeros((n, WAYPOINTS, 3), np.float32)
            for ep, n, has in zip(episodes, lengths, with_waypoints)])
        self.waypoint_valid = np.repeat(np.repeat(with_waypoints, lengths)[:, None], WAYPOINTS,
                                        1)   # (N, WAYPOINTS): a look target may lack one
        # look-first rows: the first obs_horizon frames (at most one step in), which alone must
        # show where the objects are
        self.first_frame = self.time_of < shape.obs_horizon
        self._add_look_targets(episodes, with_waypoints)
        labelled |= self.waypoint_valid.any(1)
        self.robot_rows = np.flatnonzero(robot_row & labelled)
        self.human_rows = np.flatnonzero(~robot_row & labelled)

    def _add_look_targets(self, episodes: Sequence[Episode], with_waypoints: list[bool]) -> None:
        """First-frame waypoints of the episodes that only say where they grasp and release."""
        looking = {i: _look_targets(i, ep) for i, (ep, has)
                   in enumerate(zip(episodes, with_waypoints))
                   if not has and ep.metadata.get(LOOK_TARGETS) is not None}
        looking = {i: points for i, points in looking.items()
                   if any(point is not None for point in points)}
        if not looking:
            return
        # From its first frames a robot's effector is at home: a video's points less that
        # are the waypoints a robot there would have (human hands start near it too).
        homes = [ep.effector_positions[0] for ep, has in zip(episodes, with_waypoints)
                 if has and ep.embodiment == 'robot' and ep.effector_positions is not None]
        if not homes:
            first = next(iter(looking))
            raise ValueError(f'{episode_name(first, episodes[first])}: look targets '
                             f'({LOOK_TARGETS}) need robot episodes with waypoints and an '
                             'effector path (its demos) to say where the effector starts')
        home = np.mean(homes, 0)
        for index, points in looking.items():
            rows = self.starts[index] + np.arange(min(self.shape.obs_horizon,
                                                      self.lengths[index]))
            for k, point in enumerate(points):
                if point is not None:
                    self.waypoints[rows, k] = point - home
                    self.waypoint_valid[rows, k] = True

    def look_rows(self, pseudo: bool) -> tuple[np.ndarray, np.ndarray]:
        """(robot, human) first-frame rows with a look target for the look-first stage.

        Waypoints are a target wherever actions give them; a human's pseudo-actions too if
        ``pseudo`` (the policy's latent head reads the observation:
        ``Policy.latent_reads_observation``). A robot's first frames look by waypoints only.
        """
        robot_row = self.is_robot[self.episode_of]
        target = self.waypoint_valid.any(1) | (pseudo & self.pseudo_valid & ~robot_row)
        rows = np.flatnonzero(self.first_frame & target)
        return rows[robot_row[rows]], rows[~robot_row[rows]]

    @classmethod
    def from_dataset(cls, path: str | Path, shape: WindowShape = WindowShape(),
                     pseudo_actions: str | None = None, robot_only: bool = False,
                     proprio: bool = True, human_acts: bool = True) -> PolicyWindows:
        """Load an HDF5 dataset (``lam_models.data.dataset``), with one model's labels."""
        episodes = read_episodes(path, pseudo_actions, image_size=shape.image_size)
        if robot_only:
            episodes = [ep for ep in episodes if ep.actions is not None]
        return cls(episodes, shape, proprio, human_acts)

    def __len__(self) -> int:
        return len(self.episode_of)

    def normalization_stats(self) -> dict[str, torch.Tensor]:
        """Mean/std of actions and state (robot rows) and pseudo-actions (valid rows).

        State stds are at least ``STATE_STD_FLOOR``; the others at least 1e-3.
        """
        def mean_std(values: np.ndarray, key: str, floor: float = 1e-3
                     ) -> dict[str, torch.Tensor]:
            if not len(values):
                values = np.zeros((1, 0), np.float32)
            std = values.std(0) if len(values) > 1 else np.ones(values.shape[1])
            return {f'{key}_mean': torch.as_tensor(values.mean(0), dtype=torch.float32),
                    f'{key}_std': torch.as_tensor(np.maximum(std, floor), dtype=torch.float32)}
        acted = self.has_actions[self.episode_of]
        real = acted[:, None] & self.action_columns[self.episode_of]
        action_stats = [mean_std(self.actions[real[:, c], c:c + 1], 'action')
                        for c in range(self.action_dim)]
        return {**{key: torch.cat([stats[key] for stats in action_stats])
                   for key in ('action_mean', 'action_std')},
                **mean_std(self.state[self.has_state[self.episode_of]], 'state',
                           STATE_STD_FLOOR),
                **mean_std(self.pseudo_actions[self.pseudo_valid], 'latent')}

    def sample(self, batch_size: int, rng: np.random.Generator, robot_fraction: float = 1.0
               ) -> dict[str, torch.Tensor]:
        """A random batch, ``robot_fraction`` of it robot rows (all robot if no human labels)."""
        return self.batch(_draw(self.robot_rows, self.human_rows, batch_size, rng,
                                robot_fraction))

    def sample_look(self, batch_size: int, rng: np.random.Generator,
                    robot_fraction: float = 1.0, pseudo: bool = True
                    ) -> dict[str, torch.Tensor]:
        """First frames for look-first (``look_rows(pseudo)``), mixed as ``sample``."""
        robot, human = self.look_rows(pseudo)
        if not len(robot) and not len(human):
            raise ValueError(f'look-first needs first frames with a target: {EE_DELTA} actions '
                             f'or an effector path (their waypoints), look targets '
                             f'({LOOK_TARGETS}), or pseudo-labelled human video; these '
                             f'episodes have {self.action_space!r} actions, no '
                             f'effector path and no human labels'
                             f'{"" if pseudo else " this policy looks through"}')
        return self.batch(_draw(robot, human, batch_size, rng, robot_fraction))

    def batch(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        """The samples at ``rows`` (indices into ``len(self)``), as tensors."""
        episode, t = self.episode_of[rows], self.time_of[rows]
        start, length = self.starts[episode][:, None], self.lengths[episode][:, None]
        past = t[:, None] - np.arange(self.shape.obs_horizon - 1, -1, -1)
        obs_index = start + np.clip(past, 0, None)
        future = t[:, None] + np.arange(self.shape.action_horizon)
        in_episode = future < length
        chunk_index = start + np.minimum(future, length - 1)
        acted = self.has_actions[episode]
        return {
            'images': torch.from_numpy(self.frames[obs_index]),
            'state': torch.from_numpy(self.state[obs_index]),
            'state_valid': torch.from_numpy(self.has_state[episode]),
            'actions': torch.from_numpy(self.actions[chunk_index]),
            'action_mask': torch.from_numpy(in_episode & acted[:, None]),
            'action_columns': torch.from_numpy(self.action_columns[episode]),
            'pseudo_actions': torch.from_numpy(self.pseudo_actions[chunk_index]),
            'pseudo_mask': torch.from_numpy(in_episode & self.pseudo_valid[chunk_index]),
            'is_robot': torch.from_numpy(self.is_robot[episode]),
            'waypoints': torch.from_numpy(self.waypoints[rows]),
            'waypoint_mask': torch.from_numpy(self.waypoint_valid[rows]),
        }
