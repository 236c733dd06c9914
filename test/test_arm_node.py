# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The arm node over Fast DDS: bad states hold it, any e-stop stops it, bad parameters fail.

A stand-in xs_sdk driver answers get_robot_info and records the commands it is sent.
"""
from __future__ import annotations

import json

from conftest import spin_until
from interbotix_xs_msgs.msg import JointGroupCommand, JointSingleCommand
from interbotix_xs_msgs.srv import RegisterValues, RobotInfo
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import (
    QoSDurabilityPolicy,
    QoSProfile,
    QoSReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, String

from lam_ros.app.runtime import ConfigError
from lam_ros.control.kinematics import robot_spec
from lam_ros.interfaces import topics
from lam_ros.nodes import arm_node
from lam_ros.nodes.arm_node import ArmNode

SPEC = robot_spec('wx250s')
READY = np.array([0.0, -0.5, 0.5, 0.0, 0.5, 0.0])
ARM = topics.arm_topics('wx250s')


class Rig:
    """An ArmNode plus a driver stand-in and an operator, spun by one executor."""

    def __init__(self, context, joint_names=SPEC.joints, modes=('position', 'time', 'pwm'),
                 **parameters):
        self.driver = rclpy.create_node('driver', context=context)
        self.commands: list[np.ndarray] = []
        self.gripper_commands: list[float] = []
        self.arm_mode, self.profile_type, self.gripper_mode = modes   # xs_sdk's modes.yaml
        self.driver.create_subscription(JointSingleCommand, ARM['joint_single'],
                                        lambda m: self.gripper_commands.append(m.cmd), 10)
        self.status: list[str] = []
        self.driver.create_subscription(JointGroupCommand, ARM['joint_group'],
                                        lambda m: self.commands.append(np.array(m.cmd)), 10)
        self.driver.create_service(RobotInfo, ARM['get_robot_info'], self._robot_info)
        self.registers: list = []
        self.driver.create_service(RegisterValues, ARM['set_motor_registers'],
                                   lambda request, response: self.registers.append(request)
                                   or response)
        self.joint_names = joint_names
        self.state_pub = self.driver.create_publisher(JointState, ARM['joint_states'], 10)
        self.action_pub = self.driver.create_publisher(JointState, topics.ACTION, 10)
        self.driver.create_subscription(String, '/arm/status',
                                        lambda m: self.status.append(json.loads(m.data)['message']),
                                        50)
        self.arm = ArmNode(context=context, parameter_overrides=[
            Parameter(k, value=v) for k, v in parameters.items()])
        self.executor = SingleThreadedExecutor(context=context)
        for node in (self.driver, self.arm):
            self.executor.add_node(node)

    def _robot_info(self, request, response):
        if request.cmd_type == 'single':
            response.mode, response.profile_type = self.gripper_mode, 'time'
            response.joint_names = ['left_finger']
            response.joint_lower_limits, response.joint_upper_limits = [0.015], [0.037]
            return response
        response.mode, response.profile_type = self.arm_mode, self.profile_type
        response.joint_names = list(self.joint_names)
        response.joint_lower_limits = list(SPEC.lower[:len(self.joint_names)])
        response.joint_upper_limits = list(SPEC.upper[:len(self.joint_names)])
        response.joint_velocity_limits = [3.14] * len(self.joint_names)
        return response

    def spin(self, seconds: float) -> None:
        spin_until(self.executor, lambda: False, timeout_s=seconds)

    def ready(self) -> None:
        assert spin_until(self.executor, lambda: self.arm.safety is not None, 10.0), \
            'arm node never got robot info'
        self.send_state(READY)
        self.spin(0.2)

    def send_state(self, positions, names=SPEC.joints) -> None:
        self.state_pub.publish(JointState(name=list(names), position=list(positions)))

    def send_action(self, target, gripper: float = 1.0) -> None:
        self.action_pub.publish(JointState(name=[*SPEC.joints, topics.GRIPPER],
                                           position=[*target, gripper]))

    def commands_after_actions(self, targets, state=None) -> list[np.ndarray]:
        """Commands the driver received for ``targets`` (state re-sent so it never goes stale)."""
        self.spin(0.2)
        self.commands.clear()
        for target in targets:
            if state is not None:
                self.send_state(*state)
            self.send_action(target)
            self.spin(0.05)
        self.spin(0.3)
        return list(self.commands)

    def close(self) -> None:
        self.executor.shutdown()
        self.arm.destroy_node()
        self.driver.destroy_node()


@pytest.fixture
def rig(rclpy_context):
    rig = Rig(rclpy_context)
    rig.ready()
    yield rig
    rig.close()


def test_good_states_and_actions_are_forwarded(rig):
    sent = rig.commands_after_actions([READY + 0.01] * 3, state=(READY,))
    assert len(sent) >= 2
    np.testing.assert_allclose(sent[-1], READY + 0.01, atol=1e-6)


@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_a_non_finite_joint_state_holds_the_arm_until_a_good_one(rig, bad):
    broken = READY.copy()
    broken[2] = bad
    far = READY + np.array([1.2, 0, 0, 0, 0, 0])
    outside = READY + np.array([0, 0.5, 0.5, 0, 0.3, 0])      # ee below the table
    assert rig.commands_after_actions([far, outside, READY + 0.01] * 3, state=(broken,)) == []
    assert any('bad joint state' in s and 'elbow' in s for s in rig.status)
    sent = rig.commands_after_actions([far] * 2, state=(READY,))
    assert sent and all(np.all(np.isfinite(c)) for c in sent)
    assert np.max(np.abs(sent[0] - READY)) <= rig.arm.safety_config.max_step_rad + 1e-6
    assert 'joint state good' in rig.status


@pytest.mark.parametrize('names, positions', [
    (SPEC.joints[:5], READY[:5]),                # a joint missing
    (SPEC.joints, READY[:4]),                    # short position array
])
def test_a_state_missing_a_joint_holds_the_arm(rig, names, positions):
    assert rig.commands_after_actions([READY + 0.01] * 3, state=(positions, names)) == []
    assert any(s.startswith('holding: bad joint state') for s in rig.status)


@pytest.mark.parametrize('qos', [QoSProfile(depth=10), qos_profile_sensor_data, topics.LATCHED],
                         ids=['default', 'best_effort', 'latched'])
def test_an_estop_from_any_publisher_stops_every_command(rig, rclpy_context, qos):
    operator = rclpy.create_node('operator', context=rclpy_context)
    rig.executor.add_node(operator)
    estop = operator.create_publisher(Bool, topics.ESTOP, qos)
    assert rig.commands_after_actions([READY + 0.01] * 2, state=(READY,)), 'not moving before'
    assert spin_until(rig.executor, lambda: estop.get_subscription_count() >= 1, 5.0)
    rig.spin(0.3)       # discovery of the arm's subscriptions settles
    for _ in range(3):
        estop.publish(Bool(data=True))
        if spin_until(rig.executor, lambda: rig.arm.safety.estopped, 1.0):
            break
    assert rig.arm.safety.estopped, 'the e-stop never arrived'
    assert rig.commands_after_actions([READY + 0.02] * 20, state=(READY,)) == []
    operator.destroy_node()


def test_the_arm_group_gets_a_time_profile_of_about_two_command_periods(rclpy_context):
    """The stock modes.yaml gives each goal 2 s: streamed at 10 Hz, the arm would lag.

    Written as registers, as set_trajectory_time does: set_operating_modes turns torque off.
    """
    rig = Rig(rclpy_context, moving_time_s=0.25)
    try:
        rig.ready()
        assert spin_until(rig.executor, lambda: len(rig.registers) >= 2, 5.0), 'no profile sent'
        rig.spin(1.2)   # two more timer ticks: written once
        assert sorted((r.cmd_type, r.name, r.reg, r.value) for r in rig.registers) == [
            ('group', 'arm', 'Profile_Acceleration', 100),
            ('group', 'arm', 'Profile_Velocity', 250)]
        assert spin_until(rig.executor, lambda: any('servo profile' in s for s in rig.status), 5)
    finally:
        rig.close()


def test_the_profile_is_written_again_for_a_driver_that_restarted(rclpy_context, monkeypatch):
    """A restarted xs_sdk puts modes.yaml's 2 s moves back, reboot_motors a zero profile."""
    monkeypatch.setattr(arm_node, 'PROFILE_REFRESH_S', 0.8)
    rig = Rig(rclpy_context, moving_time_s=0.25)
    try:
        rig.ready()
        assert spin_until(rig.executor, lambda: len(rig.registers) >= 6, 8.0), rig.registers
        assert {(r.reg, r.value) for r in rig.registers} == {
            ('Profile_Acceleration', 100), ('Profile_Velocity', 250)}
        assert sum('servo profile' in s for s in rig.status) == 1   # said once
    finally:
        rig.close()


