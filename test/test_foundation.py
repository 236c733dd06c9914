# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Issue #2 acceptance: installed layout, nodes across processes, CLI errors, launch files."""
from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys
import textwrap
import types

import pytest

from lam_ros.app.executables import NODE_EXECUTABLES
from lam_ros.app.graph import GRAPH_ARGUMENTS, describe

REPO = Path(__file__).resolve().parent.parent

PUBLISHER = textwrap.dedent("""
    import sys, numpy as np, rclpy
    from sensor_msgs.msg import Image
    from lam_models.data.images import array_to_image_fields
    rclpy.init()
    node = rclpy.create_node('image_publisher')
    pub = node.create_publisher(Image, '/test/image', 10)
    pixels = np.arange(480 * 640 * 3, dtype=np.uint32).reshape(480, 640, 3).astype(np.uint8)
    msg = Image(**array_to_image_fields(pixels, 'rgb8'))
    msg.header.frame_id = 'camera_color_optical_frame'
    for _ in range(400):  # until the subscriber has its copies (it exits the test)
        pub.publish(msg)
        rclpy.spin_once(node, timeout_sec=0.05)
""")

SUBSCRIBER = textwrap.dedent("""
    import sys, numpy as np, rclpy
    from sensor_msgs.msg import Image
    from lam_models.data.images import image_to_array
    rclpy.init()
    node = rclpy.create_node('image_subscriber')
    got = []
    node.create_subscription(Image, '/test/image', got.append, 10)
    while len(got) < 3:
        rclpy.spin_once(node, timeout_sec=0.1)
    expected = np.arange(480 * 640 * 3, dtype=np.uint32).reshape(480, 640, 3).astype(np.uint8)
    pixels = image_to_array(got[-1])
    assert got[-1].encoding == 'rgb8' and pixels.shape == (480, 640, 3), pixels.shape
    assert np.array_equal(pixels, expected), 'pixels differ'
    print('received', len(got), got[-1].header.frame_id)
""")


def test_two_processes_exchange_640x480_rgb8_images_over_fast_dds(ros_env):
    publisher = subprocess.Popen([sys.executable, '-c', PUBLISHER], env=ros_env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        result = subprocess.run([sys.executable, '-c', SUBSCRIBER], env=ros_env,
                                capture_output=True, text=True, timeout=60)
    finally:
        publisher.kill()
        publisher.wait()
    assert result.returncode == 0, result.stderr
    assert 'received' in result.stdout and 'camera_color_optical_frame' in result.stdout


def test_node_executables_are_installed_where_ros2_run_looks():
    lib = Path(sys.prefix) / 'lib' / 'lam_ros'
    if not lib.is_dir():
        pytest.fail(f'{lib} missing: run the suite through `make test` (installs the package)')
    for name in NODE_EXECUTABLES:
        path = lib / name
        assert path.is_file() and path.stat().st_mode & 0o111, path
    share = Path(sys.prefix) / 'share' / 'lam_ros'
    assert (share / 'package.xml').is_file()
    assert (share / 'launch' / 'collect.launch.py').is_file()
    assert (share / 'config' / 'collect.yaml').is_file()
    assert (Path(sys.prefix) / 'share/ament_index/resource_index/packages/lam_ros').is_file()


def lam_ros_cli(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'lam_ros.app.cli', *args], capture_output=True,
                          text=True, timeout=60, env=env, cwd=REPO)


@pytest.mark.parametrize('args, expected', [
    (('bogus',), "invalid choice: 'bogus'"),
    (('run', 'no_such_node'), "unknown node 'no_such_node'"),
    (('collect', 'robot_model:=wx999'), "robot_model:='wx999' is not one of"),
    (('collect', 'use_sim'), "expected name:=value, got 'use_sim'"),
    (('collect', 'speed:=11'), "unknown launch argument(s) ['speed']"),
    (('collect', 'params_file:=/nonexistent/collect.yaml'),
     'parameter file not found: /nonexistent/collect.yaml'),
    (('collect', 'episodes:=-1'), 'episodes:=-1 must be >= 0'),
    (('collect', 'cameras:=[]'), "cameras:= '[]' is not a valid ROS name"),
    (('run', 'arm', '--ros-args', '-p', 'max_step_rad:=-0.15'),
     "node 'arm': parameter max_step_rad=-0.15 must be in [0.001, 0.5]"),
    (('run', 'sim', '--ros-args', '-p', 'camera_rate_hz:=-5.0'),
     "node 'sim': parameter camera_rate_hz=-5.0 must be in (0.0, 120.0]"),
])
def test_bad_invocations_exit_nonzero_with_one_line_naming_the_problem(args, expected, ros_env):
    result = lam_ros_cli(*args, env=ros_env)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert expected in last_line, result.stderr


