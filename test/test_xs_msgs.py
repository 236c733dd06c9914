# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""interbotix_xs_msgs built from interfaces/ with the pip rosidl toolchain, used over real DDS.

Every rclpy peer runs in its own process (``python test/test_xs_msgs.py ROLE``) because
the built prefix must be on LD_LIBRARY_PATH before the interpreter starts.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import time

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / 'tools')]

import build_interfaces  # noqa: E402

from lam_ros.interfaces.xs_interfaces import DEFAULT_PREFIX, xs_msgs_env  # noqa: E402

ROBOT = 'wx250s'
GROUP_TOPIC = f'/{ROBOT}/commands/joint_group'
TRAJECTORY_TOPIC = f'/{ROBOT}/commands/joint_trajectory'
ROBOT_INFO_SERVICE = f'/{ROBOT}/get_robot_info'
# float32-exact values, so what arrives must equal what was sent.
GROUP_CMD = [0.5, -1.25, 0.75, 0.0, 1.5, -0.125]
ARM_JOINTS = ['waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate']
ARM_IDS = [1, 2, 4, 6, 7, 8]
ARM_LOWER = [-3.125, -1.875, -2.125, -3.125, -1.75, -3.125]
ARM_UPPER = [3.125, 1.9375, 1.625, 3.125, 2.125, 3.125]
# RIHS01 type hashes found in rosidl-generated code of the upstream Interbotix package: equal
# hashes mean field names, types and order match theirs, so the two interoperate on the wire.
UPSTREAM_TYPE_HASHES = {
    'msg/JointGroupCommand':
        'RIHS01_c43821d89bd439eeca1db1f2b48778277e465bde9daad1b0839077bcfbdb3e3b',
    'msg/JointSingleCommand':
        'RIHS01_ed9575e22584aa1f25c9e13a546641d38066caa37454ced810f165d66d842e4d',
    'srv/RobotInfo':
        'RIHS01_6ec9c54cdd4045e906ae53d4ac3c6c086688da1c03b89309c390d68a49592972',
}
PEER_TIMEOUT_S = 30.0


# ---------------------------------------------------------------- peers (child processes)

def peer_publish() -> None:
    """Publish a group command and a trajectory command every 50 ms until killed."""
    from interbotix_xs_msgs.msg import JointGroupCommand, JointTrajectoryCommand
    import rclpy
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    rclpy.init()
    node = rclpy.create_node('xs_test_publisher')
    group_pub = node.create_publisher(JointGroupCommand, GROUP_TOPIC, 10)
    traj_pub = node.create_publisher(JointTrajectoryCommand, TRAJECTORY_TOPIC, 10)
    point = JointTrajectoryPoint(positions=[0.25, -0.5])
    point.time_from_start.sec = 2
    trajectory = JointTrajectory(joint_names=['waist', 'shoulder'], points=[point])
    deadline = time.monotonic() + PEER_TIMEOUT_S
    while time.monotonic() < deadline:
        group_pub.publish(JointGroupCommand(name='arm', cmd=GROUP_CMD))
        traj_pub.publish(JointTrajectoryCommand(cmd_type='group', name='arm', traj=trajectory))
        rclpy.spin_once(node, timeout_sec=0.05)


def peer_subscribe() -> None:
    """Print the first message of each topic and the publisher's type hash as JSON."""
    from interbotix_xs_msgs.msg import JointGroupCommand, JointTrajectoryCommand
    import rclpy

    rclpy.init()
    node = rclpy.create_node('xs_test_subscriber')
    received = {}
    node.create_subscription(JointGroupCommand, GROUP_TOPIC,
                             lambda msg: received.setdefault('group', msg), 10)
    node.create_subscription(JointTrajectoryCommand, TRAJECTORY_TOPIC,
                             lambda msg: received.setdefault('trajectory', msg), 10)
    deadline = time.monotonic() + PEER_TIMEOUT_S
    while len(received) < 2 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    publishers = node.get_publishers_info_by_topic(GROUP_TOPIC)
    group, trajectory = received.get('group'), received.get('trajectory')
    print(json.dumps({
        'group': group and {'name': group.name, 'cmd': list(group.cmd)},
        'trajectory': trajectory and {
            'cmd_type': trajectory.cmd_type, 'name': trajectory.name,
            'joint_names': list(trajectory.traj.joint_names),
            'positions': list(trajectory.traj.points[0].positions),
            'sec': trajectory.traj.points[0].time_from_start.sec},
        'publisher_type_hashes': [str(info.topic_type_hash) for info in publishers],
    }), flush=True)


