# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Scripted demonstrations rendered into :class:`lam_models.data.episode.Episode`."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from lam_models.data.episode import AVATAR, Episode
from lam_models.data.look_targets import TableCamera
from lam_ros.control.kinematics import EE_DELTA_HIGH, EE_DELTA_LOW
from lam_ros.sim.core import WidowXSim
from lam_ros.sim.env import WidowXEnv
from lam_ros.sim.experts import EFFECTORS, Embodiment, ScriptedExpert
from lam_ros.sim.tasks import make_task

DEFAULT_CAMERA = 'ego'  # both embodiments, filmed from the operator's head behind the base
EXTRA_STEPS_AFTER_DONE = 2  # a few still frames showing the finished scene


@lru_cache(maxsize=8)
def _shared_sim(robot_model: str, task: str) -> WidowXSim:
    """One sim (and GL context) per scene: episodes reset it fully, so reuse is safe."""
    return WidowXSim(robot_model, make_task(task).objects)


def generate_episode(task: str, seed: int, embodiment: Embodiment = 'robot',
                     camera: str | None = None, image_size: int = 64,
                     control_dt: float = 0.1, robot_model: str = 'wx250s',
                     max_steps: int | None = None, randomize: bool = True,
                     spawn_region: str = 'full', action_noise: float = 0.0,
                     lab: bool = False, avatar: bool = False) -> Episode:
    """Run the scripted demonstrator and return the rendered episode.

    ``frames[t]`` is seen before ``actions[t]`` (robot: the executed ee-delta action, or the
    expert's command with ``action_noise``;
    human: ``actions`` is None and the hand's motion goes to ``hidden_motion``). The last
    frame shows the final state and is paired with a no-op (zero motion, gripper held).
    ``camera`` defaults to ``ego`` for both embodiments. ``randomize`` (on by default, for
    training data) draws colours, table, light and head pose from ``seed``: a robot and a
    human episode of the same seed share them; off gives the scene's default look.
    ``lab`` (with ``randomize``) draws only the person's colours, in the scene's own room and
    still camera.
    ``spawn_region`` bounds where the moved object starts (``WidowXEnv``).
    ``avatar`` films the effector as the avatar, the same for both embodiments (``WidowXEnv``).
    ``action_noise`` (robot, m): DART (Laskey et al. 2017). Each command's xyz is perturbed
    by Gaussian noise of this std times the commanded speed over the arm's max step (none
    once it holds still, so the expert still converges and grasps) before it is executed,
    and the expert's clean command is what the episode records. The scripted expert is exact
    and fast (its reach is over in ~5 steps), so clean demos only show the arm on its way to
    the block; with the noise they also hold off-path states and the expert's corrections.
    (Issue 12, session 7: on 50 pick_place demos it did not make a policy find the block.)
    """
    if action_noise < 0 or (action_noise and embodiment != 'robot'):
        raise ValueError(f'generate_episode: action_noise must be >= 0 and only for the robot '
                         f'(the human demonstrator has its own motion noise), got '
                         f'{action_noise} for {embodiment!r}')
    camera = camera or DEFAULT_CAMERA
    env = WidowXEnv(task, robot_model, embodiment, 'ee_delta', camera, image_size, control_dt,
                    max_steps, sim=_shared_sim(robot_model, task), randomize=randomize,
                    spawn_region=spawn_region, lab=lab, avatar=avatar)
    obs, info = env.reset(seed=seed)
    expert = ScriptedExpert(env.task, env.sim, embodiment, np.random.default_rng(seed + 1))
    perturbation = np.random.default_rng([seed, 2])   # its own stream: the scene is unchanged
    frames, motions, joints = [obs['image']], [], [env.sim.joint_positions()]
    effector = [env.effector_state()[:3]]
    extra = 0
    for _ in range(env.max_steps):
        command = expert.act()
        executed = command.copy()
        if action_noise:   # in proportion to the commanded speed: none once it holds still
            speed = min(float(np.linalg.norm(command[:3])) / EFFECTORS['robot'].max_step, 1.0)
            executed[:3] += perturbation.normal(0.0, action_noise * speed, 3)
            executed = np.clip(executed, EE_DELTA_LOW, EE_DELTA_HIGH)
        obs, _, _, _, info = env.step(executed)
        motions.append(np.clip(command, EE_DELTA_LOW, EE_DELTA_HIGH).astype(np.float32)
                       if action_noise else info['executed_action'])
        frames.append(obs['image'])
        joints.append(env.sim.joint_positions())
        effector.append(env.effector_state()[:3])
        extra += expert.done
        if extra > EXTRA_STEPS_AFTER_DONE:
            break
    noop = np.zeros(7, dtype=np.float32)
    noop[6] = motions[-1][6]
    motions.append(noop)
    motions = np.stack(motions)
    n = len(frames)
    return Episode(
        frames=np.stack(frames),
        timestamps=np.arange(n, dtype=np.float64) * control_dt,
        embodiment=embodiment,
        actions=motions if embodiment == 'robot' else None,
        joint_positions=np.stack(joints).astype(np.float32) if embodiment == 'robot' else None,
        hidden_motion=motions if embodiment == 'human' else None,
        effector_positions=np.stack(effector).astype(np.float32),
        task=task,
        instruction=env.task.instruction,
        success=bool(info['success']),
        metadata={
            'source': 'lam_ros.sim', 'seed': seed, 'robot_model': robot_model,
            'camera': camera, 'control_dt': control_dt, 'image_size': image_size,
            'action_space': 'ee_delta [dx, dy, dz, droll, dpitch, dyaw, gripper(1=open)]',
            'joint_names': list(env.sim.joint_names),
            'camera_K': env.sim.camera_info(camera, image_size, image_size).k.tolist(),
            'randomized': randomize,
            'lab': randomize and lab,
            'spawn_region': spawn_region,
            'expert_done': expert.done,
            'action_noise': action_noise,
            AVATAR: avatar,
        })


# MuJoCo's camera frame looks along -z with y up; the optical frame along +z with y down.
MUJOCO_TO_OPTICAL = np.diag([1.0, -1.0, -1.0])


def table_camera(task: str, camera: str | None = None, image_size: int = 64,
                 robot_model: str = 'wx250s') -> TableCamera:
    """``camera``'s calibration in the scene's own look, for ``lam_models.data.look_targets``.

    The still camera of the 'fixed' and 'lab' looks (``generate_episode(lab=True)``); a
    randomized look moves the head, and its videos have no one calibration.
    """
    camera = camera or DEFAULT_CAMERA
    env = WidowXEnv(task, robot_model, 'robot', 'ee_delta', camera, image_size,
                    sim=_shared_sim(robot_model, task), randomize=False)
    env.reset(seed=0)
    pose = env.sim.camera_pose(camera)
    pose[:3, :3] = pose[:3, :3] @ MUJOCO_TO_OPTICAL
    intrinsics = env.sim.camera_info(camera, image_size, image_size)
    return TableCamera(np.asarray(intrinsics.k, np.float64).reshape(3, 3), pose,
                       (image_size, image_size))
