# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The deploy graph closes the loop on the simulated arm, and the e-stop stops it."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from conftest import spin_until
from interbotix_xs_msgs.msg import JointGroupCommand
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, String
from std_srvs.srv import SetBool

from lam_models.data.episode import CONTROL_RATE_HZ
from lam_ros.app.cli import run_graph
from lam_ros.interfaces import topics

ARM = topics.arm_topics('wx250s')


def _watch_deploy_graph(rclpy_context, arguments=()):
    stop = threading.Event()
    graph = threading.Thread(target=run_graph, args=('deploy', list(arguments), stop))
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
    seen['actions'] = []   # what the controller sends, before the arm node filters it
    node.create_subscription(JointState, topics.ACTION,
                             lambda m: seen['actions'].append(time.monotonic()), 10)

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


def policy_checkpoint(directory, lift_m: float = 0.01, rate_hz: float = CONTROL_RATE_HZ,
                      aspect: float = 1.0, start: dict | None = None) -> str:
    """A small policy whose every action lifts the gripper by ``lift_m`` (ee_delta).

    Untrained weights with a near-zero action std: the output is the action mean whatever
    the frames, so the motion the test expects does not hang on training luck.
    """
    import torch

    from lam_models.policies import make_policy, save_policy
    torch.manual_seed(0)
    policy = make_policy('autoregressive', width=16, keypoints=8, action_space='ee_delta',
                         control_rate_hz=rate_hz, source_frame_aspect=aspect,
                         **({} if start is None else {'start_pose': start, 'start_gripper': 1.0}))
    mean = torch.zeros(7)
    mean[2], mean[6] = lift_m, 1.0
    policy.set_normalization({'action_mean': mean, 'action_std': torch.full((7,), 1e-6),
                              'state_mean': torch.zeros(8), 'state_std': torch.ones(8),
                              'latent_mean': torch.zeros(0), 'latent_std': torch.ones(0)})
    save_policy(directory / 'policy', policy)
    return str(directory / 'policy')


@pytest.mark.parametrize('driver, via', [('expert', 'topic'), ('learned policy', 'topic'),
                                         ('learned policy', 'arm service')])
def test_an_estop_sent_mid_motion_stops_commands_and_freezes_the_arm(rclpy_context, tmp_path,
                                                                     driver, via):
    arguments = [f'checkpoint:={policy_checkpoint(tmp_path)}'] if driver != 'expert' else []
    stop, graph, node, executor, seen = _watch_deploy_graph(rclpy_context, arguments)
    estop = node.create_publisher(Bool, topics.ESTOP, 10)     # a plain, volatile publisher
    service = node.create_client(SetBool, '/arm/estop')       # the arm node's ~/estop
    try:
        assert spin_until(executor, lambda: len(seen['joints']) > 50 and
                          _speed(seen['joints']) > 0.1, timeout_s=30.0), \
            f'the arm never moved under the deploy graph ({driver})'
        assert not seen['success']
        if via == 'topic':
            estop.publish(Bool(data=True))
        else:   # the controller hears of it only through the arm's /lam/estopped
            assert service.wait_for_service(timeout_sec=5.0)
            service.call_async(SetBool.Request(data=True))
        sent_at = time.monotonic()
        assert spin_until(executor, lambda: seen['estop_at'] is not None, timeout_s=5.0), \
            'the arm node never reported the e-stop'
        spin_until(executor, lambda: False, timeout_s=0.5)     # the servos settle
        frozen = seen['joints'][-1][1]
        spin_until(executor, lambda: False, timeout_s=2.5)
        late = [t for t in seen['commands'] if t > seen['estop_at'] + 0.05]
        assert late == [], f'{len(late)} commands reached the driver after the e-stop'
        late = [t for t in seen['actions'] if t > sent_at + 0.3]
        assert late == [], f'the controller sent {len(late)} actions after the e-stop'
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


