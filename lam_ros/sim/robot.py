# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Kinematics of the Interbotix WidowX arms and the MJCF the simulator builds from them.

The product-of-exponentials description (``M``, ``Slist``) is the one Interbotix ships in
``interbotix_xs_modules/mr_descriptions.py`` and uses for its own IK; the link offsets and
joint limits come from ``interbotix_xsarm_descriptions/urdf/<model>.urdf.xacro``. The MJCF
uses primitive geoms only, so it renders fast on a CPU.
"""
from __future__ import annotations

from dataclasses import dataclass
import math

import modern_robotics as mr
import numpy as np

ARM_JOINTS_6DOF = ('waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate')
ARM_JOINTS_5DOF = ('waist', 'shoulder', 'elbow', 'wrist_angle', 'wrist_rotate')
FINGER_JOINTS = ('left_finger', 'right_finger')
FINGER_CLOSED = 0.015   # left_finger position (m) with the pads touching
FINGER_OPEN = 0.037     # left_finger position (m) fully open
EE_SITE = 'ee_gripper_link'
WAIST_HEIGHT = 0.072    # base_link -> waist joint
SHOULDER_HEIGHT = 0.03865  # waist -> shoulder joint
GRIPPER_TO_TCP = 0.093575  # wrist_rotate joint -> ee_gripper_link (0.043 + 0.023 + 0.027575)
GRIPPER_TO_FINGERS = 0.066  # wrist_rotate joint -> fingers_link


@dataclass(frozen=True)
class RobotSpec:
    """Geometry, limits and PoE kinematics of one Interbotix X-series arm."""

    name: str
    joints: tuple[str, ...]
    upper_arm: tuple[float, float]   # shoulder -> elbow offset (x, z) at zero pose
    forearm: float                   # elbow -> wrist_angle along x
    forearm_roll_at: float | None    # elbow -> forearm_roll along x (None: 5 DOF)
    wrist: float                     # wrist_angle -> wrist_rotate along x
    lower: tuple[float, ...]         # rad, per arm joint
    upper: tuple[float, ...]
    sleep: tuple[float, ...]         # Interbotix sleep_positions (arm joints)
    M: np.ndarray                    # home pose of ee_gripper_link
    Slist: np.ndarray                # (6, n) space-frame screw axes

    @property
    def velocity(self) -> tuple[float, ...]:
        """Per-arm-joint velocity limit (rad/s), pi for every X-series joint in the URDF."""
        return (math.pi,) * len(self.joints)

    def fk(self, q: np.ndarray) -> np.ndarray:
        """Pose (4x4) of ee_gripper_link in base_link for arm joint angles ``q``."""
        return mr.FKinSpace(self.M, self.Slist, np.asarray(q, dtype=float))


_PI = math.pi - 1e-5  # the URDFs use pi - pi_offset for the continuous-looking joints

ROBOT_SPECS: dict[str, RobotSpec] = {
    'wx250s': RobotSpec(
        name='wx250s', joints=ARM_JOINTS_6DOF, upper_arm=(0.04975, 0.25), forearm=0.25,
        forearm_roll_at=0.175, wrist=0.065,
        lower=(-_PI, math.radians(-108), math.radians(-123), -_PI, math.radians(-100), -_PI),
        upper=(_PI, math.radians(114), math.radians(92), _PI, math.radians(123), _PI),
        sleep=(0.0, -1.80, 1.55, 0.0, 0.8, 0.0),
        M=np.array([[1.0, 0.0, 0.0, 0.458325],
                    [0.0, 1.0, 0.0, 0.0],
                    [0.0, 0.0, 1.0, 0.36065],
                    [0.0, 0.0, 0.0, 1.0]]),
        Slist=np.array([[0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
                        [0.0, 1.0, 0.0, -0.11065, 0.0, 0.0],
                        [0.0, 1.0, 0.0, -0.36065, 0.0, 0.04975],
                        [1.0, 0.0, 0.0, 0.0, 0.36065, 0.0],
                        [0.0, 1.0, 0.0, -0.36065, 0.0, 0.29975],
                        [1.0, 0.0, 0.0, 0.0, 0.36065, 0.0]]).T),
    'wx250': RobotSpec(
        name='wx250', joints=ARM_JOINTS_5DOF, upper_arm=(0.04975, 0.25), forearm=0.25,
        forearm_roll_at=None, wrist=0.065,
        lower=(-_PI, math.radians(-108), math.radians(-123), math.radians(-100), -_PI),
        upper=(_PI, math.radians(114), math.radians(92), math.radians(123), _PI),
        sleep=(0.0, -1.80, 1.55, 0.8, 0.0),
        M=np.array([[1.0, 0.0, 0.0, 0.458325],
                    [0.0, 1.0, 0.0, 0.0],
                    [0.0, 0.0, 1.0, 0.36065],
                    [0.0, 0.0, 0.0, 1.0]]),
        Slist=np.array([[0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
                        [0.0, 1.0, 0.0, -0.11065, 0.0, 0.0],
                        [0.0, 1.0, 0.0, -0.36065, 0.0, 0.04975],
                        [0.0, 1.0, 0.0, -0.36065, 0.0, 0.29975],
                        [1.0, 0.0, 0.0, 0.0, 0.36065, 0.0]]).T),
    'wx200': RobotSpec(
        name='wx200', joints=ARM_JOINTS_5DOF, upper_arm=(0.05, 0.2), forearm=0.2,
        forearm_roll_at=None, wrist=0.065,
        lower=(-_PI, math.radians(-108), math.radians(-108), math.radians(-100), -_PI),
        upper=(_PI, math.radians(113), math.radians(93), math.radians(123), _PI),
        sleep=(0.0, -1.80, 1.55, 0.8, 0.0),
        M=np.array([[1.0, 0.0, 0.0, 0.408575],
                    [0.0, 1.0, 0.0, 0.0],
                    [0.0, 0.0, 1.0, 0.31065],
                    [0.0, 0.0, 0.0, 1.0]]),
        Slist=np.array([[0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
                        [0.0, 1.0, 0.0, -0.11065, 0.0, 0.0],
                        [0.0, 1.0, 0.0, -0.31065, 0.0, 0.05],
                        [0.0, 1.0, 0.0, -0.31065, 0.0, 0.25],
                        [1.0, 0.0, 0.0, 0.0, 0.31065, 0.0]]).T),
}


def robot_spec(robot_model: str) -> RobotSpec:
    """Return the spec of ``robot_model``; unknown names raise a ValueError listing the known."""
    try:
        return ROBOT_SPECS[robot_model]
    except KeyError:
        raise ValueError(
            f'robot_model {robot_model!r} is not supported; choose one of '
            f'{sorted(ROBOT_SPECS)}') from None


def top_down_rotation(yaw: float) -> np.ndarray:
    """Gripper pointing straight down (its x axis along -z), rotated by ``yaw`` about z."""
    c, s = math.cos(yaw), math.sin(yaw)
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    return rz @ ry


def gripper_yaw(rotation: np.ndarray) -> float:
    """Yaw about world z of a (near) top-down gripper rotation."""
    return math.atan2(-rotation[0, 1], rotation[1, 1])


def solve_ik(spec: RobotSpec, target: np.ndarray, q_guess: np.ndarray) -> tuple[np.ndarray, bool]:
    """Joint angles reaching the 4x4 ``target`` with Interbotix's IKinSpace, wrapped and clipped.

    5-DOF arms cannot choose yaw freely: as in Interbotix' ``set_ee_pose_components`` the
    target is first projected onto the reachable set (yaw follows the waist).
    """
    target = np.array(target, dtype=float)
    if len(spec.joints) == 5:
        target[:3, :3] = _project_5dof(target)
    q, ok = mr.IKinSpace(spec.Slist, spec.M, target, np.asarray(q_guess, dtype=float),
                         1e-3, 1e-4)
    q = (np.asarray(q) + math.pi) % (2.0 * math.pi) - math.pi
    q = np.clip(q, spec.lower, spec.upper)
    return q, bool(ok)


def _project_5dof(target: np.ndarray) -> np.ndarray:
    rot = target[:3, :3]
    pitch = math.asin(float(np.clip(-rot[2, 0], -1.0, 1.0)))
    if abs(math.cos(pitch)) < 1e-3:   # pointing straight down/up: keep the yaw about z
        effective_yaw = math.atan2(-rot[0, 1], rot[1, 1])
        waist = math.atan2(target[1, 3], target[0, 3])
        roll = waist - effective_yaw
    else:
        roll = math.atan2(rot[2, 1], rot[2, 2])
        waist = math.atan2(target[1, 3], target[0, 3])
    return _rz(waist) @ _ry(pitch) @ _rx(roll)


def _rx(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Rotation Rz(yaw) Ry(pitch) Rx(roll), the convention of the ee-delta actions."""
    return _rz(yaw) @ _ry(pitch) @ _rx(roll)


