# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Gymnasium environment over WidowXSim + a task; deterministic for a given seed."""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from lam_ros.control.kinematics import matrix_rpy, solve_ik, top_down_rotation
from lam_ros.sim.actions import (
    EE_DELTA_HIGH,
    EE_DELTA_LOW,
    ActionMode,
    apply_action,
    apply_hand_motion,
    joint_action_bounds,
)
from lam_ros.sim.appearance import sample_appearance
from lam_ros.sim.core import WidowXSim
from lam_ros.sim.experts import Embodiment
from lam_ros.sim.tasks import SPAWN_REGIONS, make_task

READY_TCP = np.array([0.25, 0.0, 0.14])  # where every episode starts (+- a few cm)


class WidowXEnv(gym.Env):
    """One task on the simulated table, acted on by the arm (``robot``) or the hand (``human``).

    Observation: ``state`` = [x, y, z, roll, pitch, yaw, gripper] of the effector (angles
    relative to pointing straight down, so a top-down gripper reads (0, 0, yaw)), plus
    ``image`` (H, W, 3) uint8 from ``camera`` (default ``ego``, the operator's head behind
    the base) unless ``camera`` is None. Reward is 1 on success, which also terminates the
    episode; ``max_steps`` truncates it.

    ``randomize`` (default on): every reset draws the episode's appearance from its seed
    (:func:`lam_ros.sim.appearance.sample_appearance`: colours, table, light, head pose and
    drift); the same seed gives the same look for either embodiment, and the task layout
    and trajectories do not depend on it. Off: the scene's fixed default look.
    ``lab`` draws only the person's colours (sleeve, skin or gripper) and keeps the scene's
    table, lights and still camera: people demonstrating in front of the robot's camera.
    ``spawn_region`` (``lam_ros.sim.tasks.SPAWN_REGIONS``) bounds where the moved object
    starts: 'full' (the default) or 'narrow' (few-demo co-training regime).
    ``avatar`` draws the effector as the avatar, the same for the arm and the hand
    (``WidowXSim.render``): a bound on what hiding the embodiment from the pixels is worth.
    """

    metadata = {'render_modes': ['rgb_array']}

    def __init__(self, task: str = 'push', robot_model: str = 'wx250s',
                 embodiment: Embodiment = 'robot', action_mode: ActionMode = 'ee_delta',
                 camera: str | None = 'ego', image_size: int = 64,
                 control_dt: float = 0.1, max_steps: int | None = None,
                 sim: WidowXSim | None = None, randomize: bool = True,
                 spawn_region: str = 'full', lab: bool = False, avatar: bool = False) -> None:
        if embodiment not in ('robot', 'human'):
            raise ValueError(f"embodiment {embodiment!r}: expected 'robot' or 'human'")
        if embodiment == 'human' and action_mode != 'ee_delta':
            raise ValueError('the human hand only takes ee_delta motions')
        self.task = make_task(task)
        self.sim = sim if sim is not None else WidowXSim(robot_model, self.task.objects)
        self.embodiment, self.action_mode = embodiment, action_mode
        self.camera, self.image_size, self.control_dt = camera, image_size, control_dt
        self.randomize, self.lab, self.avatar = randomize, lab, avatar
        if spawn_region not in SPAWN_REGIONS:
            raise ValueError(f'spawn_region {spawn_region!r}: expected one of '
                             f'{sorted(SPAWN_REGIONS)}')
        self.spawn_region = spawn_region
        self.max_steps = max_steps or self.task.max_steps
        self.render_mode = 'rgb_array'
        if action_mode == 'joint':
            low, high = joint_action_bounds(self.sim)
        else:
            low, high = EE_DELTA_LOW, EE_DELTA_HIGH
        self.action_space = gym.spaces.Box(low.astype(np.float32), high.astype(np.float32))
        spaces = {'state': gym.spaces.Box(-np.inf, np.inf, (7,), np.float32)}
        if camera is not None:
            spaces['image'] = gym.spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self._steps = 0

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        """Start an episode; the same seed gives the same initial state and trajectory."""
        super().reset(seed=seed)
        rng = self.np_random
        start = READY_TCP + rng.uniform(-0.02, 0.02, 3)
        sim = self.sim
        sim.visible, sim.avatar = self.embodiment, self.avatar
        if self.embodiment == 'robot':
            ready = np.eye(4)
            ready[:3, :3] = top_down_rotation(0.0)
            ready[:3, 3] = start
            guess = np.zeros(len(sim.arm_joint_names))
            guess[[1, 2, -2]] = (-0.2, 0.4, 1.3)   # elbow up, wrist down
            q, _ = solve_ik(sim.spec, ready, guess)
            sim.reset(q)
        else:
            sim.reset()
        if self.randomize:
            # Its own stream: the task's draws below are the same with randomization off.
            sim.set_appearance(sample_appearance(rng.spawn(1)[0] if seed is None else seed,
                                                 lab=self.lab))
        else:
            sim.set_appearance(None)
        self.task.reset(sim, rng, self.spawn_region)
        if self.embodiment == 'human':
            sim.set_hand(start, 0.0, 1.0, teleport=True)
        sim.step(0.05)  # let contacts settle
        self._steps = 0
        return self._observation(), {'success': self.task.success(sim)}

    def step(self, action) -> tuple[dict, float, bool, bool, dict]:
        """Apply one action for ``control_dt`` seconds."""
        if self.embodiment == 'robot':
            executed = apply_action(self.sim, action, self.action_mode)
        else:
            executed = apply_hand_motion(self.sim, action)
        self.sim.step(self.control_dt)
        self._steps += 1
        success = self.task.success(self.sim)
        truncated = self._steps >= self.max_steps
        info = {'success': success, 'executed_action': executed.astype(np.float32)}
        return self._observation(), float(success), success, truncated, info

    def effector_state(self) -> np.ndarray:
        """[x, y, z, roll, pitch, yaw, gripper] of the gripper (robot) or the hand (human)."""
        if self.embodiment == 'robot':
            pose = self.sim.ee_pose()
            tilt = matrix_rpy(pose[:3, :3] @ top_down_rotation(0.0).T)
            return np.concatenate([pose[:3, 3], tilt,
                                   [self.sim.gripper_opening()]]).astype(np.float32)
        tcp, yaw, opening = self.sim.hand_pose()
        return np.array([*tcp, 0.0, 0.0, yaw, opening], dtype=np.float32)

    def _observation(self) -> dict:
        obs = {'state': self.effector_state()}
        if self.camera is not None:
            obs['image'] = self.render()
        return obs

    def render(self) -> np.ndarray:
        """RGB frame of ``camera`` (ego when the env was built without one)."""
        return self.sim.render(self.camera or 'ego', self.image_size, self.image_size)

    def close(self) -> None:
        """Free the renderers."""
        self.sim.close()