@pytest.mark.parametrize('damage', ['flipped byte', 'a latent model', 'avatar frames'])
def test_the_controller_refuses_a_bad_checkpoint_with_one_line(tmp_path, ros_env, damage):
    path = policy_checkpoint(tmp_path)
    if damage == 'avatar frames':   # trained on what only the simulator films
        from lam_models.policies import load_policy, save_policy
        policy = load_policy(path)
        policy.config.avatar = True
        save_policy(tmp_path / 'policy', policy)
    elif damage == 'flipped byte':
        weights = tmp_path / 'policy.safetensors'
        data = bytearray(weights.read_bytes())
        data[-3] ^= 0xFF
        weights.write_bytes(bytes(data))
    else:
        from lam_models.latent import make_latent_model
        from lam_models.latent.base import save_checkpoint
        save_checkpoint(tmp_path / 'policy', make_latent_model('como', z_dim=8))
    result = subprocess.run([sys.executable, '-m', 'lam_ros.app.cli', 'deploy',
                             f'checkpoint:={path}'], capture_output=True, text=True, timeout=120,
                            env=ros_env)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if 'error' in line]
    assert len(errors) == 1 and f'checkpoint:={path}' in errors[0], result.stderr
    assert {'flipped byte': 'sha256', 'a latent model': 'lam_ros.policy',
            'avatar frames': 'avatar'}[damage] in errors[0]


def test_device_cuda_without_a_cuda_device_is_refused_naming_the_parameter(tmp_path,
                                                                           rclpy_context):
    from rclpy.parameter import Parameter
    import torch

    from lam_ros.app.runtime import ConfigError
    from lam_ros.nodes.controller_node import ControllerNode

    if torch.cuda.is_available():
        pytest.skip('this machine has a CUDA device')
    with pytest.raises(ConfigError, match='device=cuda, but torch sees no CUDA device'):
        ControllerNode(context=rclpy_context, parameter_overrides=[
            Parameter('checkpoint', value=policy_checkpoint(tmp_path)),
            Parameter('device', value='cuda')])


def test_a_rate_other_than_the_datas_is_refused_naming_the_parameter(tmp_path, rclpy_context):
    """One action is one row of the data: a 10 Hz ee-delta policy at 30 Hz moves 3x as fast."""
    from rclpy.parameter import Parameter

    from lam_ros.app.runtime import ConfigError
    from lam_ros.nodes.controller_node import ControllerNode

    path = policy_checkpoint(tmp_path)
    with pytest.raises(ConfigError, match=r'rate_hz:=30, but checkpoint:=.* learned from data '
                                          r'at 10 Hz.*3x as fast; set rate_hz:=10$'):
        ControllerNode(context=rclpy_context, parameter_overrides=[
            Parameter('checkpoint', value=path), Parameter('rate_hz', value=30.0)])
    node = ControllerNode(context=rclpy_context, parameter_overrides=[   # 29.97 vs 30 fps
        Parameter('checkpoint', value=path), Parameter('rate_hz', value=10.5)])
    node.destroy_node()


def test_a_camera_of_another_shape_than_the_datas_is_refused(tmp_path, rclpy_context):
    """848x480 squashed to the model's square puts every object elsewhere than 640x480 did."""
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    from lam_models.data.images import array_to_image_fields
    from lam_ros.nodes.controller_node import ControllerNode

    node = ControllerNode(context=rclpy_context, parameter_overrides=[
        Parameter('checkpoint', value=policy_checkpoint(tmp_path, aspect=640 / 480))])
    said = []
    node.report = lambda message, *args, **kwargs: said.append(message)
    for width, height in ((848, 480), (128, 128)):
        node.on_image(Image(**array_to_image_fields(np.zeros((height, width, 3), np.uint8),
                                                    'rgb8')))
        assert node.image is None and f'{width}x{height}, but the policy learned' in said[-1]
    node.on_image(Image(**array_to_image_fields(np.zeros((480, 640, 3), np.uint8), 'rgb8')))
    assert node.image is not None and node.image[1].shape == (480, 640, 3)
    node.destroy_node()