def test_a_reliable_estop_publisher_gets_a_reliable_subscription(rig, rclpy_context):
    """``ros2 topic pub``'s default QoS.

    Matched best-effort alone, a lost sample over a lossy link would never be resent.
    """
    operator = rclpy.create_node('operator', context=rclpy_context)
    rig.executor.add_node(operator)
    operator.create_publisher(Bool, topics.ESTOP, QoSProfile(depth=10))

    def reliable_arm_subscription() -> bool:
        return any(info.node_name == rig.arm.get_name()
                   and info.qos_profile.reliability == QoSReliabilityPolicy.RELIABLE
                   and info.qos_profile.durability == QoSDurabilityPolicy.VOLATILE
                   for info in operator.get_subscriptions_info_by_topic(topics.ESTOP))
    assert spin_until(rig.executor, reliable_arm_subscription, 5.0)
    operator.destroy_node()


@pytest.mark.parametrize('name, value, message', [
    ('max_step_rad', -0.15, r'max_step_rad=-0.15 must be in \[0.001, 0.5\]'),
    ('joint_margin_rad', -0.5, r'joint_margin_rad=-0.5 must be in \[0.0, 0.5\]'),
    ('stale_after_s', -1.0, r'stale_after_s=-1.0 must be in'),
    ('robot_model', 'wx999', r"robot_model='wx999' must be one of \['wx200'"),
    ('max_step_rad', 'fast', r"max_step_rad='fast' must be a number"),
    ('workspace_min', [0.0, -0.5, 0.0], r'must lie inside the wx250s workspace'),
    ('workspace_max', [0.3, 0.2], r'workspace_max=.* must have 3 items'),
    ('workspace_min', [0.5, 0.0, 0.1], r'workspace_min, workspace_max: workspace low .* below'),
    ('accel_time_s', 0.15, r'accel_time_s=0.15 must be in \[0.0, 0.1\]'),
    ('moving_time_s', 0.0, r'moving_time_s=0.0 must be in \[0.02, 5.0\]'),
    ('gripper_pwm', 500.0, r'gripper_pwm=500.0 must be in \(0.0, 350.0\]'),
    ('robot_name', 'my robot', r"robot_name='my robot' must be a name matching"),
])
def test_bad_parameters_are_refused_at_start_up_naming_node_and_parameter(
        rclpy_context, name, value, message):
    with pytest.raises(ConfigError, match=f"node 'arm': parameter {message}|{message}"):
        ArmNode(context=rclpy_context, parameter_overrides=[Parameter(name, value=value)])


