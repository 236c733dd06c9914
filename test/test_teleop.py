# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Teleop cores: end-effector jogging through IK and the leader-arm start guard."""
import numpy as np
import pytest

from lam_ros.control.kinematics import Workspace, robot_spec
from lam_ros.control.teleop import EndEffectorJog, LeaderFollower, gripper_opening

READY = np.array([0.0, -0.5, 0.5, 0.0, 0.5, 0.0])


def test_jog_moves_the_gripper_by_the_requested_delta():
    jog = EndEffectorJog('wx250s', READY)
    start = robot_spec('wx250s').fk(READY)[:3, 3]
    for _ in range(5):
        joints, reached = jog.jog(np.array([0.01, 0.0, -0.005, 0.0, 0.0, 0.0]))
        assert reached
    np.testing.assert_allclose(robot_spec('wx250s').fk(joints)[:3, 3] - start,
                               [0.05, 0.0, -0.025], atol=1e-3)


def test_unreachable_jog_keeps_the_previous_target():
    jog = EndEffectorJog('wx250s', READY)
    before, _ = jog.jog(np.zeros(6))
    # the box's far corner (the jog is clipped to it), gripper level: out of reach
    after, reached = jog.jog(np.array([0.4, 0.3, 0.3, 0.0, 0.0, 0.0]))
    assert not reached
    np.testing.assert_allclose(after, before)
    with pytest.raises(ValueError, match='6 finite numbers'):
        jog.jog(np.array([np.nan, 0, 0, 0, 0, 0]))


def test_leader_refuses_to_start_far_from_the_follower_then_ramps():
    leader = LeaderFollower(max_start_error_rad=0.3, ramp_s=2.0)
    follower = np.zeros(6)
    target, status = leader.target(np.full(6, 0.5), follower, now_s=0.0)
    assert target is None and 'differ by 0.50 rad' in status and not leader.engaged

    close = np.full(6, 0.2)
    target, status = leader.target(close, follower, now_s=1.0)
    np.testing.assert_allclose(target, follower)         # ramp starts at the follower
    target, _ = leader.target(close, follower, now_s=2.0)
    np.testing.assert_allclose(target, close / 2)        # halfway through the ramp
    target, status = leader.target(close, follower, now_s=3.5)
    np.testing.assert_allclose(target, close)
    assert status == 'following'
    leader.disengage()
    assert leader.target(np.full(6, 1.0), close, now_s=4.0)[0] is None


def test_the_keyboard_teleop_without_a_terminal_exits_at_start_up_saying_why(rclpy_context,
                                                                             monkeypatch):
    """Under ros2 launch (no terminal on stdin) it logged one line and ran on, deaf."""
    import io

    from rclpy.parameter import Parameter

    from lam_ros.app.runtime import ConfigError
    from lam_ros.nodes.teleop_node import TeleopNode

    monkeypatch.setattr('sys.stdin', io.StringIO(''))
    with pytest.raises(ConfigError, match='device=keyboard needs a terminal.*teleop:=none'):
        TeleopNode(context=rclpy_context,
                   parameter_overrides=[Parameter('device', value='keyboard')])


def test_a_leader_gripper_angle_becomes_the_0_to_1_opening_the_arm_node_reads():
    """xs_sdk reports the leader's gripper motor in rad (ALOHA 1: -0.68 shut .. 0.31 open).

    Copied as is, a half-open handle (-0.19 rad) read as closed and the dataset held rad.
    """
    assert gripper_opening(-0.6842, -0.6842, 0.3083) == 0.0
    assert gripper_opening(0.3083, -0.6842, 0.3083) == 1.0
    assert gripper_opening(-0.1880, -0.6842, 0.3083) == pytest.approx(0.5, abs=1e-3)
    assert gripper_opening(0.9, -0.6842, 0.3083) == 1.0          # clipped
    assert gripper_opening(-1.0, -1.65, -0.8) == pytest.approx(0.765, abs=1e-3)   # ALOHA 2
    with pytest.raises(ValueError, match='both'):
        gripper_opening(0.0, 0.2, 0.2)


def test_jogging_past_the_workspace_floor_stops_at_it_and_up_moves_at_once():
    """The arm node refuses targets below the box.

    Integrated past it, the jog's target sank with every press and the way back up had a
    dead band as deep.
    """
    spec = robot_spec('wx250s')
    jog = EndEffectorJog('wx250s', READY)
    for _ in range(60):
        joints, _ = jog.jog(np.array([0.0, 0.0, -0.01, 0.0, 0.0, 0.0]))
    floor = spec.fk(joints)[2, 3]
    assert floor == pytest.approx(spec.workspace.low[2], abs=1e-3)
    joints, reached = jog.jog(np.array([0.0, 0.0, 0.01, 0.0, 0.0, 0.0]))
    assert reached and spec.fk(joints)[2, 3] == pytest.approx(floor + 0.01, abs=1e-3)
    table = Workspace(spec.workspace.low[:2] + (0.08,), spec.workspace.high)   # the arm node's
    jog = EndEffectorJog('wx250s', READY, table)
    for _ in range(60):
        joints, _ = jog.jog(np.array([0.0, 0.0, -0.01, 0.0, 0.0, 0.0]))
    assert spec.fk(joints)[2, 3] == pytest.approx(0.08, abs=1e-3)
    outside = EndEffectorJog('wx200', np.zeros(5))   # its home pose: outside its box
    start = outside.pose[:3, 3].copy()
    assert robot_spec('wx200').workspace.distance_outside(start) > 0
    joints, _ = outside.jog(np.zeros(6))   # no key pressed: the arm is not pulled in
    np.testing.assert_allclose(robot_spec('wx200').fk(joints)[:3, 3], start, atol=1e-3)


