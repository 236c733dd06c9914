# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The one way lam_ros runs nodes: alone (``ros2 run``) or as a whole graph in one process.

rclpy's own SIGINT handler raises KeyboardInterrupt wherever the main thread
happens to be, which is how a second Ctrl-C turns into a traceback from the
middle of a shutdown. Here signals only set an event; the spin loop notices,
every node gets its ``on_shutdown()`` (the recorder finalizes its bag there),
and a second signal during shutdown is acknowledged and ignored.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
import os
import signal
import sys
import threading
from typing import Any

import rclpy
from rclpy.experimental import EventsExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions


class ConfigError(ValueError):
    """A parameter, launch argument or config file that cannot be used as given."""


class LamNode(Node):
    """Base of every lam_ros node: declared parameters, a shutdown hook, a 'done' flag."""

    def __init__(self, node_name: str, **kwargs):
        super().__init__(node_name, **kwargs)
        # Set by a node whose job is over (e.g. the scripted operator after N episodes):
        # the runner then shuts the whole graph down.
        self.done = threading.Event()

    def param(self, name: str, default: Any, description: str = '') -> Any:
        """Declare a parameter and return its value (YAML/launch overrides applied)."""
        from rcl_interfaces.msg import ParameterDescriptor

        value = self.declare_parameter(
            name, default, ParameterDescriptor(description=description)).value
        if isinstance(default, (list, tuple)) and value is not None:
            return list(value)
        return value

    def on_shutdown(self) -> None:
        """Release hardware / finalize files; called once before the node is destroyed."""


def overrides(parameters: dict[str, Any]) -> list[Parameter]:
    """Turn a plain dict into rclpy parameter overrides."""
    return [Parameter(name, value=value) for name, value in parameters.items()]


def run_nodes(make_nodes: Callable[[], Sequence[Node]], args: Sequence[str] | None = None,
              stop: threading.Event | None = None) -> int:
    """Create nodes in a fresh rclpy context, spin until SIGINT/SIGTERM or ``stop``, shut down.

    Returns a process exit code: 0 on a clean stop, 2 on a configuration error
    (printed as one line naming the problem).
    """
    stop = stop or threading.Event()
    rclpy.init(args=list(args) if args is not None else sys.argv,
               signal_handler_options=SignalHandlerOptions.NO)
    previous = _install_signal_handlers(stop)
    nodes: list[Node] = []
    # The events executor dispatches from C++ instead of rebuilding a Python wait set for
    # every callback: with 100 Hz joint states that rebuild alone took a full core and
    # starved the simulation thread of the GIL.
    executor = EventsExecutor()
    try:
        try:
            nodes = list(make_nodes())
        except (ConfigError, FileNotFoundError) as error:
            print(f'lam_ros: error: {error}', file=sys.stderr)
            return 2
        for node in nodes:
            executor.add_node(node)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.05)
            if any(isinstance(n, LamNode) and n.done.is_set() for n in nodes):
                break
        return 0
    finally:
        for node in nodes:
            if isinstance(node, LamNode):
                try:
                    node.on_shutdown()
                except Exception as error:  # keep shutting the others down
                    print(f'lam_ros: {node.get_name()} shutdown failed: {error}',
                          file=sys.stderr)
        executor.shutdown(timeout_sec=1.0)
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
        _restore_signal_handlers(previous)


def node_main(node_class: type[Node], args: Sequence[str] | None = None) -> int:
    """``main()`` of a single-node executable."""
    return exit_process(run_nodes(lambda: [node_class()], args))


def exit_process(code: int) -> int:
    """Exit now when librealsense is loaded next to Fast DDS, else return ``code``.

    With a DDS participant and a RealSense playback in one process, a C++ static
    destructor crashes at interpreter exit (SIGSEGV in exit handlers, reproducible
    with nothing else loaded). Everything of ours is closed by now, so the
    remaining exit handlers are skipped.
    """
    if 'pyrealsense2' in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _install_signal_handlers(stop: threading.Event) -> dict:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handle(signum, _frame):
        if stop.is_set():
            print('lam_ros: already shutting down', file=sys.stderr)
            return
        stop.set()

    return {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore_signal_handlers(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
