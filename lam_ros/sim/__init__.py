# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Simulated WidowX 250s world (MuJoCo, CPU-rendered, no ROS).

Public API
----------
``WidowXSim(robot_model='wx250s', objects=(), arm_source='builtin')``
    Thread-free core for a ROS node: ``joint_names``, ``joint_limits`` (lower/upper/velocity
    per joint), ``set_joint_targets(q)`` (arm joints + left_finger metres), ``step(duration)``,
    ``joint_positions()/joint_velocities()/joint_efforts()``, ``ee_pose()``, ``sim_time``,
    ``render(camera, width, height, depth=False)``, ``camera_info(camera, width, height)``
    (K, D, plumb_bob), ``visible`` ('robot' | 'human' | 'both'). Cameras: ``CAMERA_NAMES``:
    ``ego`` (the operator's head behind the robot base: the policy camera for robot and
    human episodes alike), ``third_person``, ``wrist``. ``set_appearance(Appearance|None)``.
    ``robot_model``: wx250s (6 DOF), wx250 and wx200 (5 DOF). ``arm_source='menagerie'``
    loads ``$MENAGERIE_ROOT/trossen_<model>/<model>.xml`` instead of the built-in arm.
``WidowXEnv(task, robot_model, embodiment, action_mode, camera='ego', ..., randomize=True)``
    Gymnasium env; each reset draws colours, table, light and head pose from the seed
    (``lam_ros.sim.appearance``; the same for both embodiments); actions ``ee_delta``
    [dx, dy, dz, droll, dpitch, dyaw, gripper] through IKinSpace or ``joint`` (absolute
    joints + gripper); gripper 0 = closed, 1 = open.
``generate_episode(task, seed, embodiment='robot'|'human', camera='ego', image_size=64, ...,
randomize=True)``
    A scripted demonstration as ``lam_models.data.episode.Episode``.
``ScriptedExpert(task, sim, embodiment, rng)``, ``make_task(name)``, ``TASKS``
    Tasks: push, pick_place, stack (rising difficulty).
``robot_spec(model)``, ``solve_ik(spec, T, q_guess)``
    Interbotix M/Slist kinematics; ``depth_to_uint16_mm(depth)`` for RealSense-style depth.

Rendering defaults to ``MUJOCO_GL=egl`` (falls back to OSMesa when EGL fails); shadows and
reflections are off.
"""
import os

os.environ.setdefault('MUJOCO_GL', 'egl')

from lam_ros.control.kinematics import ROBOT_SPECS, robot_spec, solve_ik  # noqa: E402
from lam_ros.sim.actions import (  # noqa: E402
    EE_DELTA_HIGH,
    EE_DELTA_LOW,
    apply_action,
)
from lam_ros.sim.cameras import depth_to_uint16_mm  # noqa: E402
from lam_ros.sim.core import JointLimit, WidowXSim  # noqa: E402
from lam_ros.sim.env import WidowXEnv  # noqa: E402
from lam_ros.sim.episodes import generate_episode  # noqa: E402
from lam_ros.sim.experts import ScriptedExpert  # noqa: E402
from lam_ros.sim.scene import CAMERA_NAMES  # noqa: E402
from lam_ros.sim.tasks import TASKS, make_task  # noqa: E402

__all__ = [
    'apply_action', 'CAMERA_NAMES', 'depth_to_uint16_mm', 'EE_DELTA_HIGH',
    'EE_DELTA_LOW', 'generate_episode', 'JointLimit', 'make_task', 'robot_spec',
    'ROBOT_SPECS', 'ScriptedExpert', 'solve_ik', 'TASKS', 'WidowXEnv', 'WidowXSim',
]
