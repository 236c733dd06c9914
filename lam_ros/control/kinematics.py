# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Kinematics of the Interbotix X-series arms, as Interbotix computes them.

The product-of-exponentials description (``M``, ``Slist``) is the one Interbotix ships in
``interbotix_xs_modules/mr_descriptions.py`` and uses for its own IK (``modern_robotics``);
link offsets and joint limits come from ``interbotix_xsarm_descriptions/urdf/<model>.urdf.xacro``.
Shared by the arm's safety layer, teleop and the simulator (which builds its MJCF from it).
"""
from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Sequence

import modern_robotics as mr
import numpy as np

ARM_JOINTS_6DOF = ('waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate')
ARM_JOINTS_5DOF = ('waist', 'shoulder', 'elbow', 'wrist_angle', 'wrist_rotate')
FINGER_JOINTS = ('left_finger', 'right_finger')
# The ee-delta action space [dx, dy, dz, droll, dpitch, dyaw, gripper]: per-step bounds the
# simulator clips to and the deploy controller clips to alike (m, rad; gripper 0 closed..1 open).
EE_DELTA_LOW = np.array([-0.05, -0.05, -0.05, -0.25, -0.25, -0.25, 0.0])
EE_DELTA_HIGH = -EE_DELTA_LOW + np.array([0, 0, 0, 0, 0, 0, 1.0])
GRIPPER_OPEN_ABOVE = 0.5  # a gripper command above this opens it, at or below closes it
FINGER_CLOSED = 0.015   # left_finger position (m) with the pads touching
FINGER_OPEN = 0.037     # left_finger position (m) fully open
EE_SITE = 'ee_gripper_link'
WAIST_HEIGHT = 0.072    # base_link -> waist joint
SHOULDER_HEIGHT = 0.03865  # waist -> shoulder joint
GRIPPER_TO_TCP = 0.093575  # wrist_rotate joint -> ee_gripper_link (0.043 + 0.023 + 0.027575)
GRIPPER_TO_FINGERS = 0.066  # wrist_rotate joint -> fingers_link


# How far (m) past the workspace box a target may reach. ee-delta targets are clipped onto
# the box's faces and solved to IKinSpace's 0.1 mm tolerance, so a gripper pressing down at
# the table (the box's floor) lands microns outside it: refused, the arm froze at the grasp.
WORKSPACE_TOLERANCE_M = 1e-3


@dataclass(frozen=True)
class Workspace:
    """Axis-aligned box (m, base frame) the end effector (``ee_gripper_link``) must stay in.

    One box per robot model, owned by its :class:`RobotSpec`: the arm's safety filter
    refuses targets that leave it and the simulator clips ee-delta targets to it, so a
    demonstration can never ask for a pose the safety layer would refuse.
    """

    low: tuple[float, float, float]
    high: tuple[float, float, float]

    def __post_init__(self) -> None:
        if len(self.low) != 3 or len(self.high) != 3:
            raise ValueError(f'workspace corners must be (x, y, z): {self.low}, {self.high}')
        if not all(math.isfinite(v) for v in (*self.low, *self.high)):
            raise ValueError(f'workspace corners must be finite: {self.low}, {self.high}')
        if any(lo >= hi for lo, hi in zip(self.low, self.high)):
            raise ValueError(f'workspace low {list(self.low)} must be below high '
                             f'{list(self.high)} on every axis')

    def clip(self, position: np.ndarray) -> np.ndarray:
        """The nearest point of the box."""
        return np.clip(position, self.low, self.high)

    def distance_outside(self, position: np.ndarray) -> float:
        """0 inside the box, else the distance (m) to it."""
        position = np.asarray(position, dtype=float)
        low, high = np.asarray(self.low), np.asarray(self.high)
        return float(np.linalg.norm(np.maximum(low - position, 0)
                                    + np.maximum(position - high, 0)))

    def admits(self, after: np.ndarray, now: np.ndarray) -> bool:
        """Whether the end effector may go from ``now`` to ``after`` (positions, m).

        Outside the box (past ``WORKSPACE_TOLERANCE_M``) only on the way back to it, e.g. out
        of the sleep pose; never further away. The safety filter's rule, which a controller
        planning its own steps (going to a start pose) follows so that none is refused.
        """
        outside_after = self.distance_outside(after)
        return (outside_after <= WORKSPACE_TOLERANCE_M
                or outside_after <= self.distance_outside(now) - 1e-6)

    def contains(self, other: Workspace) -> bool:
        """True when ``other`` lies inside this box."""
        return all(lo <= o_lo and o_hi <= hi for lo, hi, o_lo, o_hi
                   in zip(self.low, self.high, other.low, other.high))

    def __str__(self) -> str:
        return f'{list(self.low)}..{list(self.high)}'


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
    workspace: Workspace             # where the end effector may go (tabletop in front)
    M: np.ndarray                    # home pose of ee_gripper_link
    Slist: np.ndarray                # (6, n) space-frame screw axes

    @property
    def velocity(self) -> tuple[float, ...]:
        """Per-arm-joint velocity limit (rad/s), pi for every X-series joint in the URDF."""
        return (math.pi,) * len(self.joints)

    def fk(self, q: np.ndarray) -> np.ndarray:
        """Pose (4x4) of ee_gripper_link in base_link for arm joint angles ``q``."""
        return mr.FKinSpace(self.M, self.Slist, np.asarray(q, dtype=float))


# The tabletop in front of a WidowX 250 (6 or 5 DOF): same links, same reach.
WX250_WORKSPACE = Workspace((0.12, -0.28, 0.015), (0.46, 0.28, 0.40))
_PI = math.pi - 1e-5  # the URDFs use pi - pi_offset for the continuous-looking joints

ROBOT_SPECS: dict[str, RobotSpec] = {
    'wx250s': RobotSpec(
        name='wx250s', joints=ARM_JOINTS_6DOF, upper_arm=(0.04975, 0.25), forearm=0.25,
        forearm_roll_at=0.175, wrist=0.065,
        lower=(-_PI, math.radians(-108), math.radians(-123), -_PI, math.radians(-100), -_PI),
        upper=(_PI, math.radians(114), math.radians(92), _PI, math.radians(123), _PI),
        sleep=(0.0, -1.80, 1.55, 0.0, 0.8, 0.0),
        workspace=WX250_WORKSPACE,
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
        workspace=WX250_WORKSPACE,
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
        workspace=Workspace((0.10, -0.24, 0.015), (0.38, 0.24, 0.34)),   # shorter reach
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


def effector_path(robot_model: str, joint_names: Sequence[str], joint_positions: np.ndarray
                  ) -> np.ndarray:
    """(T, 3) m: where ``ee_gripper_link`` was in base_link, by FK of recorded joint positions.

    ``joint_positions`` (T, J) has a column per name in ``joint_names`` (any order, fingers
    too). A recorded demo's look-first waypoints follow this path rather than the sum of its
    commands, which the safety layer clips and the arm lags behind. A ValueError names an
    unknown model or the arm joints the names lack.
    """
    spec = robot_spec(robot_model)
    names = list(joint_names)
    missing = [joint for joint in spec.joints if joint not in names]
    if missing:
        raise ValueError(f'{robot_model}: joint states lack arm joint(s) {missing} '
                         f'(have {names})')
    arm = np.asarray(joint_positions, dtype=float)[:, [names.index(j) for j in spec.joints]]
    return np.array([spec.fk(q)[:3, 3] for q in arm], dtype=np.float32).reshape(-1, 3)


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


def ee_delta_ik(spec: RobotSpec, pose: np.ndarray, q_guess: np.ndarray, action,
                workspace: Workspace | None = None) -> tuple[np.ndarray, bool]:
    """Joint targets moving the end effector at ``pose`` by an ee-delta action.

    ``action`` is ``[dx, dy, dz, droll, dpitch, dyaw, ...]`` (world frame, rotation
    Rz Ry Rx applied to the current orientation); the translated target is clipped to
    ``workspace`` (by default the robot's box; the arm node's, which may be smaller, on a
    real arm). The simulator and the deploy controller both go through here.
    """
    action = np.asarray(action, dtype=float)
    target = np.eye(4)
    target[:3, :3] = rpy_matrix(*action[3:6]) @ pose[:3, :3]
    target[:3, 3] = (workspace or spec.workspace).clip(pose[:3, 3] + action[:3])
    return solve_ik(spec, target, q_guess)


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
