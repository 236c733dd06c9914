# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``lam-ros``: run lam_ros graphs in one process, without the ros2 CLI.

    lam-ros collect use_sim:=true mode:=human output_dir:=/tmp/demos
    lam-ros deploy checkpoint:=runs/policy/last.safetensors
    lam-ros run recorder --ros-args -p output_dir:=/tmp/x
    lam-ros graph collect use_sim:=false      # print the nodes a launch would start
    lam-ros label --model runs/como/last.safetensors data.h5  # pseudo-actions, no ROS
    lam-ros eval --checkpoint runs/policy/checkpoint.safetensors --episodes 50  # sim, no ROS

Arguments use the ``name:=value`` syntax of ``ros2 launch`` and mean the same;
both read the same ``config/<graph>.yaml``.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from lam_models.data.episode import CONTROL_RATE_HZ
from lam_ros.app.executables import NODE_EXECUTABLES
from lam_ros.app.graph import (
    GRAPH_ARGUMENTS,
    NodeSpec,
    describe,
    graph_environment,
    load_params_file,
    parse_assignments,
)
from lam_ros.app.paths import config_file
from lam_ros.app.runtime import ConfigError, check_declared, exit_process, overrides, run_nodes


def node_class(executable: str):
    """The Node subclass behind an executable name."""
    if executable not in NODE_EXECUTABLES:
        raise ConfigError(f'unknown node {executable!r} (known: {sorted(NODE_EXECUTABLES)})')
    module_name = NODE_EXECUTABLES[executable].split(':')[0]
    return importlib.import_module(module_name).NODE_CLASS


def build_node(spec: NodeSpec):
    """Instantiate one graph node in the current rclpy context."""
    remap_args = [arg for old, new in spec.remappings for arg in ('-r', f'{old}:={new}')]
    return node_class(spec.executable)(
        node_name=spec.name, namespace=spec.namespace,
        parameter_overrides=overrides(spec.parameters),
        cli_args=['--ros-args', *remap_args] if remap_args else None)


def params_file_for(graph: str, given: dict[str, str]) -> str:
    """The YAML both the launch file and this runner load for a graph."""
    path = given.get('params_file') or str(config_file(f'{graph}.yaml'))
    load_params_file(path)  # fail here with a clear message, not deep inside rcl
    return path


def use_fastdds_profile() -> None:
    """The project's Fast DDS profile (config/fastdds.xml) unless the user chose one."""
    os.environ.setdefault('FASTDDS_DEFAULT_PROFILES_FILE', str(config_file('fastdds.xml')))


def run_graph(graph: str, assignments: list[str], stop=None) -> int:
    """Run a whole graph in this process until SIGINT/SIGTERM (or ``stop`` is set)."""
    use_fastdds_profile()
    given = parse_assignments(assignments)
    use_graph_environment(graph, given)
    specs = describe(graph, given)
    params_file = params_file_for(graph, given)

    def make_nodes():
        built = []
        for spec in specs:
            built.append(build_node(spec))
            yield built[-1]
        check_declared(built, load_params_file(params_file), params_file)
    return run_nodes(make_nodes, args=['lam-ros', '--ros-args', '--params-file', params_file],
                     stop=stop)