def peer_serve() -> None:
    """Answer RobotInfo like xs_sdk does for the WX250s 'arm' group, until killed."""
    from interbotix_xs_msgs.srv import RobotInfo
    import rclpy

    def robot_info(request: RobotInfo.Request, response: RobotInfo.Response):
        if (request.cmd_type, request.name) != ('group', 'arm'):
            response.name = [f'unknown {request.cmd_type} {request.name}']
            return response
        response.mode = 'position'
        response.profile_type = 'time'
        response.joint_names = ARM_JOINTS
        response.joint_ids = ARM_IDS
        response.joint_lower_limits = ARM_LOWER
        response.joint_upper_limits = ARM_UPPER
        response.joint_velocity_limits = [3.125] * len(ARM_JOINTS)
        response.joint_sleep_positions = [0.0, -1.875, 1.5, 0.0, 0.75, 0.0]
        response.joint_state_indices = list(range(len(ARM_JOINTS)))
        response.num_joints = len(ARM_JOINTS)
        response.name = [request.name]
        return response

    rclpy.init()
    node = rclpy.create_node('xs_test_robot_info_server')
    node.create_service(RobotInfo, ROBOT_INFO_SERVICE, robot_info)
    deadline = time.monotonic() + PEER_TIMEOUT_S
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)


def peer_call() -> None:
    """Call RobotInfo for the 'arm' group and print the response fields as JSON."""
    from interbotix_xs_msgs.srv import RobotInfo
    import rclpy

    rclpy.init()
    node = rclpy.create_node('xs_test_robot_info_client')
    client = node.create_client(RobotInfo, ROBOT_INFO_SERVICE)
    if not client.wait_for_service(timeout_sec=PEER_TIMEOUT_S):
        sys.exit(f'no {ROBOT_INFO_SERVICE} service within {PEER_TIMEOUT_S} s')
    future = client.call_async(RobotInfo.Request(cmd_type='group', name='arm'))
    rclpy.spin_until_future_complete(node, future, timeout_sec=PEER_TIMEOUT_S)
    if future.result() is None:
        sys.exit(f'{ROBOT_INFO_SERVICE} gave no response within {PEER_TIMEOUT_S} s')
    response = future.result()
    fields = {name: getattr(response, name) for name in response.get_fields_and_field_types()}
    print(json.dumps({name: value if isinstance(value, str | int) else list(value)
                      for name, value in fields.items()}), flush=True)


PEERS = {'publish': peer_publish, 'subscribe': peer_subscribe,
         'serve': peer_serve, 'call': peer_call}


# ---------------------------------------------------------------- tests

@pytest.fixture(scope='session')
def xs_msgs_prefix() -> Path:
    """Build (or reuse, if the sources are unchanged) the interbotix_xs_msgs prefix."""
    build = subprocess.run([sys.executable, str(REPO / 'tools' / 'build_interfaces.py'),
                            '--prefix', str(DEFAULT_PREFIX)],
                           capture_output=True, text=True, timeout=1200)
    if build.returncode != 0:
        pytest.fail(f'tools/build_interfaces.py failed:\n{build.stderr[-4000:]}')
    return DEFAULT_PREFIX


@pytest.fixture
def xs_env(ros_env, xs_msgs_prefix) -> dict[str, str]:
    """Isolated ROS env (own domain, localhost, logs in tmp) that finds interbotix_xs_msgs."""
    env = dict(ros_env)
    env.update(xs_msgs_env(xs_msgs_prefix, env))
    env['PYTHONPATH'] = os.pathsep.join([env['PYTHONPATH'], str(REPO)])
    return env