def test_a_frame_is_paired_with_the_joint_state_of_its_own_stamp(tmp_path, rclpy_context):
    """As the data paired them: a real camera's frame arrives 50-150 ms after it was taken."""
    from builtin_interfaces.msg import Time
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    from lam_models.data.images import array_to_image_fields
    from lam_ros.nodes.controller_node import ControllerNode

    node = ControllerNode(context=rclpy_context, parameter_overrides=[
        Parameter('checkpoint', value=policy_checkpoint(tmp_path))])
    observed = []
    node.runner.observe = lambda image, state, **kwargs: observed.append((state, kwargs))
    names = [*node.spec.joints, 'left_finger', 'right_finger']
    for stamp_ms, waist in ((1000, 0.1), (1050, 0.2), (1100, 0.3)):   # taken, ..., now
        msg = JointState(name=names, position=[waist] + [0.0] * (len(names) - 3) + [0.02, -0.02])
        msg.header.stamp = Time(sec=stamp_ms // 1000, nanosec=stamp_ms % 1000 * 1_000_000)
        node.on_joints(msg)
    frame = Image(**array_to_image_fields(np.zeros((64, 64, 3), np.uint8), 'rgb8'))
    frame.header.stamp = Time(sec=1, nanosec=60_000_000)   # between the second and third
    node.on_image(frame)
    node.tick()
    (state, kwargs), = observed
    assert state[0] == pytest.approx(0.2)                       # the state at its stamp
    assert kwargs['arm_joints'][0] == pytest.approx(0.3)        # the arm where it is now
    node.destroy_node()


def test_the_controller_runs_at_the_checkpoints_data_rate_unless_told(tmp_path, rclpy_context):
    """A policy from 15 Hz recordings acts at 15 Hz with no rate_hz given: nothing to get wrong."""
    from rclpy.parameter import Parameter

    from lam_ros.nodes.controller_node import ControllerNode

    path = policy_checkpoint(tmp_path, rate_hz=15.0)
    node = ControllerNode(context=rclpy_context, parameter_overrides=[
        Parameter('checkpoint', value=path)])
    assert node.rate_hz == 15.0
    assert [timer.timer_period_ns for timer in node.timers] == [pytest.approx(1e9 / 15.0, abs=1)]
    node.destroy_node()
    node = ControllerNode(context=rclpy_context, parameter_overrides=[])   # the sim expert
    assert node.rate_hz == CONTROL_RATE_HZ
    node.destroy_node()


def test_the_controller_takes_the_start_pose_by_joint_name_and_says_when_there_is_none(
        tmp_path, rclpy_context):
    """Recorded from xs_sdk's joint_states (extra 'gripper', another order): picked by name."""
    from rclpy.parameter import Parameter

    from lam_ros.nodes.controller_node import ControllerNode

    arm = {'waist': 0.1, 'shoulder': -0.2, 'elbow': 0.4, 'forearm_roll': 0.0,
           'wrist_angle': 1.3, 'wrist_rotate': -0.1}
    start = {'gripper': 0.7, **dict(reversed(arm.items())), 'left_finger': 0.03}
    with_start = policy_checkpoint(tmp_path / 'with', start=start)
    node = ControllerNode(context=rclpy_context, parameter_overrides=[
        Parameter('checkpoint', value=with_start)])
    np.testing.assert_allclose(node.runner.start_pose, [*arm.values(), 1.0])
    node.destroy_node()
    node = ControllerNode(context=rclpy_context, parameter_overrides=[
        Parameter('checkpoint', value=with_start), Parameter('go_to_start', value=False)])
    assert node.runner.start_pose is None
    node.destroy_node()
    said = []
    original = ControllerNode.report
    ControllerNode.report = lambda self, message, *args, **kwargs: said.append(message)
    try:
        node = ControllerNode(context=rclpy_context, parameter_overrides=[
            Parameter('checkpoint', value=policy_checkpoint(tmp_path / 'without'))])
    finally:
        ControllerNode.report = original
    assert node.runner.start_pose is None
    assert any('does not say where its demos began' in message for message in said)
    node.destroy_node()


def test_the_controller_homes_in_the_arm_nodes_box_and_refuses_one_past_the_models(
        tmp_path, rclpy_context):
    """Both read workspace_min/max: config/deploy.yaml says to set them for all nodes (/**)."""
    from rclpy.parameter import Parameter

    from lam_ros.app.runtime import ConfigError
    from lam_ros.nodes.controller_node import ControllerNode

    path = policy_checkpoint(tmp_path)
    node = ControllerNode(context=rclpy_context, parameter_overrides=[
        Parameter('checkpoint', value=path),
        Parameter('workspace_min', value=[0.12, -0.2, 0.075]),
        Parameter('workspace_max', value=[0.35, 0.2, 0.2])])
    assert node.runner.workspace.high == (0.35, 0.2, 0.2)
    assert node.runner.restarted().workspace == node.runner.workspace
    node.destroy_node()
    with pytest.raises(ConfigError, match=r"node 'controller': parameters workspace_min, "
                                          r'workspace_max: box .* must lie inside the wx250s'):
        ControllerNode(context=rclpy_context, parameter_overrides=[
            Parameter('checkpoint', value=path), Parameter('workspace_max', value=[0.6, 0.2, 0.2])])
