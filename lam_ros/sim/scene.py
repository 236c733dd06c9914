# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The table scene: table, lights, fixed cameras, task objects, the human hand, and the arm.

The policy camera is ``ego``: the eyes of an operator standing behind the robot base,
looking over it at the workspace. Robot and human episodes are both filmed from it, and
the human demonstrator (a hand with a forearm) reaches in from where the arm comes from.

Shadows and reflections are off (``shadowsize=0``): with shadow maps a 128x128 frame costs
~15 ms on a CPU renderer, without them well under 1 ms.
"""
from __future__ import annotations

from dataclasses import dataclass
import math
import os
from pathlib import Path
from typing import Literal

import mujoco
import numpy as np

from lam_ros.control.kinematics import EE_SITE, robot_spec
from lam_ros.sim.robot import arm_mjcf

ARM_GROUP = 1    # geom group of the arm: hidden when a human demonstrates
HAND_GROUP = 2   # geom group of the hand: hidden when the robot acts
AVATAR_GROUP = 3  # geom group of the avatar: drawn in place of either embodiment (WidowXSim)
AVATAR_FINGER = (0.006, 0.006, 0.022)  # half-sizes of an avatar finger, standing on the tcp
AVATAR_PALM_HEIGHT = 0.05              # palm centre above the tcp
AVATAR_RGBA = '0.95 0.55 0.1 1'        # orange: neither table, objects, arm nor skin
HAND_PARK = np.array([0.0, 0.0, 0.6])  # hand joint offsets that lift it out of every view
# The demonstrator's arm: forearm from the back of the hand (HAND_WRIST, hand frame) to the
# elbow, upper arm on to the shoulder, 0.28 m below the ego camera and 0.16 m to its left
# (SHOULDER_FROM_EYES, world axes; the operator's left shoulder, just behind the robot
# base): the arm reaches in from behind the base, as the robot's does.
# Visual only; WidowXSim poses both links at render time (two-link IK, elbow down-out).
HAND_WRIST = (-0.015, 0.0, 0.095)
FOREARM_LENGTH = 0.34
UPPER_ARM_LENGTH = 0.32
SHOULDER_FROM_EYES = (-0.02, 0.16, -0.28)
HAND_ORIGIN = np.array([0.3, 0.0, 0.15])  # hand TCP at zero joint positions
HAND_FINGER_TOUCH = 0.009   # finger joint position with the fingertips touching
HAND_FINGER_OPEN = 0.05
MENAGERIE_ENV = 'MENAGERIE_ROOT'
_ARM_PREFIX = 'arm__'


@dataclass(frozen=True)
class SceneObject:
    """One task object.

    ``block``: free cube of half-size ``size``; ``bowl``: static bowl of inner radius
    ``size``; ``target``: flat non-colliding disc of radius ``size``.
    """

    name: str
    kind: Literal['block', 'bowl', 'target']
    size: float
    rgba: tuple[float, float, float, float]


@dataclass(frozen=True)
class CameraSpec:
    """A world-fixed camera looking from ``pos`` at ``target``."""

    name: str
    pos: tuple[float, float, float]
    target: tuple[float, float, float]
    fovy: float


EGO_CAMERA = 'ego'
FIXED_CAMERAS = (
    # The policy camera: an operator's eyes 0.58 m above the table, standing 0.26 m behind
    # the robot base and a little to its right, looking over it at the workspace (a head-
    # or stand-mounted RealSense). Per episode it jitters and drifts (sim.appearance).
    CameraSpec(EGO_CAMERA, (-0.26, -0.20, 0.58), (0.32, 0.0, 0.0), 55.0),
    # RealSense D435-like third-person view from the robot's left, over the table.
    CameraSpec('third_person', (0.30, 0.62, 0.42), (0.30, 0.0, 0.03), 45.0),
)
CAMERA_NAMES = (EGO_CAMERA, 'third_person', 'wrist')
TABLE_TEXTURES = ('plain', 'checker', 'speckle')  # 'plain': no material, the geom's rgba


def _xyaxes(camera: CameraSpec) -> str:
    forward = np.subtract(camera.target, camera.pos)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return ' '.join(f'{v:.6f}' for v in (*right, *up))


def _object_xml(obj: SceneObject) -> str:
    rgba = ' '.join(str(c) for c in obj.rgba)
    if obj.kind == 'block':
        return f"""
    <body name="{obj.name}" pos="0.3 0 {obj.size}">
      <freejoint name="{obj.name}"/>
      <geom type="box" size="{obj.size} {obj.size} {obj.size}" rgba="{rgba}" mass="0.04"
            condim="4" friction="1.0 0.02 0.001" solref="0.004 1"/>
    </body>"""
    if obj.kind == 'target':
        return f"""
    <body name="{obj.name}" pos="0.3 0 0">
      <geom type="cylinder" size="{obj.size} 0.0015" pos="0 0 0.0015" rgba="{rgba}"
            contype="0" conaffinity="0"/>
    </body>"""
    if obj.kind == 'bowl':
        walls = []
        n_walls = 12
        wall_half = obj.size * math.tan(math.pi / n_walls) + 0.004
        for i in range(n_walls):
            a = 2.0 * math.pi * i / n_walls
            r = obj.size + 0.004
            walls.append(
                f'<geom type="box" size="0.004 {wall_half:.4f} 0.016" '
                f'pos="{r * math.cos(a):.4f} {r * math.sin(a):.4f} 0.016" '
                f'euler="0 0 {a:.4f}" rgba="{rgba}"/>')
        return f"""
    <body name="{obj.name}" pos="0.3 0 0">
      <geom type="cylinder" size="{obj.size + 0.008} 0.002" pos="0 0 0.002" rgba="{rgba}"/>
      {''.join(walls)}
    </body>"""
    raise ValueError(f'SceneObject {obj.name!r}: unknown kind {obj.kind!r} '
                     "(expected 'block', 'bowl' or 'target')")


def _hand_xml() -> str:
    """The human demonstrator: a two-finger hand and its forearm on an x/y/z gantry.

    The forearm and upper arm run back from the hand to the operator's shoulder behind the
    robot base, so in the ego view the arm enters the image where the robot's does; only
    the hand turns with yaw. The arm links are placed here straight back (their lengths
    and masses); ``WidowXSim`` poses them at render time.
    """
    x, y, z = HAND_ORIGIN
    ax, ay, az = HAND_WRIST
    bx, cx = ax - FOREARM_LENGTH, ax - FOREARM_LENGTH - UPPER_ARM_LENGTH
    fingers = []
    for side, sign in (('thumb', -1.0), ('index', 1.0)):
        fingers.append(f"""
          <body name="hand_{side}" pos="0 0 0" gravcomp="1">
            <joint name="hand_{side}" type="slide" axis="0 {sign} 0"
                   range="{HAND_FINGER_TOUCH} {HAND_FINGER_OPEN}" damping="1"/>
            <geom name="hand_{side}" type="capsule" fromto="0 0 0.06 0 0 -0.009" size="0.009"
                  condim="4" friction="1.5 0.02 0.001" solref="0.004 1"
                  rgba="0.87 0.66 0.52 1"/>
          </body>""")
    return f"""
    <body name="hand" pos="{x} {y} {z}" childclass="hand" gravcomp="1">
      <joint name="hand_x" type="slide" axis="1 0 0" range="-0.3 0.3"/>
      <joint name="hand_y" type="slide" axis="0 1 0" range="-0.4 0.4"/>
      <joint name="hand_z" type="slide" axis="0 0 1" range="-0.2 0.8"/>
      <geom name="hand_forearm" type="capsule" fromto="{ax} {ay} {az} {bx} {ay} {az}"
            size="0.024" rgba="0.3 0.45 0.75 1" contype="0" conaffinity="0" mass="0.2"/>
      <geom name="hand_upper_arm" type="capsule" fromto="{bx} {ay} {az} {cx} {ay} {az}"
            size="0.03" rgba="0.3 0.45 0.75 1" contype="0" conaffinity="0" mass="0.001"/>
      <site name="hand_tcp" pos="0 0 0" size="0.005" group="4"/>
      <body name="hand_palm" pos="0 0 0" gravcomp="1">
        <joint name="hand_yaw" type="hinge" axis="0 0 1" range="-3.1416 3.1416"/>
        <geom name="hand_palm" type="box" pos="0 0 0.08" size="0.025 0.06 0.022"
              rgba="0.93 0.72 0.58 1"/>
        <geom name="hand_wrist" type="capsule" fromto="0 0 0.09 {ax} {ay} {az}" size="0.026"
              rgba="0.93 0.72 0.58 1" contype="0" conaffinity="0"/>
        {''.join(fingers)}
      </body>
    </body>"""


def _avatar_xml() -> str:
    """One effector drawn the same for the gripper and the hand: two fingers, a palm, a mark.

    Static, non-colliding geoms that ``WidowXSim`` poses at render time. The dark disc on the
    table under the fingertips says how high they are, which the arm's or the hand's own
    shape shows and a floating pair of fingers alone would not.
    """
    common = f'group="{AVATAR_GROUP}" contype="0" conaffinity="0"'
    size = ' '.join(map(str, AVATAR_FINGER))
    finger = f'type="box" size="{size}" rgba="{AVATAR_RGBA}" {common}'
    return f"""
    <geom name="avatar_finger_a" {finger}/>
    <geom name="avatar_finger_b" {finger}/>
    <geom name="avatar_palm" type="box" size="0.008 0.04 0.007" rgba="{AVATAR_RGBA}"
          {common}/>
    <geom name="avatar_mark" type="cylinder" size="0.014 0.0005" rgba="0.1 0.1 0.1 1"
          {common}/>"""


def _hand_actuators() -> str:
    return """
    <position name="hand_x" joint="hand_x" kp="600" dampratio="1" ctrlrange="-0.3 0.3"/>
    <position name="hand_y" joint="hand_y" kp="600" dampratio="1" ctrlrange="-0.4 0.4"/>
    <position name="hand_z" joint="hand_z" kp="600" dampratio="1" ctrlrange="-0.2 0.8"/>
    <position name="hand_yaw" joint="hand_yaw" kp="4" dampratio="1" ctrlrange="-3.1416 3.1416"/>
    <position name="hand_thumb" joint="hand_thumb" kp="300" dampratio="1"
              ctrlrange="0.009 0.05" forcerange="-6 6"/>
    <position name="hand_index" joint="hand_index" kp="300" dampratio="1"
              ctrlrange="0.009 0.05" forcerange="-6 6"/>"""


def scene_xml(objects: tuple[SceneObject, ...] = ()) -> str:
    """The MJCF of everything but the arm (attached by :func:`build_model`)."""
    cameras = '\n'.join(
        f'    <camera name="{c.name}" pos="{" ".join(map(str, c.pos))}" '
        f'xyaxes="{_xyaxes(c)}" fovy="{c.fovy}"/>' for c in FIXED_CAMERAS)
    return f"""<mujoco model="lam_table">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="0.002" integrator="implicitfast" cone="elliptic"/>
  <visual>
    <quality shadowsize="0" offsamples="0"/>
    <global offwidth="1280" offheight="960"/>
    <headlight ambient="0.45 0.45 0.45" diffuse="0.5 0.5 0.5" specular="0 0 0"/>
  </visual>
  <default>
    <default class="hand">
      <joint damping="0.5" armature="0.02"/>
      <geom group="{HAND_GROUP}" density="300"/>
    </default>
  </default>
  <asset>
    <texture name="table_checker" type="2d" builtin="checker" rgb1="1 1 1"
             rgb2="0.72 0.72 0.72" width="64" height="64"/>
    <texture name="table_speckle" type="2d" builtin="flat" mark="random" random="0.3"
             rgb1="1 1 1" markrgb="0.55 0.55 0.55" width="128" height="128"/>
    <material name="table_checker" texture="table_checker" texrepeat="8 8" texuniform="true"/>
    <material name="table_speckle" texture="table_speckle" texrepeat="4 4" texuniform="true"/>
  </asset>
  <worldbody>
    <light name="top" pos="0.3 0.2 1.2" dir="0 -0.1 -1" diffuse="0.5 0.5 0.5"
           castshadow="false"/>
    <geom name="table" type="box" pos="0.3 0 -0.02" size="0.45 0.55 0.02"
          rgba="0.62 0.5 0.38 1" friction="0.6 0.01 0.001"/>
    <geom name="floor" type="plane" pos="0 0 -0.75" size="3 3 0.1" rgba="0.3 0.3 0.33 1"/>
{cameras}
    <frame name="arm_mount" pos="0 0 0"/>
    {''.join(_object_xml(o) for o in objects)}
    {_hand_xml()}
    {_avatar_xml()}
  </worldbody>
  <actuator>{_hand_actuators()}
  </actuator>