@contextmanager
def peer(role: str, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """Run one peer role of this file in a child process; stop it on exit."""
    process = subprocess.Popen([sys.executable, __file__, role], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def json_output(process: subprocess.Popen, role: str) -> dict:
    """Wait for a peer that prints one JSON line, failing with its stderr otherwise."""
    stdout, stderr = process.communicate(timeout=PEER_TIMEOUT_S + 30)
    if process.returncode != 0 or not stdout.strip():
        pytest.fail(f'{role} peer exited {process.returncode}:\n{stderr[-3000:]}')
    return json.loads(stdout.strip().splitlines()[-1])


def test_type_hashes_match_upstream_interbotix_package(xs_msgs_prefix):
    share = xs_msgs_prefix / 'share' / 'interbotix_xs_msgs'
    for name, upstream_hash in UPSTREAM_TYPE_HASHES.items():
        description = json.loads((share / f'{name}.json').read_text())
        type_hash = description['type_hashes'][0]
        assert type_hash['type_name'] == f'interbotix_xs_msgs/{name}'
        assert type_hash['hash_string'] == upstream_hash, name


def test_joint_commands_cross_processes_exactly(xs_env):
    with peer('subscribe', xs_env) as subscriber, peer('publish', xs_env):
        result = json_output(subscriber, 'subscribe')
    assert result['group'] == {'name': 'arm', 'cmd': GROUP_CMD}
    assert result['trajectory'] == {'cmd_type': 'group', 'name': 'arm',
                                    'joint_names': ['waist', 'shoulder'],
                                    'positions': [0.25, -0.5], 'sec': 2}
    assert result['publisher_type_hashes'] == [UPSTREAM_TYPE_HASHES['msg/JointGroupCommand']]


def test_robot_info_service_round_trip(xs_env):
    with peer('serve', xs_env), peer('call', xs_env) as client:
        response = json_output(client, 'call')
    assert response['name'] == ['arm']
    assert response['mode'] == 'position'
    assert response['profile_type'] == 'time'
    assert response['joint_names'] == ARM_JOINTS
    assert response['joint_ids'] == ARM_IDS
    assert response['joint_lower_limits'] == ARM_LOWER
    assert response['joint_upper_limits'] == ARM_UPPER
    assert response['joint_sleep_positions'] == [0.0, -1.875, 1.5, 0.0, 0.75, 0.0]
    assert response['joint_state_indices'] == [0, 1, 2, 3, 4, 5]
    assert response['num_joints'] == 6


def test_env_puts_prefix_first_and_keeps_existing_entries(tmp_path):
    env = xs_msgs_env(tmp_path, base_env={'LD_LIBRARY_PATH': '/opt/a:/opt/b', 'PYTHONPATH': ''})
    assert env['LD_LIBRARY_PATH'] == os.pathsep.join([str(tmp_path / 'lib'), '/opt/a', '/opt/b'])
    assert env['PYTHONPATH'].startswith(str(tmp_path / 'lib'))
    assert env['PYTHONPATH'].endswith('site-packages')
    assert env['AMENT_PREFIX_PATH'].split(os.pathsep) == [str(tmp_path), sys.prefix]


def test_source_digest_changes_with_a_msg_file(tmp_path):
    package = tmp_path / 'interbotix_xs_msgs'
    shutil.copytree(build_interfaces.PACKAGE_DIR, package)
    before = build_interfaces.source_digest(package)
    assert build_interfaces.source_digest(package) == before
    msg = package / 'msg' / 'JointSingleCommand.msg'
    msg.write_text(msg.read_text().replace('float32 cmd', 'float64 cmd'))
    assert build_interfaces.source_digest(package) != before


def test_wheel_cmake_exports_are_patched_once(tmp_path):
    export = tmp_path / 'share/std_msgs/cmake/export_std_msgs__rosidl_generator_pyExport.cmake'
    export.parent.mkdir(parents=True)
    keep = str(tmp_path)
    export.write_text(
        'set_target_properties(std_msgs::std_msgs__rosidl_generator_py PROPERTIES\n'
        '  INTERFACE_INCLUDE_DIRECTORIES "/opt/python/cp311-cp311/include/python3.11;'
        f'/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include;{keep}"\n)\n')
    assert build_interfaces.patch_wheel_cmake_exports(tmp_path) == [export]
    text = export.read_text()
    assert text.startswith(build_interfaces.PATCH_MARKER)
    include_dirs = text.split('INTERFACE_INCLUDE_DIRECTORIES "')[1].split('"')[0].split(';')
    assert include_dirs[2] == keep
    assert all(Path(folder).is_dir() for folder in include_dirs)
    assert Path(include_dirs[0], 'Python.h').is_file()
    assert Path(include_dirs[1], 'numpy', 'arrayobject.h').is_file()
    assert build_interfaces.patch_wheel_cmake_exports(tmp_path) == []
    assert export.read_text() == text


if __name__ == '__main__':
    PEERS[sys.argv[1]]()
