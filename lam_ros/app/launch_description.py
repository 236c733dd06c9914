# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Build a ``LaunchDescription`` from a graph of ``lam_ros.app.graph``.

Imported only by ``launch/*.launch.py``: needs ``launch`` and ``launch_ros``,
which a stock ROS 2 install has and the pip environment does not.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    OpaqueFunction,
    SetEnvironmentVariable,
    Shutdown,
)
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from lam_ros.app.graph import GRAPH_ARGUMENTS, describe, graph_environment
from launch import LaunchDescription


def generate(graph: str) -> LaunchDescription:
    """Declared arguments of ``graph`` plus its nodes, resolved at launch time."""

    def launch_nodes(context):
        given = {name: LaunchConfiguration(name).perform(context)
                 for name in GRAPH_ARGUMENTS[graph]}
        params_file = given['params_file'] or os.path.join(
            get_package_share_directory('lam_ros'), 'config', f'{graph}.yaml')
        environment = graph_environment(graph, given, os.environ)   # the shell's choice
        nodes = [
            Node(package='lam_ros', executable=spec.executable, name=spec.name,
                 namespace=spec.namespace, parameters=[params_file, spec.parameters],
                 remappings=list(spec.remappings), output='screen', emulate_tty=True,
                 # like `lam-ros collect`: the scripted teleop's last episode ends the launch
                 on_exit=[Shutdown(reason=f'{spec.name} finished')] if spec.ends_graph
                 else None)
            for spec in describe(graph, given)
        ]
        return [*(SetEnvironmentVariable(name, value) for name, value in environment.items()),
                *nodes]

    arguments = [
        DeclareLaunchArgument(name, default_value=arg.default, description=arg.description,
                              **({'choices': list(arg.choices)} if arg.choices else {}))
        for name, arg in GRAPH_ARGUMENTS[graph].items()
    ]
    # The project's Fast DDS profile, unless the user set one (see config/fastdds.xml).
    fastdds = os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE') or os.path.join(
        get_package_share_directory('lam_ros'), 'config', 'fastdds.xml')
    return LaunchDescription([
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE', fastdds),
        *arguments, OpaqueFunction(function=launch_nodes)])
