# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Scripted demonstrators with privileged state: the robot expert and the human hand.

Both run the same closed-loop plan (waypoints re-aimed every control step from the true
object poses) and emit the same 7-D motion ``[dx, dy, dz, droll, dpitch, dyaw, grip]``.
The robot executes it as an ee-delta action; the hand executes it on its gantry, and the
motion is kept only as ``hidden_motion`` ground truth.
"""
from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Literal

import numpy as np

from lam_ros.control.kinematics import gripper_yaw, matrix_rpy, top_down_rotation
from lam_ros.sim.core import WidowXSim
from lam_ros.sim.tasks import PushTask, Task

Embodiment = Literal['robot', 'human']
HOVER_Z = 0.09
CARRY_Z = 0.11


def wrap_angle(angle: float) -> float:
    """Angle in [-pi, pi)."""
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def grasp_yaw(object_yaw: float) -> float:
    """Gripper yaw facing a cube's sides, folded into [-pi/4, pi/4)."""
    return (object_yaw + math.pi / 4) % (math.pi / 2) - math.pi / 4


@dataclass(frozen=True)
class EffectorLimits:
    """How one embodiment moves: per-step reach, lowest grasp point, motion noise."""

    max_step: float        # m per control step
    grasp_floor: float     # lowest TCP height that keeps the fingers off the table
    noise: float           # std of the xyz motion noise (m)


EFFECTORS = {
    'robot': EffectorLimits(max_step=0.03, grasp_floor=0.025, noise=0.0),
    'human': EffectorLimits(max_step=0.04, grasp_floor=0.021, noise=0.0015),
}


