# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Where the locally built ``interbotix_xs_msgs`` lives and the env that makes rclpy find it.

On a robot the Interbotix packages are installed and sourced, so nothing here is needed.
Elsewhere ``tools/build_interfaces.py`` builds the same package into ``DEFAULT_PREFIX``;
a process started with ``xs_msgs_env(prefix)`` can then
``from interbotix_xs_msgs.msg import JointGroupCommand``. The env must be set before the
process starts: the dynamic loader reads ``LD_LIBRARY_PATH`` only at start-up.
"""
from __future__ import annotations

from collections.abc import Mapping
import os
from pathlib import Path
import sys

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PREFIX = REPO_ROOT / 'build' / 'xs_msgs' / 'install'


def xs_msgs_site_packages(prefix: Path) -> Path:
    """The prefix's Python package folder (where ``interbotix_xs_msgs/`` is installed)."""
    python = f'python{sys.version_info.major}.{sys.version_info.minor}'
    return Path(prefix) / 'lib' / python / 'site-packages'


def xs_msgs_env(prefix: Path = DEFAULT_PREFIX,
                base_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables to set for a child process that uses interbotix_xs_msgs from ``prefix``.

    Returns only PYTHONPATH, LD_LIBRARY_PATH and AMENT_PREFIX_PATH, each with the prefix's
    entry put in front of the value in ``base_env`` (default: ``os.environ``). The rclpy
    wheels' own prefix (``sys.prefix``) stays on AMENT_PREFIX_PATH so std_msgs and the
    typesupports are still found.
    """
    prefix = Path(prefix).resolve()
    base = os.environ if base_env is None else base_env
    entries = {
        'PYTHONPATH': str(xs_msgs_site_packages(prefix)),
        'LD_LIBRARY_PATH': str(prefix / 'lib'),
        'AMENT_PREFIX_PATH': os.pathsep.join([str(prefix), sys.prefix]),
    }
    env = {}
    for name, front in entries.items():
        rest = [part for part in base.get(name, '').split(os.pathsep)
                if part and part not in front.split(os.pathsep)]
        env[name] = os.pathsep.join([front, *rest])
    return env