def test_an_integer_where_a_float_is_expected_is_accepted(rclpy_context):
    arm = ArmNode(context=rclpy_context, parameter_overrides=[
        Parameter('stale_after_s', value=1), Parameter('gripper_pwm', value=200)])
    assert arm.gripper_pwm == 200.0 and isinstance(arm.gripper_pwm, float)
    assert arm.safety_config.stale_after_s == 1.0
    arm.destroy_node()


def test_robot_info_of_another_model_is_refused_without_crashing(rclpy_context):
    rig = Rig(rclpy_context, joint_names=SPEC.joints[:5])
    try:
        rig.spin(1.5)
        assert rig.arm.safety is None
        assert any('not those of robot_model wx250s' in s for s in rig.status)
        assert rig.commands_after_actions([READY] * 2, state=(READY,)) == []
    finally:
        rig.close()


@pytest.mark.parametrize('modes, said', [
    (('velocity', 'time', 'pwm'), "group 'arm' is in 'velocity' mode"),
    (('pwm', 'time', 'pwm'), "group 'arm' is in 'pwm' mode"),
    (('position', 'velocity', 'pwm'), "group 'arm' has a 'velocity' profile")])
def test_an_arm_group_not_driven_by_angle_and_time_is_refused(rclpy_context, modes, said):
    """In velocity mode xs_sdk reads each target as a speed: the safety limits mean nothing."""
    rig = Rig(rclpy_context, modes=modes)
    try:
        rig.spin(1.5)
        assert rig.arm.safety is None
        assert any(said in s and 'modes.yaml' in s for s in rig.status), rig.status
        assert rig.commands_after_actions([READY] * 2, state=(READY,)) == []
        assert rig.registers == []   # nor a profile written for a mode it does not mean
    finally:
        rig.close()


def test_a_gripper_not_in_pwm_mode_gets_no_pwm(rclpy_context):
    """A PWM of 250 would read as a 250 rad goal or a current; the arm still moves."""
    rig = Rig(rclpy_context, modes=('position', 'time', 'current_based_position'))
    try:
        rig.ready()
        rig.spin(1.0)   # the gripper's mode is asked after the arm's
        for gripper in (0.0, 1.0, 0.0):
            rig.send_state(READY)
            rig.send_action(READY, gripper)
            rig.spin(0.1)
        assert rig.gripper_commands == [] and len(rig.commands) == 3
        assert any("'gripper' is in 'current_based_position' mode, not 'pwm'" in s
                   for s in rig.status), rig.status
    finally:
        rig.close()