def use_graph_environment(graph: str, given: dict[str, str]) -> None:
    """``graph_environment`` in this process, before any rclpy context reads it.

    A caller that starts ``run_graph`` on a thread beside its own context calls it first.
    """
    os.environ.update(graph_environment(graph, given, os.environ))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lam-ros``."""
    return exit_process(_main(argv))


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog='lam-ros', description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')
    for graph in GRAPH_ARGUMENTS:
        p = sub.add_parser(graph, help=f'run the {graph} graph in this process')
        p.add_argument('assignments', nargs='*', metavar='name:=value')
    p = sub.add_parser('graph', help='print the nodes of a graph')
    p.add_argument('graph', choices=sorted(GRAPH_ARGUMENTS))
    p.add_argument('assignments', nargs='*', metavar='name:=value')
    p = sub.add_parser('run', help='run one node, like ros2 run lam_ros NODE')
    p.add_argument('node')
    p.add_argument('ros_args', nargs=argparse.REMAINDER)
    add_dataset_parser(sub)
    p = sub.add_parser('label', help='pseudo-actions of a latent checkpoint into a dataset '
                       'file, resumable (no ROS)')
    p.add_argument('dataset', help='dataset HDF5 file')
    p.add_argument('--model', required=True, help='latent checkpoint (.safetensors + .json)')
    p.add_argument('--batch-size', type=int, help='frame pairs per forward pass')
    p.add_argument('--name', help="the labels' name in the file (default: the model's name)")
    p.add_argument('--device', help='torch device (default: cuda when present, else cpu)')
    p.add_argument('--overwrite', action='store_true',
                   help="replace another checkpoint's labels of the same name")
    p = sub.add_parser('eval', help='closed-loop success of a policy checkpoint in sim (no ROS)')
    p.add_argument('--checkpoint', required=True, help='policy checkpoint (.safetensors)')
    p.add_argument('--tasks', help='comma-separated sim tasks (default push,pick_place)')
    p.add_argument('--episodes', type=int, default=50, help='episodes (seeds) per task')
    p.add_argument('--seed-start', type=int, help='first held-out seed (default 100000)')
    p.add_argument('--out', help='report, chart and videos (default runs/eval/<checkpoint>)')
    p.add_argument('--num-envs', type=int, default=1, help='episodes run side by side')
    p.add_argument('--render-size', type=int, help="the dataset's native frame size")
    p.add_argument('--spawn-region', default='full',
                   help="where the moved object starts: 'full' (the whole workspace) or "
                        "'narrow' (where few-demo training data put it: in-distribution)")
    p.add_argument('--fixed-look', action='store_true',
                   help="the scene's default look every episode, not one drawn per seed "
                        "(for a policy whose robot demos were recorded in that look)")
    args = parser.parse_args(argv)

    try:
        if args.command in GRAPH_ARGUMENTS:
            return run_graph(args.command, args.assignments)
        if args.command == 'graph':
            for spec in describe(args.graph, parse_assignments(args.assignments)):
                ns = f'/{spec.namespace}' if spec.namespace else ''
                print(f'{ns}/{spec.name}  ({spec.executable})  {spec.parameters}')
            return 0
        if args.command == 'run':
            cls = node_class(args.node)
            use_fastdds_profile()
            return run_nodes(lambda: [cls()], args=['lam-ros', *args.ros_args])
        if args.command == 'dataset':
            return run_dataset(args)
        if args.command == 'label':
            # before torch loads: idle OpenMP workers sleep (see lam_ros/nodes/labeler_node.py)
            os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
            from lam_models.latent.label_dataset import run as run_label
            return run_label(args)
        if args.command == 'eval':
            from lam_ros.sim.evaluate import run_eval
            try:
                run_eval(args.checkpoint, args.tasks and args.tasks.split(','), args.episodes,
                         args.seed_start, args.out, num_envs=args.num_envs,
                         render_size=args.render_size, spawn_region=args.spawn_region,
                         randomize=not args.fixed_look)
            except ValueError as error:
                raise ConfigError(str(error)) from None
            return 0
        raise AssertionError(args.command)
    except (ConfigError, FileNotFoundError) as error:
        print(f'lam-ros: error: {error}', file=sys.stderr)
        return 2


def add_dataset_parser(sub) -> None:
    """``lam-ros dataset build|export-lerobot|show``: the dataset file, no ROS."""
    group = sub.add_parser('dataset', help='build, export or show a dataset file (no ROS)')
    commands = group.add_subparsers(dest='dataset_command', required=True, metavar='ACTION')
    p = commands.add_parser('build', help='recorded sessions (MCAP) into one HDF5 dataset')
    p.add_argument('sessions', nargs='+', help='session directories')
    p.add_argument('--out', required=True, help='dataset file to write (.h5)')
    p.add_argument('--camera-topic', help="policy camera topic (default: each episode's "
                   "recorded policy camera, else the head camera's)")
    p.add_argument('--overwrite', action='store_true', help='replace an existing --out')
    p.add_argument('--rate-hz', type=float, default=CONTROL_RATE_HZ,
                   help='thin faster frames (a 30 fps RealSense) to this rate, the rate '
                        f'the policy acts at (default {CONTROL_RATE_HZ:g}); 0 keeps every frame')
    p.add_argument('--successful-only', action='store_true',
                   help="leave out episodes saved as failed (the teleop's n key, the sim's "
                        'predicate); unknown ones stay')
    p = commands.add_parser('export-lerobot', help='robot episodes as a LeRobotDataset v3.0')
    p.add_argument('dataset', help='dataset file (.h5)')
    p.add_argument('out_dir', help='directory to create')
    p.add_argument('--overwrite', action='store_true', help='replace an existing directory')
    p = commands.add_parser('show', help='a PNG strip of one episode with its actions')
    p.add_argument('dataset', help='dataset file (.h5)')
    p.add_argument('--episode', required=True, help='index in the file, or episode name')
    p.add_argument('--pseudo-actions', metavar='MODEL', help='plot the labels of this model')
    p.add_argument('--frames', type=int, default=8, help='frames in the strip')
    p.add_argument('--out', required=True, help='PNG to write')


def recorded_effector_path(episode):
    """``build_dataset``'s effector_path: FK of a robot episode's recorded joint states.

    None for a human episode, or with a warning naming the bag where the joints or the robot
    model do not allow it (a joint-position demo then has no look-first waypoints).
    """
    from lam_ros.control.kinematics import effector_path
    meta = episode.metadata
    if episode.joint_positions is None:
        return None
    try:
        return effector_path(meta.get('robot_model', ''), meta.get('joint_names', []),
                             episode.joint_positions)
    except ValueError as exc:
        logging.getLogger(__name__).warning('%s: no effector path (%s), so no look-first '
                                            'waypoints', meta.get('bag_dir', '?'), exc)
        return None


def run_dataset(args: argparse.Namespace) -> int:
    """Dispatch ``lam-ros dataset``; a bad input is one line naming the file."""
    from lam_models.data.dataset import build_dataset
    from lam_models.data.dataset_figures import show_episode
    from lam_models.data.lerobot import export_lerobot
    logging.basicConfig(format='%(levelname)s %(name)s: %(message)s')
    logging.getLogger('lam_models').setLevel(logging.INFO)
    try:
        if args.dataset_command == 'build':
            if args.rate_hz < 0:
                raise ConfigError(f'dataset build: --rate-hz must be >= 0, got {args.rate_hz}')
            count = build_dataset(args.sessions, args.out,
                                  args.camera_topic,
                                  overwrite=args.overwrite, progress=True,
                                  effector_path=recorded_effector_path,
                                  rate_hz=args.rate_hz if args.rate_hz > 0 else None,
                                  successful_only=args.successful_only)
            print(f'{args.out}: {count} episodes')
        elif args.dataset_command == 'export-lerobot':
            done = export_lerobot(args.dataset, args.out_dir, overwrite=args.overwrite,
                                  progress=True)
            print(f'{done.root}: {done.episodes} robot episodes, {done.frames} frames at '
                  f'{done.fps} fps ({done.codec}); {done.skipped_human} human episodes left '
                  'out (no actions)')
        else:
            print(show_episode(args.dataset, args.episode, args.out, args.pseudo_actions,
                               args.frames))
    except ValueError as error:  # DatasetError, BagFormatError: already name the file
        raise ConfigError(str(error)) from None
    return 0


if __name__ == '__main__':
    sys.exit(main())
