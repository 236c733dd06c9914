# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The node graphs of lam_ros, described once.

``launch/*.launch.py`` turn these specs into ``launch_ros`` Node actions; the
in-process runner (``lam-ros collect``) instantiates the same node classes.
Neither keeps its own copy of which nodes run with which parameters.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import re
from typing import Any

import yaml

from lam_models.data.episode import CONTROL_RATE_HZ, EMBODIMENTS
from lam_ros.app.executables import NODE_EXECUTABLES
from lam_ros.app.runtime import ConfigError
from lam_ros.control.kinematics import ROBOT_SPECS
from lam_ros.interfaces.topics import NAME_PATTERN, PSEUDO_ACTION

ROBOT_MODELS = tuple(ROBOT_SPECS)
MODES = EMBODIMENTS
# lam_ros.sim.scene.CAMERA_NAMES, policy view first; not imported here so that launch files
# do not load MuJoCo (a test keeps the two equal).
SIM_POLICY_CAMERAS = ('ego', 'third_person', 'wrist')


@dataclass(frozen=True)
class LaunchArgument:
    """A launch argument as ``DeclareLaunchArgument`` wants it."""

    default: str
    description: str
    choices: tuple[str, ...] | None = None


COMMON_ARGUMENTS: dict[str, LaunchArgument] = {
    'use_sim': LaunchArgument('true', 'Run the MuJoCo WidowX and cameras instead of hardware',
                              ('true', 'false')),
    'robot_model': LaunchArgument('wx250s', 'Interbotix arm model', ROBOT_MODELS),
    'robot_name': LaunchArgument('', 'Namespace of the xs_sdk interface (default: robot_model)'),
    'cameras': LaunchArgument('camera', 'Comma-separated camera names (topic namespace and name)'),
    'policy_camera': LaunchArgument('', 'The policy camera. Sim: the view rendered into the '
                                    "first camera, ego (default; the operator's head behind "
                                    'the base), third_person or wrist. Hardware: which of '
                                    'cameras is the head-height RealSense (default: the first)'),
    'serials': LaunchArgument('', 'Comma-separated RealSense serial numbers, one per camera'),
    'color_profile': LaunchArgument('640,480,30', 'RealSense color width,height,fps'),
    'depth_profile': LaunchArgument('640,480,30', 'RealSense depth width,height,fps'),
    'params_file': LaunchArgument('', 'Parameter YAML (default: config/<graph>.yaml)'),
}

GRAPH_ARGUMENTS: dict[str, dict[str, LaunchArgument]] = {
    'collect': {
        **COMMON_ARGUMENTS,
        'mode': LaunchArgument('robot', 'robot: teleop demos; human: egocentric recordings',
                               MODES),
        'output_dir': LaunchArgument('~/lam_data', 'Where sessions of episodes are written'),
        'teleop': LaunchArgument('', 'Teleop device: scripted|keyboard|joy|spacemouse|leader, '
                                 'or none (run it apart: ros2 run lam_ros teleop) (default: '
                                 'scripted in sim, keyboard on hardware)'),
        'session': LaunchArgument('', 'Session name; an existing one is resumed '
                                  '(default: date_time_mode)'),
        'episodes': LaunchArgument('0', 'Scripted teleop: stop after this many episodes '
                                   '(0: run until stopped)'),
        'label': LaunchArgument('false', 'Run the labeler node: live pseudo-actions of the '
                                f'policy camera on {PSEUDO_ACTION}', ('true', 'false')),
        'label_checkpoint': LaunchArgument('', 'Latent checkpoint the labeler uses '
                                           '(required with label:=true)'),
    },
    'deploy': {
        **COMMON_ARGUMENTS,
        'checkpoint': LaunchArgument('', 'Policy checkpoint to run (empty: relay the sim '
                                     'expert)'),
        'rate_hz': LaunchArgument('0', "Control rate; 0: the checkpoint's data rate "
                                  f'({CONTROL_RATE_HZ:g} without a checkpoint)'),
        'task': LaunchArgument('', 'Sim: the task of the scene (default: config/deploy.yaml)'),
        'seed': LaunchArgument('', 'Sim: seed of the first scene; /sim/reset adds one '
                               '(default: config/deploy.yaml)'),
    },
}


@dataclass(frozen=True)
class NodeSpec:
    """One node of a graph: what ``launch_ros.actions.Node`` needs."""

    executable: str
    name: str
    namespace: str = ''
    parameters: dict[str, Any] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    ends_graph: bool = False   # its exit (job done, e.g. N scripted episodes) stops the rest


def resolve_arguments(graph: str, given: dict[str, str]) -> dict[str, str]:
    """Defaults filled in, unknown names and bad choices rejected with one clear message."""
    if graph not in GRAPH_ARGUMENTS:
        raise ConfigError(f'unknown graph {graph!r} (expected one of {sorted(GRAPH_ARGUMENTS)})')
    declared = GRAPH_ARGUMENTS[graph]
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ConfigError(f'unknown launch argument(s) {unknown} for {graph} '
                          f'(known: {sorted(declared)})')
    resolved = {name: str(given.get(name, arg.default)) for name, arg in declared.items()}
    for name, arg in declared.items():
        if arg.choices and resolved[name] not in arg.choices:
            raise ConfigError(f'{name}:={resolved[name]!r} is not one of {list(arg.choices)}')
    return resolved


def graph_environment(graph: str, given: dict[str, str], environ: Mapping[str, str]
                      ) -> dict[str, str]:
    """Variables the graph's nodes need besides ``environ`` (both runners set them).

    A simulated graph speaks on the arm's own topics (``/<robot_name>/commands/...``): on a
    lab network it would drive a real arm's xs_sdk on another machine in the same ROS
    domain. So it discovers only this machine, unless the user chose a discovery range. An
    xs_sdk on this machine it still reaches; there the arm node sees two publishers of the
    joint states and latches its e-stop (``ArmNode.check_one_driver``).
    """
    chosen = bool(environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE')) or \
        environ.get('ROS_LOCALHOST_ONLY') == '1'   # an old .bashrc's '0' chooses nothing
    if resolve_arguments(graph, given)['use_sim'] != 'true' or chosen:
        return {}
    return {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}


def describe(graph: str, given: dict[str, str]) -> list[NodeSpec]:
    """The nodes of ``graph`` ('collect' or 'deploy') for these launch arguments."""
    args = resolve_arguments(graph, given)
    use_sim = args['use_sim'] == 'true'
    robot_name = args['robot_name'] or args['robot_model']
    cameras = [c.strip() for c in args['cameras'].split(',') if c.strip()]
    if not cameras:
        raise ConfigError('cameras:= names no camera')
    for argument, names in (('cameras', cameras), ('robot_name', [robot_name])):
        for name in names:
            if not re.fullmatch(NAME_PATTERN, name):
                raise ConfigError(f'{argument}:= {name!r} is not a valid ROS name: letters, '
                                  f'digits and _, starting with a letter')
    robot = {'robot_model': args['robot_model'], 'robot_name': robot_name}
    policy_camera = args['policy_camera']

    nodes: list[NodeSpec] = []
    camera_rate: dict[str, float] = {}   # the sim's cameras: config/collect.yaml's rate
    if use_sim:
        mode = args.get('mode', 'robot')
        policy_camera = policy_camera or SIM_POLICY_CAMERAS[0]
        if policy_camera not in SIM_POLICY_CAMERAS:
            raise ConfigError(f'policy_camera:={policy_camera!r}: in sim one of '
                              f'{list(SIM_POLICY_CAMERAS)}')
        scene = {}
        if args.get('task'):
            scene['task'] = args['task']
        if args.get('seed'):
            scene['seed'] = _integer(args['seed'], 'seed', low=0)
        nodes.append(NodeSpec('sim', 'sim', parameters={
            **robot, 'cameras': cameras, 'mode': mode, 'policy_camera': policy_camera,
            **scene}))
    else:
        if policy_camera and policy_camera not in cameras:
            raise ConfigError(f'policy_camera:={policy_camera!r} is not one of '
                              f'cameras:={",".join(cameras)}')
        serials = [s.strip() for s in args['serials'].split(',')] if args['serials'] else []
        if (serials or len(cameras) > 1) and len(serials) != len(cameras):
            # with no serial, every camera node opens the first device it finds
            raise ConfigError(f'serials:= lists {len(serials)} serial(s) for '
                              f'{len(cameras)} camera(s) {cameras}: one per camera')
        color_profile = _profile(args['color_profile'], 'color_profile')
        for index, camera in enumerate(cameras):
            nodes.append(NodeSpec('camera', camera, namespace=camera, parameters={
                'serial': serials[index] if serials else '',
                'color_profile': color_profile,
                'depth_profile': _profile(args['depth_profile'], 'depth_profile'),
                # no policy reads depth: deploy spares the USB link and the alignment
                **({'enable_depth': False} if graph == 'deploy' else {}),
            }))
        # the recorder counts dropped frames against the rate the cameras stream at
        camera_rate = {'camera_rate_hz': float(color_profile[2])}
        # The policy camera first (after pairing serials): the controller watches cameras[0].
        policy_camera = policy_camera or cameras[0]
        cameras = [policy_camera, *(c for c in cameras if c != policy_camera)]

    if graph == 'collect':
        mode = args['mode']
        teleop = args['teleop'] or ('scripted' if use_sim else 'keyboard')
        if mode == 'robot':
            nodes.append(NodeSpec('arm', 'arm', parameters=robot))
        if teleop != 'none':   # none: a keyboard teleop in a terminal of its own
            nodes.append(NodeSpec('teleop', 'teleop', parameters={
                **robot, 'device': teleop, 'mode': mode,
                'episodes': _integer(args['episodes'], 'episodes', low=0)}, ends_graph=True))
        nodes.append(NodeSpec('recorder', 'recorder', parameters={
            **robot, **camera_rate, 'mode': mode, 'cameras': cameras,
            'output_dir': args['output_dir'], 'session': args['session']}))
        if args['label'] == 'true':
            if not args['label_checkpoint']:
                raise ConfigError('label:=true needs label_checkpoint:=<latent checkpoint>')
            nodes.append(NodeSpec('labeler', 'labeler', parameters={
                'checkpoint': args['label_checkpoint'], 'camera': cameras[0]}))
    else:
        if not use_sim and not args['checkpoint']:
            # without one the controller relays /sim/expert_action: any sim on the network
            raise ConfigError('deploy on the arm (use_sim:=false) needs checkpoint:=<policy '
                              'checkpoint>')
        # On the arm, the policy waits for an operator to release the e-stop.
        nodes.append(NodeSpec('arm', 'arm', parameters={
            **robot, **({} if use_sim else {'start_estopped': True})}))
        nodes.append(NodeSpec('controller', 'controller', parameters={
            **robot, 'cameras': cameras, 'checkpoint': args['checkpoint'],
            'rate_hz': _number(args['rate_hz'], 'rate_hz', low=0.0)}))

    for spec in nodes:
        assert spec.executable in NODE_EXECUTABLES, spec.executable
    return nodes


def parse_assignments(argv: list[str]) -> dict[str, str]:
    """``['use_sim:=false', ...]`` -> dict, the ros2 launch argument syntax."""
    given = {}
    for item in argv:
        name, sep, value = item.partition(':=')
        if not sep or not name:
            raise ConfigError(f'expected name:=value, got {item!r}')
        given[name] = value
    return given


def load_params_file(path: str) -> dict[str, dict[str, Any]]:
    """Read a ROS 2 parameter YAML (``node: {ros__parameters: {...}}``) with a safe loader."""
    try:
        with open(path) as f:
            content = yaml.safe_load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f'parameter file not found: {path}') from None
    except yaml.YAMLError as error:
        raise ConfigError(f'malformed YAML in {path}: {str(error).splitlines()[0]}') from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f'{path}: top level must map node names to ros__parameters')
    params = {}
    for node_name, body in content.items():
        if not isinstance(body, dict) or 'ros__parameters' not in body:
            raise ConfigError(f'{path}: entry {node_name!r} has no ros__parameters')
        params[str(node_name).lstrip('/')] = body['ros__parameters'] or {}
    return params


def _profile(text: str, name: str) -> list[int]:
    try:
        width, height, fps = (int(v) for v in text.split(','))
    except ValueError:
        raise ConfigError(f'{name}:={text!r} must be width,height,fps') from None
    return [width, height, fps]


def _number(text: str, name: str, low: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f'{name}:={text!r} must be a number') from None
    if not value >= low:
        raise ConfigError(f'{name}:={value} must be >= {low}')
    return value


def _integer(text: str, name: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f'{name}:={text!r} must be an integer') from None
    if value < low:
        raise ConfigError(f'{name}:={value} must be >= {low}')
    return value
