# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Table-top tasks of rising difficulty: push < pick_place < stack.

Each task names its objects, randomizes their poses from a seed, tells where the grasped
object must go, and judges success from the simulator state alone.
"""
from __future__ import annotations

from dataclasses import dataclass
import math
from typing import ClassVar

import numpy as np

from lam_ros.sim.core import WidowXSim
from lam_ros.sim.scene import SceneObject

RED = (0.85, 0.15, 0.12, 1.0)
GREEN = (0.2, 0.7, 0.3, 1.0)
BLUE = (0.15, 0.35, 0.85, 1.0)
WHITE = (0.9, 0.9, 0.85, 1.0)
GRASPERS = ('left_finger', 'right_finger', 'gripper_link', 'hand')  # body-name prefixes
REACH_X = (0.22, 0.36)  # where objects are spawned (m, base frame)
REACH_Y = (-0.14, 0.14)
# Where the moved object may spawn: 'full' is the whole reach; 'narrow' is its right third,
# the few-robot-demos regime of the co-training experiment (humans and evaluation: 'full').
SPAWN_REGIONS = {'full': (REACH_X, REACH_Y), 'narrow': (REACH_X, (-0.14, -0.05))}


@dataclass(frozen=True)
class Task:
    """A task: its objects, instruction, episode budget, and randomization / success rules."""

    name: str
    instruction: str
    objects: tuple[SceneObject, ...]
    max_steps: int
    grasps: ClassVar[bool] = True   # the expert closes the gripper on the moved object

    @property
    def moved_object(self) -> str:
        """The object the expert manipulates (the first one)."""
        return self.objects[0].name

    def reset(self, sim: WidowXSim, rng: np.random.Generator, region: str = 'full') -> None:
        """Place the objects for a fresh episode, the moved one inside ``SPAWN_REGIONS[region]``."""
        raise NotImplementedError

    def goal_position(self, sim: WidowXSim) -> np.ndarray:
        """Where the moved object's centre should end up (xy) and the support height (z)."""
        raise NotImplementedError

    def success(self, sim: WidowXSim) -> bool:
        """Whether the task is solved in the current state."""
        raise NotImplementedError


def _uniform_xy(rng: np.random.Generator, region: str = 'full') -> np.ndarray:
    try:
        x_range, y_range = SPAWN_REGIONS[region]
    except KeyError:
        raise ValueError(f'unknown spawn region {region!r}; choose one of '
                         f'{sorted(SPAWN_REGIONS)}') from None
    return np.array([rng.uniform(*x_range), rng.uniform(*y_range)])


def _released(sim: WidowXSim, name: str) -> bool:
    return not sim.in_contact(name, GRASPERS)


class PushTask(Task):
    """Push a block onto a target disc (no grasp needed)."""

    grasps = False
    tolerance = 0.025

    def reset(self, sim: WidowXSim, rng: np.random.Generator, region: str = 'full') -> None:
        """Randomize the objects from ``rng``."""
        block, target = self.objects
        xy = _uniform_xy(rng, region)
        while True:
            angle = rng.uniform(-math.pi, math.pi)
            goal = xy + rng.uniform(0.08, 0.13) * np.array([math.cos(angle), math.sin(angle)])
            if 0.2 <= goal[0] <= 0.4 and abs(goal[1]) <= 0.16:
                break
        sim.place_object(block.name, [*xy, block.size], rng.uniform(-math.pi / 4, math.pi / 4))
        sim.place_object(target.name, [*goal, 0.0])

    def goal_position(self, sim: WidowXSim) -> np.ndarray:
        """See :meth:`Task.goal_position`."""
        return sim.object_position(self.objects[1].name)

    def success(self, sim: WidowXSim) -> bool:
        """See :meth:`Task.success`."""
        block = sim.object_position(self.objects[0].name)
        goal = self.goal_position(sim)
        return bool(np.linalg.norm(block[:2] - goal[:2]) < self.tolerance and block[2] < 0.05)


class PickPlaceTask(Task):
    """Pick a block up and drop it into a bowl."""

    def reset(self, sim: WidowXSim, rng: np.random.Generator, region: str = 'full') -> None:
        """Randomize the objects from ``rng``."""
        block, bowl = self.objects
        xy = _uniform_xy(rng, region)
        while True:
            goal = np.array([rng.uniform(0.22, 0.36), rng.uniform(-0.15, 0.15)])
            if np.linalg.norm(goal - xy) > 0.13:
                break
        sim.place_object(block.name, [*xy, block.size], rng.uniform(-math.pi / 4, math.pi / 4))
        sim.place_object(bowl.name, [*goal, 0.0])

    def goal_position(self, sim: WidowXSim) -> np.ndarray:
        """See :meth:`Task.goal_position`."""
        return sim.object_position(self.objects[1].name) + [0.0, 0.0, 0.004]  # bowl floor

    def success(self, sim: WidowXSim) -> bool:
        """See :meth:`Task.success`."""
        block, bowl = self.objects
        pos = sim.object_position(block.name)
        centre = sim.object_position(bowl.name)
        inside = np.linalg.norm(pos[:2] - centre[:2]) < bowl.size - block.size * 0.5
        return bool(inside and pos[2] < 0.004 + 2.5 * block.size and _released(sim, block.name))


class StackTask(Task):
    """Stack the small red block on the larger blue one."""

    def reset(self, sim: WidowXSim, rng: np.random.Generator, region: str = 'full') -> None:
        """Randomize the objects from ``rng``."""
        top, base = self.objects
        xy = _uniform_xy(rng, region)
        while True:
            goal = _uniform_xy(rng)
            if np.linalg.norm(goal - xy) > 0.1:
                break
        sim.place_object(top.name, [*xy, top.size], rng.uniform(-math.pi / 4, math.pi / 4))
        sim.place_object(base.name, [*goal, base.size], rng.uniform(-math.pi / 4, math.pi / 4))

    def goal_position(self, sim: WidowXSim) -> np.ndarray:
        """See :meth:`Task.goal_position`."""
        base = self.objects[1]
        return sim.object_position(base.name) + [0.0, 0.0, base.size]  # top face

    def success(self, sim: WidowXSim) -> bool:
        """See :meth:`Task.success`."""
        top, base = self.objects
        top_pos = sim.object_position(top.name)
        base_pos = sim.object_position(base.name)
        aligned = np.linalg.norm(top_pos[:2] - base_pos[:2]) < 0.5 * base.size + 0.004
        resting = abs(top_pos[2] - (base_pos[2] + base.size + top.size)) < 0.006
        return bool(aligned and resting and _released(sim, top.name))


TASKS: dict[str, Task] = {
    'push': PushTask(
        'push', 'push the red block onto the green target',
        (SceneObject('block', 'block', 0.02, RED), SceneObject('target', 'target', 0.035, GREEN)),
        max_steps=80),
    'pick_place': PickPlaceTask(
        'pick_place', 'put the red block in the bowl',
        (SceneObject('block', 'block', 0.0125, RED), SceneObject('bowl', 'bowl', 0.055, WHITE)),
        max_steps=70),
    'stack': StackTask(
        'stack', 'stack the red block on the blue block',
        (SceneObject('block', 'block', 0.0125, RED),
         SceneObject('base_block', 'block', 0.016, BLUE)),
        max_steps=70),
}


def make_task(name: str) -> Task:
    """The task called ``name``; unknown names raise a ValueError listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f'unknown task {name!r}; choose one of {sorted(TASKS)}') from None
