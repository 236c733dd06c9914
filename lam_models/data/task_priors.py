# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""What a task's robot demos say about any demonstration of it, a hand's included.

Actions decoded from a human video's latents are a regression's guess, frame by frame:
their grip is a smear of a binary command that flickers, and their summed path drifts (a
decoder fit in the demos' region reads a reach elsewhere about a quarter short). Summed
into waypoints, both miss: on the first frames, worse than a guess from no video. Four
facts hold for every demonstration of a task, whoever does it, and the robot's own demos
give them: how often the gripper changes (a pick-and-place closes once and opens once),
how the effector moves around each change (it descends, stands, then lifts), where it
starts (at home: human hands start there too, within 2 cm), and how high it is when the
gripper changes (the object is on the table), and how long it holds between changes (a hand
may be quicker, not twice as quick). ``TaskPriors.constrain``
holds a decoded sequence to them, and to where a video's frames show the object grasped and
released where they do (``LOOK_TARGETS``). Measured with CoMo's decoder on 200 simulated
avatar human videos of pick_place (issue 12, session 19), median distances of the next
event's waypoint on every frame / on the first two (a guess from no video: 5.7 / 6.5 cm):
as decoded 2.3 / 9.4 cm, held to the priors 2.2 / 5.0, and to the look targets too
1.9 / 2.4; the release's waypoint on every frame 8.3, 3.1 and 2.3 cm. A median hides the
videos whose grasp the decoded grip puts 5 or more steps off (36% of them): 27% of all
frames point 5 cm or more away. Timed by the heights around each change too, the grasp is
that far off in 6% of the videos, and 8% of the frames (session 20). Yet in 17 of 200
videos the grasp fell one step before the release, where the descent looks alike, and
anchoring there put the whole carry in the wrong steps (R^2 of held on true sideways motion
0.52, as decoded 0.83); with the grip's changes kept apart and the missing motion added where
the path moves, 0.89 (session 29).
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
# A hand may change its grip sooner after the last change than the arm does (simulated hands
# hold a block 17-22 steps, the arm 21-28): a decoded grip's changes are kept at least this
# share of the demos' shortest hold apart.
DWELL_SHARE = 0.5
# An anchored segment's missing motion across the table goes where its decoded path moves
# across it, plus this much per step: a decoder that reads a reach short reads it short where
# it happens, and its depth (x, read worst) moves when its sideways motion does.
SPREAD_FLOOR_M = 0.002


def step_gripper(grip: np.ndarray, changes: int, change_cost: np.ndarray | None = None,
                 min_dwell: int = 1) -> np.ndarray:
    """(T,) gripper commands, 1 open / 0 closed, that start open and change ``changes`` times.

    The sequence nearest ``grip`` in least squares. Read at the middle, a grip decoded from
    latents opens and closes 8 times in a simulated pick-and-place video that does each once.
    Its open and closed levels are its own 90th and 10th percentiles (a regression shrinks
    both towards the mean). Exactly ``changes`` (fewer where the video is too short to hold
    them ``min_dwell`` apart), whatever the video does: a hand that never lets go still gets
    a release, at the best step for one.
    Open throughout if the levels are less than ``MIN_GRIP_SPREAD`` apart: a flat grip says
    nothing of when it changes, nor that it does (a video whose grasp the decoder does not
    see), whatever else says when. ``change_cost`` (at least (changes, T), in the grip's
    squared units) is added where change k falls on step t: other evidence of when.
    ``min_dwell``: the fewest steps between two changes. Without it, 17 of 200 simulated
    human videos had their grasp and release one step apart (issue 12, session 29).
    """
    grip = np.asarray(grip, np.float64)
    if int(min_dwell) != min_dwell or min_dwell < 1:
        raise ValueError(f'step_gripper: min_dwell is {min_dwell}, needs a whole number of '
                         'steps, at least 1')
    min_dwell = int(min_dwell)
    # the first change at step 1 at the earliest, each next one min_dwell steps later
    room = 0 if len(grip) < 2 else 1 + (len(grip) - 2) // min_dwell
    changes = max(0, min(int(changes), room))
    change_cost = (np.zeros((changes, len(grip))) if change_cost is None
                   else np.asarray(change_cost, np.float64))
    if change_cost.ndim != 2 or len(change_cost) < changes or change_cost.shape[1] != len(grip):
        raise ValueError(f'step_gripper: change_cost is {change_cost.shape}, needs at least '
                         f'({changes}, {len(grip)}): a row per change, a column per step')
    levels = np.quantile(grip, [0.9, 0.1]) if len(grip) else np.zeros(2)
    if levels[0] - levels[1] < MIN_GRIP_SPREAD:
        return np.ones(len(grip), np.float32)
    error = (grip[:, None] - levels[np.arange(changes + 1) % 2]) ** 2
    # cost[j, d]: the least squared error so far with j changes made (open when j is even),
    # the last d + 1 steps in state j (capped at min_dwell: long enough to change again)
    last = min_dwell - 1
    cost = np.full((changes + 1, min_dwell), np.inf)
    cost[0, last] = error[0, 0]   # open from the start: the first change may come at once
    came = np.zeros((len(grip), changes + 1, min_dwell), np.int8)   # which of the ways below
    for t in range(1, len(grip)):
        ways = np.full((3, changes + 1, min_dwell), np.inf)
        ways[0, :, 1:] = cost[:, :-1]                                     # one step longer
        ways[1, :, last] = cost[:, last]                                  # longer than the cap
        ways[2, 1:, 0] = cost[:-1, last] + change_cost[:changes, t]       # changed at t
        came[t] = np.argmin(ways, 0)   # ties: the latest change
        cost = ways.min(0) + error[t][:, None]
    commands = np.zeros(len(grip), np.float32)
    state, dwell = changes, int(np.argmin(cost[changes]))   # the last state may be short
    for t in range(len(grip) - 1, -1, -1):
        commands[t] = float(state % 2 == 0)
        way = came[t, state, dwell]
        state, dwell = (state, dwell - 1) if way == 0 else (state, last) if way == 1 \
            else (state - 1, last)
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


def height_windows(heights: np.ndarray) -> np.ndarray:
    """(T, PROFILE_BEFORE + PROFILE_AFTER): the height commands around each step.

    Zero outside the episode, where the effector stands still.
    """
    padded = np.pad(np.asarray(heights, np.float64), (PROFILE_BEFORE, PROFILE_AFTER))
    return np.lib.stride_tricks.sliding_window_view(
        padded, PROFILE_BEFORE + PROFILE_AFTER)[:len(heights)]


@dataclass(frozen=True)
class TaskPriors:
    """One task's demos: how often the gripper changes, and where the effector is.

    ``start`` ((3,) m, the mean first effector position) and ``event_heights`` (m, one per
    change the demos have) are None where no demo has an effector path and ee-delta actions
    to anchor a decoded path with, or none of those has every change. ``event_profiles``
    (one per change: the mean height commands around it, ``height_windows``) say when the
    grip changes from how the path moves. ``profile_weight`` weighs them against the decoded
    grip: the grip's mean squared error over that of the decoded heights around each change
    from its profile, both measured on the demos decoded (0: the profiles are not used).
    """

    grip_changes: int
    start: tuple[float, float, float] | None = None
    event_heights: tuple[float, ...] | None = None
    event_profiles: tuple[tuple[float, ...], ...] | None = None
    profile_weight: float = 0.0
    min_dwell: int = 1

    def constrain(self, actions: np.ndarray,
                  event_points: Sequence[Sequence[float] | None] | None = None) -> np.ndarray:
        """Decoded ee-delta actions (T, 7) held to the priors: a copy.

        The grip becomes the open/closed command with ``grip_changes`` changes nearest it
        (``step_gripper``), each where the height commands around it look most like the
        demos' around theirs, as ``profile_weight`` weighs the two. The decoded grip alone
        puts a pick-and-place's grasp 5 or more steps off in 36% of 200 simulated human
        videos, weighed with the profiles in 6% (issue 12, session 20).

        Then the summed path is anchored: it starts at ``start`` and is
        at change k at ``event_points[k]`` ([x, y, z] m, where the video's object is grasped
        and released: ``LOOK_TARGETS``) where given, else at height ``event_heights[k]``.
        Between two anchors, an axis both fix is shifted to join them: x and y where the
        decoded path moves across the table (``SPREAD_FLOOR_M``), the height evenly; after the
        last change it runs free. On 200 simulated human videos, with ``min_dwell``, R^2 of
        held on true motion x/y/z/grip 0.40/0.89/0.87/0.96, against 0.05/0.52/0.88/0.82 spread
        evenly without it (issue 12, session 29).
        """
        actions = np.array(actions, np.float32)
        change_cost = None
        if self.event_profiles and self.profile_weight > 0:
            windows = height_windows(actions[:, HEIGHT])
            change_cost = self.profile_weight * np.stack([
                ((windows - profile) ** 2).sum(1) for profile in self.event_profiles])
        actions[:, -1] = step_gripper(actions[:, -1], self.grip_changes, change_cost,
                                      self.min_dwell)
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
            segment = actions[start:end, :3]
            drift = (high - low) - segment.sum(0)
            across = np.abs(segment[:, :HEIGHT]).sum(1) + SPREAD_FLOOR_M
            share = np.c_[across, across, np.ones(end - start)]   # the height's: evenly
            share /= share.sum(0)
            fixed = np.isfinite(drift)
            segment[:, fixed] += (drift[fixed] * share[:, fixed]).astype(np.float32)
        return actions


def _profiles(demos: Sequence[Episode], changes: int) -> np.ndarray | None:
    """(changes, window): the mean height commands around each change, over ``demos``."""
    windows: list[list[np.ndarray]] = [[] for _ in range(changes)]
    for demo in demos:
        around = height_windows(demo.actions[:, HEIGHT])
        for k, event in enumerate(gripper_events(demo.actions)[:changes]):
            windows[k].append(around[event])
    return np.array([np.mean(w, 0) for w in windows]) if windows and all(windows) else None


def _profile_weight(scored: Sequence[tuple[Episode, np.ndarray]], profiles: np.ndarray
                    ) -> float:
    """The decoded grip's mean squared error over the decoded heights' around each change.

    On demos the decoder was fit on, so both are training errors: their ratio is what
    counts (on 200 human videos it times the grasp within 4 steps in 94% of them, issue 12,
    session 20). The grip's is against the demos' own command, what it should have said.
    """
    grip = np.mean([np.mean((dec[:, -1] - demo.actions[:, -1]) ** 2) for demo, dec in scored])
    height = [np.mean((height_windows(dec[:, HEIGHT])[event] - profiles[k]) ** 2)
              for demo, dec in scored
              for k, event in enumerate(gripper_events(demo.actions)[:len(profiles)])]
    if not height:
        return 0.0
    return float(grip / max(np.mean(height), 1e-12))


def task_priors(episodes: Sequence[Episode],
                decoded: Sequence[np.ndarray | None] | None = None) -> dict[str, TaskPriors]:
    """Per task, its ``TaskPriors`` from its robot demos with actions (median count of changes).

    ``decoded``, one per episode (None where there is none): its actions as a decoder reads
    them off its latents, which set ``profile_weight``; without them the grip alone says
    when it changes.
    """
    if decoded is None:
        decoded = [None] * len(episodes)
    if len(decoded) != len(episodes):
        raise ValueError(f'task_priors: {len(decoded)} decoded action sequences for '
                         f'{len(episodes)} episodes: one per episode (None where none)')
    by_task: dict[str, list[tuple[Episode, np.ndarray | None]]] = {}
    for index, (episode, actions) in enumerate(zip(episodes, decoded)):
        if not _gripping(episode):
            continue
        if actions is not None and np.shape(actions) != episode.actions.shape:
            raise ValueError(f'task_priors: episode {index} decoded as {np.shape(actions)}, '
                             f'its actions are {episode.actions.shape}')
        by_task.setdefault(episode.task, []).append((episode, actions))
    if not by_task:
        raise ValueError("task_priors: no robot episode with actions (a real gripper column) "
                         "says what a task's demos do")
    priors = {}
    for task, pairs in by_task.items():
        events = [gripper_events(demo.actions) for demo, _ in pairs]
        changes = int(np.median([len(demo_events) for demo_events in events]))
        # of the demos that change as often: one that re-grips quickly is not the task's hold
        holds = [hold for demo_events in events if len(demo_events) == changes
                 for hold in np.diff(demo_events)]
        dwell = max(1, int(DWELL_SHARE * min(holds))) if holds else 1
        anchored = [(demo, actions) for demo, actions in pairs if _with_path(demo)
                    and episode_action_space(demo).startswith(EE_DELTA)]
        demos = [demo for demo, _ in anchored]
        heights = _heights_at_events(demos, changes)
        if not anchored or not all(heights):
            priors[task] = TaskPriors(changes, min_dwell=dwell)
            continue
        start = np.mean([demo.effector_positions[0] for demo in demos], 0)
        profiles = _profiles(demos, changes)
        scored = [(demo, np.asarray(actions)) for demo, actions in anchored
                  if actions is not None]
        weight = _profile_weight(scored, profiles) if scored and profiles is not None else 0.0
        priors[task] = TaskPriors(
            changes, tuple(float(v) for v in start), tuple(float(np.mean(h)) for h in heights),
            None if profiles is None else tuple(tuple(float(v) for v in p) for p in profiles),
            weight, dwell)
    return priors