class ScriptedExpert:
    """Closed-loop scripted demonstrator for one task and one embodiment.

    Call :meth:`act` once per control step; it returns the 7-D motion to execute and sets
    ``done`` once the object has been delivered and the effector has retreated.
    """

    def __init__(self, task: Task, sim: WidowXSim, embodiment: Embodiment,
                 rng: np.random.Generator) -> None:
        if embodiment not in EFFECTORS:
            raise ValueError(f"embodiment {embodiment!r}: expected 'robot' or 'human'")
        self.task, self.sim, self.embodiment, self.rng = task, sim, embodiment, rng
        self.limits = EFFECTORS[embodiment]
        self.phase = 'approach' if isinstance(task, PushTask) else 'above'
        self.done = False
        self._count = 0
        self._grasp_offset = 0.0
        self._push_direction = np.zeros(2)

    # -------------------------------------------------------------- effector state
    def _effector(self) -> tuple[np.ndarray, float, float]:
        if self.embodiment == 'robot':
            pose = self.sim.ee_pose()
            return pose[:3, 3], gripper_yaw(pose[:3, :3]), self.sim.gripper_opening()
        return self.sim.hand_pose()

    def _motion(self, tcp: np.ndarray, waypoint: np.ndarray, yaw: float, grip: float,
                max_step: float | None = None) -> np.ndarray:
        step = waypoint - tcp
        limit = self.limits.max_step if max_step is None else max_step
        norm = np.linalg.norm(step)
        if norm > limit:
            step *= limit / norm
        if self.limits.noise:
            step = step + self.rng.normal(0.0, self.limits.noise, 3)
        if self.embodiment == 'robot':
            rotation = self.sim.ee_pose()[:3, :3]
            correction = matrix_rpy(top_down_rotation(yaw) @ rotation.T)
        else:
            correction = np.array([0.0, 0.0, wrap_angle(yaw - self.sim.hand_pose()[1])])
        correction = np.clip(correction, -0.2, 0.2)
        return np.concatenate([step, correction, [grip]]).astype(np.float32)

    # -------------------------------------------------------------- plans
    def act(self) -> np.ndarray:
        """The motion for this control step."""
        if isinstance(self.task, PushTask):
            return self._push()
        return self._pick_and_place()

    def _advance(self, phase: str) -> None:
        self.phase, self._count = phase, 0

    def _pick_and_place(self) -> np.ndarray:
        tcp, yaw, _ = self._effector()
        name = self.task.moved_object
        obj = self.sim.object_position(name)
        target_yaw = grasp_yaw(self.sim.object_yaw(name))
        goal = self.task.goal_position(self.sim)
        half = self.task.objects[0].size
        grasp_z = max(obj[2], self.limits.grasp_floor)
        self._count += 1
        if self.phase == 'above':
            waypoint = np.array([obj[0], obj[1], HOVER_Z])
            if (np.linalg.norm(waypoint - tcp) < 0.006
                    and abs(wrap_angle(target_yaw - yaw)) < 0.06):
                self._advance('descend')
            return self._motion(tcp, waypoint, target_yaw, 1.0)
        if self.phase == 'descend':
            waypoint = np.array([obj[0], obj[1], grasp_z])
            if np.linalg.norm(waypoint - tcp) < 0.005:
                self._advance('close')
            return self._motion(tcp, waypoint, target_yaw, 1.0, max_step=0.025)
        if self.phase == 'close':
            if self._count >= 4:
                self._grasp_offset = tcp[2] - obj[2]
                self._advance('lift')
            return self._motion(tcp, tcp, yaw, 0.0)
        if self.phase == 'lift':
            waypoint = np.array([tcp[0], tcp[1], CARRY_Z])
            if tcp[2] > CARRY_Z - 0.015:
                dropped = obj[2] < tcp[2] - self._grasp_offset - 0.02
                self._advance('above' if dropped else 'carry')
            return self._motion(tcp, waypoint, yaw, 0.0)
        # From here on the object's own xy is steered onto the goal.
        to_goal = np.array([goal[0] - obj[0], goal[1] - obj[1], 0.0])
        release_z = goal[2] + half + self._grasp_offset + 0.005
        if self.phase == 'carry':
            waypoint = tcp + to_goal
            waypoint[2] = CARRY_Z
            if np.linalg.norm(to_goal) < 0.005:
                self._advance('lower')
            if obj[2] < tcp[2] - self._grasp_offset - 0.02:
                self._advance('above')
            return self._motion(tcp, waypoint, yaw, 0.0)
        if self.phase == 'lower':
            waypoint = tcp + to_goal
            waypoint[2] = release_z
            if abs(tcp[2] - release_z) < 0.004 and np.linalg.norm(to_goal) < 0.005:
                self._advance('release')
            return self._motion(tcp, waypoint, yaw, 0.0, max_step=0.02)
        if self.phase == 'release':
            if self._count >= 3:
                self._advance('retreat')
            return self._motion(tcp, tcp, yaw, 1.0)
        return self._retreat(tcp, yaw)

    def _retreat(self, tcp: np.ndarray, yaw: float, grip: float = 1.0) -> np.ndarray:
        waypoint = np.array([tcp[0], tcp[1], CARRY_Z + 0.02])
        if tcp[2] > CARRY_Z + 0.005:
            self.done = True
        return self._motion(tcp, waypoint, yaw, grip)

    def _push(self) -> np.ndarray:
        tcp, yaw, _ = self._effector()
        half = self.task.objects[0].size
        block = self.sim.object_position(self.task.moved_object)
        goal = self.task.goal_position(self.sim)
        offset = goal[:2] - block[:2]
        distance = float(np.linalg.norm(offset))
        direction = offset / max(distance, 1e-6)
        behind = block[:2] - direction * (half + 0.035)
        push_z = self.limits.grasp_floor
        if self.phase == 'approach':
            waypoint = np.array([*behind, 0.07])
            if np.linalg.norm(waypoint - tcp) < 0.008:
                self._advance('descend')
            return self._motion(tcp, waypoint, 0.0, 0.0)
        if self.phase == 'descend':
            waypoint = np.array([*behind, push_z])
            if abs(tcp[2] - push_z) < 0.006:
                self._advance('push')
            return self._motion(tcp, waypoint, 0.0, 0.0)
        if self.phase == 'push':
            if distance < 0.01:
                self._advance('back_off')
                # Away from the block, not against the goal direction: that is arbitrary
                # once the block sits on the goal, and a sideways back-off drags the block.
                to_block = block[:2] - tcp[:2]
                self._push_direction = to_block / max(float(np.linalg.norm(to_block)), 1e-6)
                return self._motion(tcp, tcp, 0.0, 0.0)
            relative = tcp[:2] - block[:2]
            along = float(relative @ direction)
            lateral = relative - along * direction
            if distance > 0.02 and (np.linalg.norm(lateral) > 0.015 or along > -half):
                self._advance('lift')
                return self._motion(tcp, np.array([*tcp[:2], 0.07]), 0.0, 0.0)
            step = direction * min(0.02, distance) - 0.8 * lateral
            waypoint = np.array([*(tcp[:2] + step), push_z])
            return self._motion(tcp, waypoint, 0.0, 0.0)
        if self.phase == 'lift':
            if tcp[2] > 0.06:
                self._advance('approach')
            return self._motion(tcp, np.array([*tcp[:2], 0.07]), 0.0, 0.0)
        if self.phase == 'back_off':  # step away from the block before lifting off it
            if self._count >= 2:
                self._advance('retreat')
            waypoint = np.array([*(tcp[:2] - 0.015 * self._push_direction), push_z])
            self._count += 1
            return self._motion(tcp, waypoint, 0.0, 0.0)
        return self._retreat(tcp, yaw, grip=0.0)