def test_an_integer_rate_in_yaml_is_taken_as_a_float(tmp_path, ros_env):
    params = tmp_path / 'teleop.yaml'
    params.write_text('teleop:\n  ros__parameters:\n    rate_hz: 10\n    max_steps: 0\n')
    result = lam_ros_cli('collect', f'params_file:={params}', env=ros_env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(
        "node 'teleop': parameter max_steps=0 must be in [1, inf)"), result.stderr


def test_malformed_params_yaml_names_the_file(tmp_path, ros_env):
    bad = tmp_path / 'broken.yaml'
    bad.write_text('recorder:\n  ros__parameters: [unclosed\n')
    result = lam_ros_cli('collect', f'params_file:={bad}', env=ros_env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f'lam-ros: error: malformed YAML in {bad}: ')


class _Recorder:
    """Stand-in for launch classes: keeps the arguments it was built with."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


def _fake_launch_modules(monkeypatch, values: dict[str, str]):
    """Just enough of launch/launch_ros/ament_index to execute our launch files here."""
    launch = types.ModuleType('launch')
    launch.LaunchDescription = _Recorder
    actions = types.ModuleType('launch.actions')
    actions.DeclareLaunchArgument = _Recorder
    actions.OpaqueFunction = _Recorder
    actions.SetEnvironmentVariable = _Recorder
    actions.Shutdown = _Recorder
    substitutions = types.ModuleType('launch.substitutions')

    class LaunchConfiguration:
        def __init__(self, name):
            self.name = name

        def perform(self, context):
            return context[self.name]

    substitutions.LaunchConfiguration = LaunchConfiguration
    launch_ros = types.ModuleType('launch_ros')
    ros_actions = types.ModuleType('launch_ros.actions')
    ros_actions.Node = _Recorder
    ament = types.ModuleType('ament_index_python.packages')
    ament.get_package_share_directory = lambda package: f'/opt/ros/share/{package}'
    for name, module in {'launch': launch, 'launch.actions': actions,
                         'launch.substitutions': substitutions, 'launch_ros': launch_ros,
                         'launch_ros.actions': ros_actions, 'ament_index_python': types.ModuleType(
                             'ament_index_python'),
                         'ament_index_python.packages': ament}.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, 'lam_ros.app.launch_description', raising=False)


@pytest.mark.parametrize('graph, given', [
    ('collect', {}),
    ('collect', {'use_sim': 'false', 'cameras': 'cam_high,cam_wrist', 'serials': '1,2'}),
    ('collect', {'mode': 'human'}),
    ('deploy', {'checkpoint': '/tmp/policy.safetensors'}),
])
def test_launch_files_start_exactly_the_graph_the_in_process_runner_runs(monkeypatch, graph,
                                                                         given):
    _fake_launch_modules(monkeypatch, given)
    namespace: dict = {}
    source = REPO / 'launch' / f'{graph}.launch.py'
    exec(compile(source.read_text(), str(source), 'exec'), namespace)
    description = namespace['generate_launch_description']()
    environment, *entities = description.args[0]
    assert environment.args[0] == 'FASTDDS_DEFAULT_PROFILES_FILE'
    declared = {e.args[0]: e.kwargs['default_value'] for e in entities[:-1]}
    assert declared == {name: arg.default for name, arg in GRAPH_ARGUMENTS[graph].items()}
    assert 'use_sim' in declared and declared['robot_model'] == 'wx250s'

    context = {**declared, **given}
    for variable in ('ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_LOCALHOST_ONLY'):
        monkeypatch.delenv(variable, raising=False)
    launched = entities[-1].kwargs['function'](context)
    # A simulated arm speaks on the real arm's topics: it stays on this machine.
    sim = given.get('use_sim', 'true') == 'true'
    assert [e.args for e in launched if 'executable' not in e.kwargs] == (
        [('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')] if sim else [])
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'SUBNET')   # the user's choice stands
    nodes = entities[-1].kwargs['function'](context)
    assert all('executable' in n.kwargs for n in nodes) and len(nodes) == len(launched) - sim
    expected = describe(graph, given)
    assert [(n.kwargs['executable'], n.kwargs['name'], n.kwargs['namespace'])
            for n in nodes] == [(s.executable, s.name, s.namespace) for s in expected]
    for node, spec in zip(nodes, expected):
        assert node.kwargs['package'] == 'lam_ros'
        # The scripted teleop's exit (its episodes recorded) ends the launch, as in lam-ros.
        ends = node.kwargs['on_exit']
        assert (ends is not None) == (spec.executable == 'teleop')
        assert ends is None or ends[0].kwargs['reason'] == 'teleop finished'
        assert node.kwargs['parameters'] == [f'/opt/ros/share/lam_ros/config/{graph}.yaml',
                                             spec.parameters]


def test_the_deploy_watcher_and_the_demo_driver_do_not_load_the_simulator():
    """They only drive the graph; MuJoCo (and its GL context) belongs to the sim node."""
    probe = ('import sys, lam_ros.app.deploy_eval, lam_ros.app.demo; '
             'print(sorted(m for m in ("mujoco", "torch") if m in sys.modules))')
    loaded = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == '[]'


@pytest.mark.parametrize('given, shell, expected', [
    ({}, {}, 'LOCALHOST'),                                  # a sim: this machine only
    ({}, {'ROS_LOCALHOST_ONLY': '0'}, 'LOCALHOST'),         # an old .bashrc's leftover
    ({}, {'ROS_LOCALHOST_ONLY': '1'}, None),
    ({}, {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'SUBNET'}, 'SUBNET'),   # the user's choice
    ({'use_sim': 'false', 'checkpoint': 'policy'}, {}, None),      # the arm's own graph
])
def test_a_simulated_graph_runs_on_this_machine_unless_the_shell_says(monkeypatch, given,
                                                                       shell, expected):
    """Its arm node speaks on the arm's topics: on the lab network it would drive xs_sdk."""
    from lam_ros.app.cli import use_graph_environment

    for variable in ('ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_LOCALHOST_ONLY'):
        monkeypatch.setenv(variable, 'restored after the test')
        monkeypatch.delenv(variable)
    for variable, value in shell.items():
        monkeypatch.setenv(variable, value)
    use_graph_environment('deploy', given)
    assert os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE') == expected
