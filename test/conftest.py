# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: an isolated ROS 2 environment per test and helpers to wait on the graph."""
from __future__ import annotations

import itertools
import os
from pathlib import Path
import sys
import time

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault('MUJOCO_GL', 'egl')
_domain_ids = itertools.count()


def unique_domain_id() -> int:
    """A ROS_DOMAIN_ID no other test of this run (or a parallel run) is using."""
    return 1 + (os.getpid() * 7 + next(_domain_ids)) % 100


@pytest.fixture
def ros_env(tmp_path, monkeypatch) -> dict[str, str]:
    """Env for rclpy here and in child processes: localhost only, own domain and logs."""
    env = {
        'ROS_DOMAIN_ID': str(unique_domain_id()),
        'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
        'ROS_LOG_DIR': str(tmp_path / 'ros_log'),
        'RMW_IMPLEMENTATION': 'rmw_fastrtps_cpp',
        'PYTHONUNBUFFERED': '1',
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return dict(os.environ)


@pytest.fixture
def rclpy_context(ros_env):
    """An initialised rclpy context for in-process nodes, shut down afterwards."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    yield context
    rclpy.try_shutdown(context=context)


def spin_until(executor, predicate, timeout_s: float, step_s: float = 0.02) -> bool:
    """Spin ``executor`` until ``predicate()`` holds or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        executor.spin_once(timeout_sec=step_s)
    return predicate()


def wait_for_messages(node, executor, msg_type, topic: str, count: int = 1,
                      timeout_s: float = 10.0, raw: bool = False) -> list:
    """Subscribe to ``topic`` and collect ``count`` messages, or fail naming the topic."""
    received = []
    sub = node.create_subscription(msg_type, topic, received.append, 10, raw=raw)
    try:
        if not spin_until(executor, lambda: len(received) >= count, timeout_s):
            pytest.fail(f'got {len(received)}/{count} messages on {topic} in {timeout_s}s')
        return received
    finally:
        node.destroy_subscription(sub)


def python_executable() -> str:
    """The interpreter running the tests (the project's .venv under ``make test``)."""
    return sys.executable


_exit_status: list[int] = []


def pytest_sessionfinish(session, exitstatus) -> None:
    """Remember the run's exit status for ``pytest_unconfigure``."""
    _exit_status.append(int(exitstatus))


def pytest_unconfigure(config) -> None:
    """Leave without C++ exit handlers when librealsense shares the process with Fast DDS.

    The same native crash at exit that ``lam_ros.app.runtime.exit_process`` avoids for the
    camera node: the suite's result is final by now and is what the process returns.
    """
    if 'pyrealsense2' in sys.modules and _exit_status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])