def matrix_rpy(rotation: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rpy_matrix` (roll, pitch, yaw) away from pitch = +-pi/2."""
    pitch = math.asin(float(np.clip(-rotation[2, 0], -1.0, 1.0)))
    roll = math.atan2(rotation[2, 1], rotation[2, 2])
    yaw = math.atan2(rotation[1, 0], rotation[0, 0])
    return np.array([roll, pitch, yaw])


# Position-servo gains per arm joint, Dynamixel-like: settle in ~0.15 s without overshoot.
# (kp in N m / rad; the reflected rotor inertia `armature` dominates the link inertia.)
_SERVO_KP = {'waist': 60.0, 'shoulder': 90.0, 'elbow': 60.0, 'forearm_roll': 12.0,
             'wrist_angle': 15.0, 'wrist_rotate': 6.0}
_SERVO_EFFORT = {'waist': 10.0, 'shoulder': 20.0, 'elbow': 15.0, 'forearm_roll': 2.0,
                 'wrist_angle': 5.0, 'wrist_rotate': 1.0}
_ARMATURE = {'waist': 0.04, 'shoulder': 0.06, 'elbow': 0.04, 'forearm_roll': 0.008,
             'wrist_angle': 0.01, 'wrist_rotate': 0.004}


def arm_mjcf(spec: RobotSpec) -> str:
    """Standalone MJCF of the arm (bodies, joints, servos), base_link at the origin."""
    ux, uz = spec.upper_arm
    rng = dict(zip(spec.joints, zip(spec.lower, spec.upper)))

    def joint(name: str, axis: str) -> str:
        lo, hi = rng[name]
        return (f'<joint name="{name}" axis="{axis}" range="{lo:.6f} {hi:.6f}" '
                f'armature="{_ARMATURE[name]}" damping="0.05"/>')

    if spec.forearm_roll_at is None:
        forearm = f"""
          <body name="lower_forearm_link" pos="0 0 0" gravcomp="1">
            <geom class="link" fromto="0 0 0 {spec.forearm} 0 0" size="0.019"/>
            <body name="wrist_link" pos="{spec.forearm} 0 0" gravcomp="1">"""
        forearm_close = '</body></body>'
    else:
        roll_at = spec.forearm_roll_at
        forearm = f"""
          <body name="upper_forearm_link" pos="0 0 0" gravcomp="1">
            <geom class="link" fromto="0 0 0 {roll_at} 0 0" size="0.02"/>
            <body name="lower_forearm_link" pos="{roll_at} 0 0" gravcomp="1">
              {joint('forearm_roll', '1 0 0')}
              <geom class="link" fromto="0 0 0 {spec.forearm - roll_at} 0 0" size="0.018"/>
              <body name="wrist_link" pos="{spec.forearm - roll_at} 0 0" gravcomp="1">"""
        forearm_close = '</body></body></body>'
    actuators = '\n'.join(
        f'<position name="{j}" joint="{j}" kp="{_SERVO_KP[j]}" dampratio="1" '
        f'ctrlrange="{lo:.6f} {hi:.6f}" forcerange="-{_SERVO_EFFORT[j]} {_SERVO_EFFORT[j]}"/>'
        for j, lo, hi in zip(spec.joints, spec.lower, spec.upper))
    return f"""<mujoco model="{spec.name}">
  <compiler angle="radian" autolimits="true"/>
  <default>
    <default class="arm">
      <geom group="1" rgba="0.12 0.12 0.13 1" contype="0" conaffinity="0" density="800"/>
      <default class="link"><geom type="capsule"/></default>
      <default class="pad">
        <geom type="box" contype="1" conaffinity="1" condim="4" friction="1.5 0.02 0.001"
              solref="0.004 1" solimp="0.95 0.99 0.001" rgba="0.25 0.25 0.27 1"/>
      </default>
    </default>
  </default>
  <worldbody>
    <body name="base_link" childclass="arm" gravcomp="1">
      <geom type="box" pos="-0.02 0 {WAIST_HEIGHT / 2}" size="0.06 0.05 {WAIST_HEIGHT / 2}"/>
      <body name="shoulder_link" pos="0 0 {WAIST_HEIGHT}" gravcomp="1">
        {joint('waist', '0 0 1')}
        <geom type="cylinder" pos="0 0 0.02" size="0.035 0.02"/>
        <body name="upper_arm_link" pos="0 0 {SHOULDER_HEIGHT}" gravcomp="1">
          {joint('shoulder', '0 1 0')}
          <geom class="link" fromto="0 0 0 0 0 {uz}" size="0.022"/>
          <geom class="link" fromto="0 0 {uz} {ux} 0 {uz}" size="0.022"/>
          <body name="elbow_link" pos="{ux} 0 {uz}" gravcomp="1">
            {joint('elbow', '0 1 0')}
            {forearm}
                {joint('wrist_angle', '0 1 0')}
                <geom class="link" fromto="0 0 0 {spec.wrist} 0 0" size="0.017"/>
                <body name="gripper_link" pos="{spec.wrist} 0 0" gravcomp="1">
                  {joint('wrist_rotate', '1 0 0')}
                  <geom type="box" pos="0.03 0 0" size="0.03 0.025 0.02"/>
                  <geom type="box" pos="0.058 0 0" size="0.008 0.05 0.012"/>
                  <site name="{EE_SITE}" pos="{GRIPPER_TO_TCP} 0 0" size="0.005" group="4"/>
                  <camera name="wrist" pos="0.02 0 0.06" xyaxes="0 -1 0 0.5 0 1" fovy="75"/>
                  <body name="left_finger_link" pos="{GRIPPER_TO_FINGERS} 0 0" gravcomp="1">
                    <joint name="left_finger" type="slide" axis="0 1 0"
                           range="{FINGER_CLOSED} {FINGER_OPEN}" damping="0.5" armature="0.05"/>
                    <geom class="pad" pos="0.028 -0.01 0" size="0.022 0.005 0.012"/>
                  </body>
                  <body name="right_finger_link" pos="{GRIPPER_TO_FINGERS} 0 0" gravcomp="1">
                    <joint name="right_finger" type="slide" axis="0 1 0"
                           range="-{FINGER_OPEN} -{FINGER_CLOSED}" damping="0.5" armature="0.05"/>
                    <geom class="pad" pos="0.028 0.01 0" size="0.022 0.005 0.012"/>
                  </body>
                </body>
            {forearm_close}
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    {actuators}
    <position name="left_finger" joint="left_finger" kp="400" dampratio="1"
              ctrlrange="{FINGER_CLOSED} {FINGER_OPEN}" forcerange="-5 5"/>
    <position name="right_finger" joint="right_finger" kp="400" dampratio="1"
              ctrlrange="-{FINGER_OPEN} -{FINGER_CLOSED}" forcerange="-5 5"/>
  </actuator>
</mujoco>
"""
