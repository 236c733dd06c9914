# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The deploy graph closes the loop on the simulated arm, and the e-stop stops it."""
from __future__ import annotations

import json
import threading
import time

from conftest import spin_until
from interbotix_xs_msgs.msg import JointGroupCommand
import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, String

from lam_ros.app.cli import run_graph
from lam_ros.interfaces import topics

ARM = topics.arm_topics('wx250s')


def _watch_deploy_graph(rclpy_context):
    stop = threading.Event()
    graph = threading.Thread(target=run_graph, args=('deploy', [], stop))
    graph.start()
    node = rclpy.create_node('deploy_watcher', context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    seen = {'success': False, 'joints': [], 'commands': [], 'estop_at': None}
    node.create_subscription(Bool, topics.SIM_SUCCESS,
                             lambda m: seen.update(success=seen['success'] or m.data), 10)
    node.create_subscription(
        JointState, ARM['joint_states'],
        lambda m: seen['joints'].append((time.monotonic(), np.array(m.position[:6]))), 10)
    node.create_subscription(JointGroupCommand, ARM['joint_group'],
                             lambda m: seen['commands'].append(time.monotonic()), 10)

    def on_status(msg):
        if json.loads(msg.data)['message'] == 'e-stop engaged' and seen['estop_at'] is None:
            seen['estop_at'] = time.monotonic()
    node.create_subscription(String, '/arm/status', on_status, 10)
    return stop, graph, node, executor, seen


def _speed(joints, window_s: float = 0.3) -> float:
    """Largest joint speed (rad/s) over the last ``window_s`` of joint states."""
    now, latest = joints[-1]
    then, earlier = next(((t, q) for t, q in reversed(joints) if now - t >= window_s),
                         joints[0])
    if now - then < window_s / 2:
        return 0.0
    return float(np.max(np.abs(latest - earlier)) / (now - then))


def test_deploy_solves_the_task_in_sim(rclpy_context):
    stop, graph, node, executor, seen = _watch_deploy_graph(rclpy_context)
    try:
        assert spin_until(executor, lambda: seen['success'], timeout_s=40.0), \
            'the closed loop did not solve pick_place in 40 s'
    finally:
        stop.set()
        graph.join(timeout=15)
        node.destroy_node()
    assert not graph.is_alive()


def test_an_estop_sent_mid_motion_stops_commands_and_freezes_the_arm(rclpy_context):
    stop, graph, node, executor, seen = _watch_deploy_graph(rclpy_context)
    estop = node.create_publisher(Bool, topics.ESTOP, 10)     # a plain, volatile publisher
    try:
        assert spin_until(executor, lambda: len(seen['joints']) > 50 and
                          _speed(seen['joints']) > 0.2, timeout_s=30.0), \
            'the arm never moved under the deploy graph'
        assert not seen['success']
        estop.publish(Bool(data=True))
        assert spin_until(executor, lambda: seen['estop_at'] is not None, timeout_s=5.0), \
            'the arm node never reported the e-stop'
        spin_until(executor, lambda: False, timeout_s=0.5)     # the servos settle
        frozen = seen['joints'][-1][1]
        spin_until(executor, lambda: False, timeout_s=2.5)
        late = [t for t in seen['commands'] if t > seen['estop_at'] + 0.05]
        assert late == [], f'{len(late)} commands reached the driver after the e-stop'
        assert np.max(np.abs(seen['joints'][-1][1] - frozen)) < 0.01, 'arm moved under e-stop'
        assert not seen['success']
    finally:
        stop.set()
        graph.join(timeout=15)
        node.destroy_node()
    assert not graph.is_alive()


def test_an_estop_sent_before_the_arm_node_starts_still_holds_it(rclpy_context):
    from lam_ros.nodes.arm_node import ArmNode

    operator = rclpy.create_node('operator', context=rclpy_context)
    operator.create_publisher(Bool, topics.ESTOP, topics.LATCHED).publish(Bool(data=True))
    arm = ArmNode(context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    for node in (operator, arm):
        executor.add_node(node)
    try:
        assert spin_until(executor, lambda: arm._pending_estop, timeout_s=10.0), \
            'arm node missed the latched e-stop'
    finally:
        arm.destroy_node()
        operator.destroy_node()
