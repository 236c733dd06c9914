# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The MJCF of the WidowX arms, built from ``lam_ros.control.kinematics`` (the one description).

Primitive geoms only, so it renders fast on a CPU.
"""
from __future__ import annotations

from lam_ros.control.kinematics import (
    EE_SITE,
    FINGER_CLOSED,
    FINGER_OPEN,
    GRIPPER_TO_FINGERS,
    GRIPPER_TO_TCP,
    SHOULDER_HEIGHT,
    WAIST_HEIGHT,
    RobotSpec,
)

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
