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

from collections.abc import Callable, Iterable, Sequence
import json
import math
import os
import re
import signal
import sys
import threading
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import rclpy
from rclpy.experimental import EventsExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import Header, String

from lam_ros.control.kinematics import Workspace, robot_spec
from lam_ros.interfaces import topics

# Parameters several nodes read that must agree: set once, under ``/**`` (``check_declared``).
SHARED_PARAMETERS = ('workspace_min', 'workspace_max')


class ConfigError(ValueError):
    """A parameter, launch argument or config file that cannot be used as given."""


STATUS_LEVELS = {'ok': DiagnosticStatus.OK, 'warn': DiagnosticStatus.WARN,
                 'error': DiagnosticStatus.ERROR}


class LamNode(Node):
    """Base of every lam_ros node: checked parameters, one status, a shutdown hook, 'done'."""

    def __init__(self, node_name: str, **kwargs):
        super().__init__(node_name, **kwargs)
        # Set by a node whose job is over (e.g. the scripted operator after N episodes):
        # the runner then shuts the whole graph down.
        self.done = threading.Event()
        self._status_pub = self.create_publisher(String, topics.STATUS, 10)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self._logged_at: dict[str, float] = {}   # message -> when it was last logged

    def report(self, message: str, level: str = 'ok', throttle_s: float = 0.0,
               log: bool = True, **values: Any) -> None:
        """Say what the node is doing or refusing, the same way in every node.

        ``~/status`` gets JSON ``{"level", "message", **values}`` (scripts and tests parse
        it), ``/diagnostics`` a DiagnosticStatus that rqt_runtime_monitor and Foxglove's
        diagnostics panel show, and the log a line (unless ``log`` is false; throttled by
        ``throttle_s``).
        """
        self._status_pub.publish(String(data=json.dumps(
            {'level': level, 'message': message, **values})))
        self._diagnostics_pub.publish(DiagnosticArray(
            header=Header(stamp=self.get_clock().now().to_msg()),
            status=[DiagnosticStatus(
                level=STATUS_LEVELS[level], name=self.get_fully_qualified_name(),
                message=message, hardware_id=self.get_name(),
                values=[KeyValue(key=key, value=value if isinstance(value, str)
                                 else json.dumps(value)) for key, value in values.items()])]))
        now = time.monotonic()
        if not log or now - self._logged_at.get(message, -math.inf) < throttle_s:
            return
        if len(self._logged_at) > 1000:   # messages carry numbers: keep the memo bounded
            self._logged_at.clear()
        self._logged_at[message] = now
        # rclpy fixes a call site's severity at its first call: one call per level.
        if level == 'ok':
            self.get_logger().info(message)
        elif level == 'warn':
            self.get_logger().warning(message)
        else:
            self.get_logger().error(message)

    def workspace_param(self, robot_model: str) -> Workspace:
        """The end-effector box from ``workspace_min``/``workspace_max`` (m, base frame).

        By default the robot model's box, which they may only shrink (to a table, a fence).
        The arm node refuses targets outside it; the controller (its way to the start pose,
        ee-delta actions) and teleop (jogs) stay inside it: all read these, so set them once
        for all nodes (``/**``).
        """
        model_box = robot_spec(robot_model).workspace
        corners = [tuple(self.param(name, list(corner), 'end-effector box corner (m)', length=3))
                   for name, corner in (('workspace_min', model_box.low),
                                        ('workspace_max', model_box.high))]
        try:
            workspace = Workspace(*corners)
        except ValueError as error:   # inverted or non-finite corners
            raise ConfigError(f'node {self.get_name()!r}: parameters workspace_min, '
                              f'workspace_max: {error}') from None
        if not model_box.contains(workspace):
            raise ConfigError(f'node {self.get_name()!r}: parameters workspace_min, '
                              f'workspace_max: box {workspace} must lie inside the '
                              f'{robot_model} workspace {model_box}')
        return workspace

    def param(self, name: str, default: Any, description: str = '', *,
              low: float | None = None, high: float | None = None, above: float | None = None,
              choices: Sequence[Any] | None = None, length: int | None = None,
              min_length: int | None = None, pattern: str | None = None) -> Any:
        """Declare a parameter and return its value (YAML/launch overrides applied), checked.

        The value must have the default's type (an integer where a float is expected is
        converted, as YAML writers expect), numbers (or each number of a list) must lie in
        ``[low, high]`` and be ``> above``, and be one of ``choices``; a list must have
        ``length`` (or at least ``min_length``) items, strings must match ``pattern``
        (e.g. ``topics.NAME_PATTERN``). Anything else is a ConfigError
        naming the node and the parameter, raised at start-up instead of a traceback or
        a silently wrong value later.
        """
        from rcl_interfaces.msg import ParameterDescriptor

        checks = _describe_checks(low, high, above, choices, length, min_length, pattern)
        descriptor = ParameterDescriptor(
            description=f'{description} ({checks})' if checks else description,
            dynamic_typing=True)
        value = self.declare_parameter(name, default, descriptor).value
        where = f'node {self.get_name()!r}: parameter {name}={value!r}'
        value = _coerce(value, default, where)
        items = value if isinstance(value, list) else [value]
        if length is not None and len(value) != length:
            raise ConfigError(f'{where} must have {length} items')
        if min_length is not None and len(value) < min_length:
            raise ConfigError(f'{where} must have at least {min_length} item(s)')
        for item in items:
            if (low is not None and item < low) or (high is not None and item > high) or \
                    (above is not None and not item > above) or \
                    (choices is not None and item not in choices) or \
                    (pattern is not None and not re.fullmatch(pattern, item)):
                raise ConfigError(f'{where} must be {checks}')
        return value

    def on_shutdown(self) -> None:
        """Release hardware / finalize files; called once before the node is destroyed."""


