# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""What a task's robot demos say about any demonstration of it, a hand's included.

Actions decoded from a human video's latents are a regression's guess, frame by frame:
their grip is a smear of a binary command that flickers, and their summed path drifts (a
decoder fit in the demos' region reads a reach elsewhere about a quarter short). Summed
into waypoints, both miss: on the first frames, worse than a guess from no video. Three
facts hold for every demonstration of a task, whoever does it, and the robot's own demos
give them: how often the gripper changes (a pick-and-place closes once and opens once),
where the effector starts (at home: human hands start there too, within 2 cm), and how
high it is when the gripper changes (the object is on the table). ``TaskPriors.constrain``
holds a decoded sequence to them, and to where a video's frames show the object grasped and
released where they do (``LOOK_TARGETS``). Measured with CoMo's decoder on 200 simulated
avatar human videos of pick_place (issue 12, session 19), median distances of the next
event's waypoint on every frame / on the first two (a guess from no video: 5.7 / 6.5 cm):
as decoded 2.3 / 9.4 cm, held to the priors 2.2 / 5.0, and to the look targets too
1.9 / 2.4; the release's waypoint on every frame 8.3, 3.1 and 2.3 cm. A median hides the
videos whose grasp the decoded grip puts 10 steps off (a third of them): there a quarter of
the frames point 5 cm or more away. When the grip changes, the heights say too (a
pick-and-place descends, stands, then lifts), and with them only 8% of frames are that far
off (session 20).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from lam_models.data.dataset import episode_action_space
from lam_models.data.episode import (
    ACTION_COLUMNS,
    EE_DELTA,
    WAYPOINTS,
    Episode,
    gripper_events,
)

HEIGHT = 2   # the z column of ee-delta actions and the z of an effector path
# The height commands around a gripper change, [t - BEFORE, t + AFTER): a pick-and-place
# descends, stands while the fingers move, then lifts, all within these 12 steps.
PROFILE_BEFORE, PROFILE_AFTER = 6, 6
# A decoded grip whose open and closed levels are closer than half the command's 0..1 range
# shows no change: it is read as open throughout.
MIN_GRIP_SPREAD = 0.5


def step_gripper(grip: np.ndarray, changes: int, change_cost: np.ndarray | None = None
                 ) -> np.ndarray:
    """(T,) gripper commands, 1 open / 0 closed, that start open and change ``changes`` times.

    The sequence nearest ``grip`` in least squares. Read at the middle, a grip decoded from
    latents opens and closes 8 times in a simulated pick-and-place video that does each once.
    Its open and closed levels are its own 90th and 10th percentiles (a regression shrinks
    both towards the mean). Exactly ``changes`` (fewer if the video is shorter), whatever the
    video does: a hand that never lets go still gets a release, at the best step for one.
    Open throughout if the levels are less than ``MIN_GRIP_SPREAD`` apart: a flat grip says
    nothing of when it changes. ``change_cost`` (changes, T), in the grip's squared units,
    is added where change k falls on step t: other evidence of when it changes.
    """
    grip = np.asarray(grip, np.float64)
    levels = np.quantile(grip, [0.9, 0.1]) if len(grip) else np.zeros(2)
    if levels[0] - levels[1] < MIN_GRIP_SPREAD:
        return np.ones(len(grip), np.float32)
    changes = max(0, min(int(changes), len(grip) - 1))
    if change_cost is None:
        change_cost = np.zeros((changes, len(grip)))
    elif change_cost.shape[0] < changes or change_cost.shape[1] != len(grip):
        raise ValueError(f'step_gripper: change_cost is {change_cost.shape}, needs '
                         f'({changes}, {len(grip)}): a row per change, a column per step')
    # cost[j]: the least squared error up to step t with j changes made (open when j is even)
    error = (grip[:, None] - levels[np.arange(changes + 1) % 2]) ** 2
    cost = np.full(changes + 1, np.inf)
    cost[0] = 0.0
    changed = np.zeros((len(grip), changes + 1), bool)   # step t is a change into state j
    for t in range(len(grip)):
        if t:
            switch = np.concatenate([[np.inf], cost[:-1] + change_cost[:changes, t]])
            changed[t] = switch < cost
            cost = np.minimum(cost, switch)
        cost = cost + error[t]
    state, commands = changes, np.zeros(len(grip), np.float32)
    for t in range(len(grip) - 1, -1, -1):
        commands[t] = float(state % 2 == 0)
        state -= int(changed[t, state])
    return commands


def _gripping(episode: Episode) -> bool:
    """A robot demo with actions whose gripper column is real."""
    columns = episode.metadata.get(ACTION_COLUMNS)
    return (episode.embodiment == 'robot' and episode.actions is not None
            and (columns is None or bool(columns[-1])))


def _with_path(episode: Episode) -> bool:
    """A robot demo whose gripper column is real and whose effector path is recorded."""
    return _gripping(episode) and episode.effector_positions is not None


def _heights_at_events(episodes: Sequence[Episode], count: int) -> list[list[float]]:
    """Per gripper event k < ``count``: the effector's heights there, over the demos with it."""
    heights: list[list[float]] = [[] for _ in range(count)]
    for episode in filter(_with_path, episodes):
        for k, event in enumerate(gripper_events(episode.actions)[:count]):
            heights[k].append(float(episode.effector_positions[event, HEIGHT]))
    return heights


def event_heights(episodes: Sequence[Episode]) -> np.ndarray:
    """(WAYPOINTS,) m: the mean effector height at the grasp and at the release.

    Over the robot episodes with actions (a real gripper column) and an effector path: where
    the gripper holds the object it grasps and lets it go, the heights a look target needs.
    One task's demos: another task grasps and releases at other heights.
    """
    heights = _heights_at_events(episodes, WAYPOINTS)
    missing = [name for name, h in zip(('grasp', 'release'), heights) if not h]
    if missing:
        raise ValueError(f'event_heights: no robot episode with actions, an effector path and '
                         f'a gripper column has a {" or a ".join(missing)} (the gripper '
                         'closing, then opening): nothing says at what height')
    return np.array([np.mean(h) for h in heights])


def height_window(heights: np.ndarray, step: int) -> np.ndarray:
    """(PROFILE_BEFORE + PROFILE_AFTER,) height commands around ``step``, 0 outside (still)."""
    padded = np.pad(np.asarray(heights, np.float64), (PROFILE_BEFORE, PROFILE_AFTER))
    return padded[step:step + PROFILE_BEFORE + PROFILE_AFTER]


@dataclass(frozen=True)
class TaskPriors:
    """One task's demos: how often the gripper changes, and where the effector is.

    ``start`` ((3,) m, the mean first effector position) and ``event_heights`` (m, one per
    change the demos have) are None where no demo has an effector path and ee-delta actions
    to anchor a decoded path with, or none of those has every change. ``event_profiles``
    (one per change: the mean height commands around it, ``height_window``) say when the grip
    changes from how the path moves, with ``profile_weight`` (the decoded grip's error
    variance over the decoded profiles', on the demos: their evidence weighed, 0: unused).
    """

    grip_changes: int
    start: tuple[float, float, float] | None = None
    event_heights: tuple[float, ...] | None = None
    event_profiles: tuple[tuple[float, ...], ...] | None = None
    profile_weight: float = 0.0

    def constrain(self, actions: np.ndarray,
                  event_points: Sequence[Sequence[float] | None] | None = None) -> np.ndarray:
        """Decoded ee-delta actions (T, 7) held to the priors: a copy.

        The grip becomes the open/closed command with ``grip_changes`` changes nearest it
        (``step_gripper``), each where the height commands around it look most like the
        demos' around theirs, as ``profile_weight`` weighs the two. The decoded grip alone
        puts a pick-and-place's grasp more than 5 steps off in 35% of 200 simulated human
        videos, weighed with the profiles in 6% (issue 12, session 20).

        Then the summed path is anchored: it starts at ``start`` and is
        at change k at ``event_points[k]`` ([x, y, z] m, where the video's object is grasped
        and released: ``LOOK_TARGETS``) where given, else at height ``event_heights[k]``.
        Between two anchors, an axis both fix is shifted evenly to join them; after the last
        change it runs free.
        """
        actions = np.array(actions, np.float32)
        change_cost = None
        if self.event_profiles and self.profile_weight > 0:
            change_cost = self.profile_weight * np.array([
                [((height_window(actions[:, HEIGHT], t) - profile) ** 2).sum()
                 for t in range(len(actions))] for profile in self.event_profiles])
        actions[:, -1] = step_gripper(actions[:, -1], self.grip_changes, change_cost)
        if self.start is None or self.event_heights is None:
            return actions
        points = list(event_points or [])
        points += [None] * (len(self.event_heights) - len(points))
        anchors = [(0, np.asarray(self.start))]
        for event, height, point in zip(gripper_events(actions), self.event_heights, points):
            if point is None:
                point = np.full(3, np.nan)
                point[HEIGHT] = height
            anchors.append((int(event), np.asarray(point, np.float64)))
        for (start, low), (end, high) in zip(anchors, anchors[1:]):
            drift = (high - low) - actions[start:end, :3].sum(0)
            fixed = np.isfinite(drift)
            actions[start:end, :3][:, fixed] += (drift[fixed] / (end - start)).astype(np.float32)
        return actions


def _profiles(demos: Sequence[Episode], changes: int) -> np.ndarray | None:
    """(changes, window): the mean height commands around each change, over ``demos``."""
    windows: list[list[np.ndarray]] = [[] for _ in range(changes)]
    for demo in demos:
        for k, event in enumerate(gripper_events(demo.actions)[:changes]):
            windows[k].append(height_window(demo.actions[:, HEIGHT], event))
    return np.array([np.mean(w, 0) for w in windows]) if windows and all(windows) else None


def _profile_weight(demos: Sequence[Episode], decoded: Sequence[np.ndarray],
                    profiles: np.ndarray) -> float:
    """The decoded grip's squared error over the decoded height windows', on ``demos``."""
    grip = np.mean([np.mean((dec[:, -1] - demo.actions[:, -1]) ** 2)
                    for demo, dec in zip(demos, decoded)])
    height = np.mean([np.mean((height_window(dec[:, HEIGHT], event) - profiles[k]) ** 2)
                      for demo, dec in zip(demos, decoded)
                      for k, event in enumerate(gripper_events(demo.actions)[:len(profiles)])])
    return float(grip / max(height, 1e-12))


def task_priors(episodes: Sequence[Episode],
                decoded: Sequence[np.ndarray | None] | None = None) -> dict[str, TaskPriors]:
    """Per task, its ``TaskPriors`` from its robot demos with actions (median count of changes).

    ``decoded``, one per episode (None where there is none): its actions as a decoder reads
    them off its latents. How far those are from the demos' own weighs the decoded grip's
    word on when it changes against the height profiles' (``profile_weight``); without
    them the grip alone says.
    """
    if decoded is not None and len(decoded) != len(episodes):
        raise ValueError(f'task_priors: {len(decoded)} decoded action sequences for '
                         f'{len(episodes)} episodes: one per episode (None where none)')
    decoded_of = {id(episode): actions for episode, actions
                  in zip(episodes, decoded or [None] * len(episodes)) if actions is not None}
    by_task: dict[str, list[Episode]] = {}
    for episode in filter(_gripping, episodes):
        by_task.setdefault(episode.task, []).append(episode)
    if not by_task:
        raise ValueError("task_priors: no robot episode with actions (a real gripper column) "
                         "says what a task's demos do")
    priors = {}
    for task, demos in by_task.items():
        changes = int(np.median([len(gripper_events(demo.actions)) for demo in demos]))
        anchored = [demo for demo in demos if _with_path(demo)
                    and episode_action_space(demo).startswith(EE_DELTA)]
        heights = _heights_at_events(anchored, changes)
        if not anchored or not all(heights):
            priors[task] = TaskPriors(changes)
            continue
        start = np.mean([demo.effector_positions[0] for demo in anchored], 0)
        profiles = _profiles(anchored, changes)
        scored = [demo for demo in anchored if id(demo) in decoded_of]
        weight = (_profile_weight(scored, [decoded_of[id(demo)] for demo in scored], profiles)
                  if scored and profiles is not None else 0.0)
        priors[task] = TaskPriors(
            changes, tuple(float(v) for v in start), tuple(float(np.mean(h)) for h in heights),
            None if profiles is None else tuple(tuple(float(v) for v in p) for p in profiles),
            weight)
    return priors
