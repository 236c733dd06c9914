# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The deploy graph closes the loop on the simulated arm, and the e-stop stops it."""
from __future__ import annotations

import threading

from conftest import spin_until
import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool

from lam_ros import topics
from lam_ros.cli import run_graph


def test_deploy_solves_the_task_in_sim_and_estop_freezes_the_arm(rclpy_context):
    stop = threading.Event()
    graph = threading.Thread(target=run_graph, args=('deploy', [], stop))
    graph.start()
    node = rclpy.create_node('deploy_watcher', context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    state = {'success': False, 'joints': None}
    node.create_subscription(Bool, topics.SIM_SUCCESS,
                             lambda m: state.update(success=state['success'] or m.data), 10)
    node.create_subscription(JointState, topics.arm_topics('wx250s')['joint_states'],
                             lambda m: state.update(joints=np.array(m.position[:6])), 10)
    estop = node.create_publisher(Bool, topics.ESTOP, topics.LATCHED)
    try:
        assert spin_until(executor, lambda: state['success'], timeout_s=40.0), \
            'the closed loop did not solve pick_place in 40 s'
        estop.publish(Bool(data=True))
        spin_until(executor, lambda: False, timeout_s=1.0)     # let the e-stop land
        frozen = state['joints'].copy()
        spin_until(executor, lambda: False, timeout_s=2.0)
        assert np.max(np.abs(state['joints'] - frozen)) < 0.02, 'arm moved under e-stop'
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