def _describe_checks(low, high, above, choices, length, min_length, pattern) -> str:
    parts = []
    upper = 'inf)' if high is None else f'{high}]'
    if above is not None:
        parts.append(f'> {above}' if high is None else f'in ({above}, {upper}')
    elif low is not None or high is not None:
        parts.append(f'in [{"-inf" if low is None else low}, {upper}')
    if choices is not None:
        parts.append(f'one of {list(choices)}')
    if length is not None:
        parts.append(f'{length} items')
    if min_length is not None:
        parts.append(f'at least {min_length} item(s)')
    if pattern is not None:
        parts.append(f'a name matching {pattern}')
    return ', '.join(parts)


def _coerce(value: Any, default: Any, where: str) -> Any:
    """``value`` as the default's type; ints are accepted (and converted) where floats are."""
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)) and not hasattr(value, 'tolist'):
            raise ConfigError(f'{where} must be a list')
        value = list(value.tolist() if hasattr(value, 'tolist') else value)
        if default:
            return [_coerce(item, default[0], where) for item in value]
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f'{where} must be true or false')
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f'{where} must be an integer')
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f'{where} must be a number')
        if not math.isfinite(value):
            raise ConfigError(f'{where} must be finite')
        return float(value)
    if isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f'{where} must be a string')
    return value


def check_declared(nodes: Sequence[Node], params: dict[str, dict[str, Any]],
                   source: str) -> None:
    """Refuse parameter-file keys a node does not declare (ROS would silently ignore them).

    ``params`` maps node names to their ``ros__parameters`` (``load_params_file``); a key
    of the ``/**`` section, shared by all nodes, must be declared by one of them. The
    workspace box (``SHARED_PARAMETERS``) belongs there alone: set in the arm node's section
    only, the controller and teleop would plan in a box the arm refuses.
    """
    shared = params.get('**', {})   # load_params_file drops the leading '/'
    unknown = sorted(key for key in shared if not any(node.has_parameter(key) for node in nodes))
    if unknown:
        raise ConfigError(f'{source}: no node has parameter(s) {unknown} (section /**)')
    for name, section in params.items():
        misplaced = sorted(key for key in section if key in SHARED_PARAMETERS)
        if name != '**' and misplaced:
            raise ConfigError(f'{source}: set {misplaced} under /** (for every node), not '
                              f'under {name!r}: the arm refuses targets outside the box, the '
                              'controller and teleop plan inside it, so all must read one')
    for node in nodes:
        unknown = sorted(key for key in params.get(node.get_name(), {})
                         if not node.has_parameter(key))
        if unknown:
            declared = sorted(node.list_parameters([], 0).names)
            raise ConfigError(f'{source}: node {node.get_name()!r} has no parameter(s) '
                              f'{unknown} (it declares {declared})')


def overrides(parameters: dict[str, Any]) -> list[Parameter]:
    """Turn a plain dict into rclpy parameter overrides."""
    return [Parameter(name, value=value) for name, value in parameters.items()]


def run_nodes(make_nodes: Callable[[], Iterable[Node]], args: Sequence[str] | None = None,
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
            # One at a time: when a later node's configuration fails, the ones already
            # built (a sim node rendering in its thread) are shut down below, not left running.
            for node in make_nodes():
                nodes.append(node)
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