</mujoco>
"""


def menagerie_arm_path(robot_model: str) -> Path:
    """MJCF of the mujoco_menagerie Trossen arm under $MENAGERIE_ROOT, or a clear error."""
    root = os.environ.get(MENAGERIE_ENV)
    if not root:
        raise FileNotFoundError(f'arm_source="menagerie" needs ${MENAGERIE_ENV} set to a '
                                'mujoco_menagerie checkout')
    path = Path(root) / f'trossen_{robot_model}' / f'{robot_model}.xml'
    if not path.is_file():
        raise FileNotFoundError(
            f'${MENAGERIE_ENV}={root} has no {path.relative_to(root)} (looked for {path})')
    return path


def build_model(robot_model: str = 'wx250s', objects: tuple[SceneObject, ...] = (),
                arm_source: Literal['builtin', 'menagerie'] = 'builtin') -> mujoco.MjModel:
    """Compile the table scene with the arm attached at the origin (base_link frame = world)."""
    spec = robot_spec(robot_model)
    scene = mujoco.MjSpec.from_string(scene_xml(objects))
    if arm_source == 'builtin':
        arm = mujoco.MjSpec.from_string(arm_mjcf(spec))
    elif arm_source == 'menagerie':
        arm = mujoco.MjSpec.from_file(str(menagerie_arm_path(robot_model)))
    else:
        raise ValueError(f"arm_source {arm_source!r}: expected 'builtin' or 'menagerie'")
    # Attach under a prefix (an empty one makes MuJoCo warn), then restore Interbotix names.
    scene.attach(arm, prefix=_ARM_PREFIX, frame=scene.worldbody.frames[0])
    for element in (*scene.bodies, *scene.joints, *scene.geoms, *scene.sites, *scene.cameras,
                    *scene.actuators, *scene.equalities, *scene.tendons, *scene.sensors):
        element.name = element.name.removeprefix(_ARM_PREFIX)
    for actuator in scene.actuators:
        actuator.target = actuator.target.removeprefix(_ARM_PREFIX)
    for equality in scene.equalities:
        equality.name1 = equality.name1.removeprefix(_ARM_PREFIX)
        equality.name2 = equality.name2.removeprefix(_ARM_PREFIX)
    if arm_source == 'menagerie':
        _add_tcp_site(scene, spec)
    return scene.compile()


def _add_tcp_site(scene: mujoco.MjSpec, spec) -> None:
    """Give a foreign arm model the ee_gripper_link site where Interbotix' M puts it."""
    if any(s.name == EE_SITE for s in scene.sites):
        return
    model = scene.compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    joint_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, 'wrist_rotate')
    if joint_id < 0:
        raise ValueError('menagerie arm has no joint named wrist_rotate')
    body_id = model.jnt_bodyid[joint_id]
    rot = data.xmat[body_id].reshape(3, 3)
    local = rot.T @ (spec.M[:3, 3] - data.xpos[body_id])
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, (rot.T @ spec.M[:3, :3]).ravel())
    body = scene.body(model.body(body_id).name)
    body.add_site(name=EE_SITE, pos=local, quat=quat, group=4)