def test_the_teleop_sends_nothing_while_estopped_and_restarts_from_the_arm(rclpy_context):
    from rclpy.parameter import Parameter
    from std_msgs.msg import Bool

    from lam_ros.nodes.teleop_node import TeleopNode

    node = TeleopNode(context=rclpy_context, parameter_overrides=[Parameter('device', value='joy')])
    sent = []
    node.publish_action = sent.append
    try:
        node.follower = READY.copy()
        node.pending_jog = np.array([1.0, 0, 0, 0, 0, 0])
        node.tick()
        assert len(sent) == 1
        node.on_estopped(Bool(data=True))
        for _ in range(5):   # the operator keeps pushing the stick
            node.pending_jog = np.array([1.0, 0, 0, 0, 0, 0])
            node.tick()
        assert len(sent) == 1
        moved = READY + np.array([0.2, 0, 0, 0, 0, 0])   # the arm was moved by hand meanwhile
        node.follower = moved
        node.on_estopped(Bool(data=False))
        node.tick()
        np.testing.assert_allclose(sent[-1], moved, atol=1e-3)   # from where the arm is
    finally:
        node.destroy_node()


def test_on_hardware_the_operator_says_whether_an_episode_succeeded_in_sim_the_sim_does(
        rclpy_context):
    """Before, Enter saved every hardware demo as failed (the sim's predicate, never sent)."""
    from rclpy.parameter import Parameter
    from std_msgs.msg import Bool

    from lam_ros.interfaces import topics
    from lam_ros.nodes.teleop_node import TeleopNode

    node = TeleopNode(context=rclpy_context, parameter_overrides=[Parameter('device', value='joy')])
    saved = []
    node.call = lambda client, request, next_state: saved.append(
        (client.srv_name, getattr(request, 'data', None)))
    try:
        node.on_key('n')   # idle: n starts nothing
        assert saved == []
        for key, success in (('\n', True), ('n', False)):
            node.episode_state = 'recording'
            node.on_key(key)
            assert saved.pop() == (topics.RECORDER_STOP, success)
        node.on_success(Bool(data=False))   # a simulator judges: Enter does not overrule it
        node.episode_state = 'recording'
        node.on_key('\n')
        assert saved.pop() == (topics.RECORDER_STOP, False)
    finally:
        node.destroy_node()


def test_joy_buttons_must_be_four_different_ones(rclpy_context):
    from rclpy.parameter import Parameter

    from lam_ros.app.runtime import ConfigError
    from lam_ros.nodes.teleop_node import TeleopNode

    with pytest.raises(ConfigError, match=r'joy_buttons \[0, 1, 1, 3\]: four different'):
        TeleopNode(context=rclpy_context, parameter_overrides=[
            Parameter('device', value='joy'), Parameter('joy_buttons', value=[0, 1, 1, 3])])


def test_a_held_joy_button_acts_once_per_press(rclpy_context):
    """joy_node repeats a held button at 20 Hz while a stick is off centre: one toggle each."""
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Joy

    from lam_ros.interfaces import topics
    from lam_ros.nodes.teleop_node import TeleopNode

    node = TeleopNode(context=rclpy_context, parameter_overrides=[Parameter('device', value='joy')])
    calls = []
    node.call = lambda client, request, next_state: calls.append(
        (client.srv_name, getattr(request, 'data', None)))
    try:
        stick = [0.0, 0.5, 0.0, 0.0, 0.0, 0.0]
        for _ in range(4):   # the gripper button held over four repeats
            node.on_joy(Joy(axes=stick, buttons=[1, 0, 0, 0]))
        assert node.gripper == 0.0   # closed once, not closed and reopened
        node.on_joy(Joy(axes=stick, buttons=[0, 0, 0, 0]))
        node.on_joy(Joy(axes=stick, buttons=[1, 0, 0, 0]))
        assert node.gripper == 1.0
        node.episode_state = 'recording'
        node.on_joy(Joy(axes=stick, buttons=[0, 0, 1, 0]))   # stop it as a failure
        node.on_joy(Joy(axes=stick, buttons=[0, 0, 1, 0]))
        node.on_joy(Joy(axes=stick, buttons=[0, 0, 0, 1]))
        assert calls == [(topics.RECORDER_STOP, False), (topics.RECORDER_DISCARD, None)]
    finally:
        node.destroy_node()