def test_a_target_refused_for_the_workspace_still_closes_the_gripper(rclpy_context):
    """A grasp a few mm under the table's plane: the arm holds, the fingers still close."""
    rig = Rig(rclpy_context, max_step_rad=0.5)
    try:
        rig.ready()
        rig.spin(1.0)
        rig.send_state(READY)
        rig.send_action(READY, 1.0)
        rig.spin(0.2)
        assert rig.gripper_commands == [250.0]
        rig.commands.clear()
        down = READY + np.array([0, 0.5, 0.5, 0, 0.3, 0])   # ee into the table
        rig.send_state(READY)
        rig.send_action(down, 0.0)
        rig.spin(0.3)
        assert rig.commands == [] and rig.gripper_commands == [250.0, -250.0]
        assert any('outside workspace' in s for s in rig.status)
        rig.send_state(READY)
        rig.arm.set_estop(True)   # e-stopped, nothing moves, the fingers neither
        rig.send_action(READY, 1.0)
        rig.spin(0.3)
        assert rig.gripper_commands == [250.0, -250.0]
    finally:
        rig.close()


def test_an_arm_started_estopped_moves_only_once_released(rclpy_context):
    """Deploy on the arm: a policy's first command waits for the operator."""
    rig = Rig(rclpy_context, start_estopped=True)
    try:
        rig.ready()
        assert rig.commands_after_actions([READY + 0.01] * 3, state=(READY,)) == []
        assert 'e-stop engaged' in rig.status
        rig.arm.set_estop(False)
        assert len(rig.commands_after_actions([READY + 0.01] * 3, state=(READY,))) >= 2
    finally:
        rig.close()


def test_a_second_driver_of_the_arm_latches_the_estop_until_it_is_gone(rig, rclpy_context):
    """A simulator beside the arm's xs_sdk: their joint states would mix, both take commands."""
    simulator = rclpy.create_node('simulator', context=rclpy_context)
    try:
        simulator.create_publisher(JointState, ARM['joint_states'], 10)
        assert spin_until(rig.executor, lambda: any(
            '2 nodes publish /wx250s/joint_states' in s for s in rig.status), 5.0)
        rig.arm.set_estop(False)   # released while both still run: latched again
        assert spin_until(rig.executor, lambda: rig.arm._pending_estop, 5.0)
        assert rig.commands_after_actions([READY + 0.01] * 3, state=(READY,)) == []
    finally:
        simulator.destroy_node()
    assert spin_until(rig.executor, lambda: rig.arm.count_publishers(ARM['joint_states']) == 1,
                      5.0)
    rig.arm.set_estop(False)
    rig.spin(1.0)   # stays released with one driver
    assert len(rig.commands_after_actions([READY + 0.01] * 3, state=(READY,))) >= 2


def test_the_gripper_pwm_stops_at_the_fingers_limit_not_on_an_object(rclpy_context):
    """Opened all the way or closed on nothing it would stall until the servo overloads."""
    rig = Rig(rclpy_context)
    try:
        rig.ready()
        rig.spin(1.0)   # the gripper's mode and limits are asked after the arm's
        with_finger = [*SPEC.joints, 'left_finger']
        for gripper, finger, expected in ((1.0, 0.030, [250.0]),   # opening
                                          (1.0, 0.037, [250.0, 0.0]),   # open: no effort
                                          (0.0, 0.030, [250.0, 0.0, -250.0]),
                                          (0.0, 0.024, [250.0, 0.0, -250.0]),   # on the block
                                          (0.0, 0.024, [250.0, 0.0, -250.0])):
            rig.send_state([*READY, finger], names=with_finger)
            rig.send_action(READY, gripper)
            rig.spin(0.15)
            assert rig.gripper_commands == expected, (gripper, finger)
        rig.send_action(READY, 1.0)
        rig.send_state([*READY, 0.015], names=with_finger)   # opening from shut: no stop
        rig.spin(0.15)
        assert rig.gripper_commands[-1] == 250.0
    finally:
        rig.close()


def test_the_arm_status_reaches_diagnostics_for_dashboards(rig):
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

    seen = []
    rig.driver.create_subscription(DiagnosticArray, topics.DIAGNOSTICS,
                                   lambda m: seen.extend(m.status), 10)
    rig.spin(0.3)
    rig.arm.set_estop(True)
    assert spin_until(rig.executor, lambda: any(s.message == 'e-stop engaged' for s in seen), 5.0)
    status = next(s for s in seen if s.message == 'e-stop engaged')
    assert status.level == DiagnosticStatus.WARN and status.name == '/arm'
