# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Arm node: the safety layer between lam_ros commands and an Interbotix xs_sdk driver.

Subscribes to requested targets on ``/lam/action`` (sensor_msgs/JointState:
the arm joints plus ``gripper`` in 0 closed .. 1 open) and sends what
``SafetyFilter`` allows to ``/<robot_name>/commands/joint_group`` (arm) and
``commands/joint_single`` (gripper, PWM as xs_sdk's default gripper mode).
Joint limits come from the driver's ``get_robot_info``; the same node drives
a real WidowX next to ``interbotix_xsarm_control`` or the simulated one.

Once the driver answers, the node writes the arm group's servo profile registers
(``set_motor_registers``: ``Profile_Velocity`` = ``moving_time_s``, ``Profile_Acceleration``
= ``accel_time_s``, in ms, as Interbotix's ``set_trajectory_time`` does; the stock
``modes.yaml``'s time-based profile reads them so), and again every ``PROFILE_REFRESH_S``
(a restarted driver or a ``reboot_motors`` resets them). Its own default gives every goal 2 s:
streamed at 10 Hz, each new goal restarts a 2 s move and the arm covers a fraction of what
the teleop or the policy asked, unlike the simulator and the demos. Not
``set_operating_modes``: xs_sdk turns each joint's torque off to apply it, and a raised
arm would sag. So the node checks the modes instead, and refuses to command an arm group
that is not in a position mode with a time-based profile (in velocity or pwm mode xs_sdk
reads every target as a speed or a duty cycle; with a velocity-based profile, the profile
registers as a speed) or a gripper that is not in pwm mode (the stock ``modes.yaml``'s).
"""
from __future__ import annotations

import time

from interbotix_xs_msgs.msg import JointGroupCommand, JointSingleCommand
from interbotix_xs_msgs.srv import RegisterValues, RobotInfo
import numpy as np
from rclpy.event_handler import SubscriptionEventCallbacks
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import SetBool

from lam_ros.app.runtime import LamNode, node_main
from lam_ros.control.kinematics import GRIPPER_OPEN_ABOVE, ROBOT_SPECS, robot_spec
from lam_ros.control.safety import SAFETY_PARAMETER_RANGES, JointLimits, SafetyConfig, SafetyFilter
from lam_ros.interfaces import topics

# xs_sdk operating modes in which a joint command is a goal angle (the rest: a velocity, a
# current or a PWM duty cycle).
POSITION_MODES = ('position', 'ext_position', 'current_based_position')
GRIPPER_MODE = 'pwm'
MAX_GRIPPER_PWM = 350.0   # Interbotix's gripper_pressure_upper_limit: more stalls and overloads
GRIPPER_INFO_TIMEOUT_S = 2.0   # an unanswered get_robot_info of the gripper is asked again
# The servo profile is written again this often: a restarted driver puts modes.yaml's 2 s
# moves back, a reboot_motors (after an overload) the registers' 0, no profile at all.
PROFILE_REFRESH_S = 5.0
# A finger this close to the limit it is driven to has reached it (the limits come as float32,
# the servo's reading in its own steps: neither need land exactly on the other).
FINGER_LIMIT_TOLERANCE_M = 0.0005


class ArmNode(LamNode):
    """Filters and forwards arm commands; holds the arm on e-stop or stale joint states."""

    def __init__(self, node_name: str = 'arm', **kwargs):
        super().__init__(node_name, **kwargs)
        self.robot_model = self.param('robot_model', 'wx250s', 'Interbotix arm model',
                                      choices=sorted(ROBOT_SPECS))
        robot_name = self.param('robot_name', 'wx250s', 'xs_sdk namespace',
                                pattern=topics.NAME_PATTERN)
        self.arm_group = self.param('arm_group', 'arm', 'xs_sdk joint group of the arm')
        self.gripper_pwm = self.param('gripper_pwm', 250.0, 'PWM sent to open/close the gripper',
                                      above=0.0, high=MAX_GRIPPER_PWM)
        defaults = SafetyConfig()
        tunables = {name: self.param(name, getattr(defaults, name), low=low, high=high)
                    for name, (low, high) in SAFETY_PARAMETER_RANGES.items()}
        self.safety_config = SafetyConfig(**tunables,
                                          workspace=self.workspace_param(self.robot_model))
        self.moving_time_s = self.param('moving_time_s', 0.2, "servo profile: each goal's move "
                                        'time (about two command periods)', low=0.02, high=5.0)
        self.accel_time_s = self.param('accel_time_s', 0.1, 'servo profile: its acceleration '
                                       'time (at most half of moving_time_s)', low=0.0,
                                       high=self.moving_time_s / 2)
        start_estopped = self.param('start_estopped', False, 'latch the e-stop at start: '
                                    'nothing moves until ~/estop (or /lam/estop) releases it')
        self._state_fault_reported: str | None = None

        self.safety: SafetyFilter | None = None
        self._pending_estop = False
        self._last_gripper_open: bool | None = None
        self._gripper_mode: str | None = None   # the driver's answer ('' if none)
        self._finger: tuple[str, float, float] | None = None   # (joint, lower, upper)
        self._gripper_moving = False
        self._gripper_future = None
        self._gripper_asked_at = 0.0
        arm = topics.arm_topics(robot_name)
        self.joint_states_topic = arm['joint_states']
        self.group_pub = self.create_publisher(JointGroupCommand, arm['joint_group'], 10)
        self.single_pub = self.create_publisher(JointSingleCommand, arm['joint_single'], 10)
        self.create_subscription(JointState, arm['joint_states'], self.on_joint_states, 10)
        self.create_subscription(JointState, topics.ACTION, self.on_action, 10)
        # Every e-stop publisher matches one of these (topics.ESTOP_QOS); each publisher is
        # incompatible with some of them by design: no warning for that.
        quiet = SubscriptionEventCallbacks(incompatible_qos=lambda _event: None)
        for qos in topics.ESTOP_QOS:
            self.create_subscription(Bool, topics.ESTOP, self.on_estop_topic, qos,
                                     event_callbacks=quiet)
        self.create_service(SetBool, topics.ESTOP_SERVICE, self.on_estop_service)
        # Published on each set_estop, never at start: a default 'released' sent before a
        # latched e-stop arrives would read, downstream, as a release.
        self.estopped_pub = self.create_publisher(Bool, topics.ESTOPPED, topics.LATCHED)
        if start_estopped:
            self.set_estop(True)
        self.info_client = self.create_client(RobotInfo, arm['get_robot_info'])
        self.registers_client = self.create_client(RegisterValues, arm['set_motor_registers'])
        self._info_future = None
        self._profile: dict[str, object] = {}   # register -> its pending call, then True
        self._profile_written_at: float | None = None   # monotonic, both registers answered
        self.create_timer(0.5, self.request_robot_info)

    def request_robot_info(self) -> None:
        """Ask the driver for the arm group's limits until it answers, then set the profile."""
        self.check_one_driver()
        if self.safety is not None:
            self.set_motion_profile()
            self.request_gripper_info()
            return
        if not self.info_client.service_is_ready():
            return
        if self._info_future is None:
            self._info_future = self.info_client.call_async(
                RobotInfo.Request(cmd_type='group', name=self.arm_group))
            self._info_future.add_done_callback(self.on_robot_info)

    def on_robot_info(self, future) -> None:
        """Build the safety filter from the driver's reported limits, once they make sense."""
        self._info_future = None
        info = future.result()
        problem = self._robot_info_problem(info)
        if problem:
            self.report(f'refused: get_robot_info: {problem}', 'error', throttle_s=2.0)
            return
        limits = JointLimits(tuple(info.joint_names), np.array(info.joint_lower_limits),
                             np.array(info.joint_upper_limits))
        spec = robot_spec(self.robot_model)
        self.safety = SafetyFilter(limits, self.safety_config, lambda q: spec.fk(q)[:3, 3])
        if self._pending_estop:
            self.safety.engage_estop()
        self.get_logger().info(f'limits of {list(info.joint_names)} from get_robot_info')

    def check_one_driver(self) -> None:
        """Latch the e-stop while two nodes publish the arm's joint states, and keep it so.

        Two drivers (a simulator beside the arm's xs_sdk in one ROS domain) would mix their
        states in the filter, and each would take the other's commands.
        """
        publishers = self.count_publishers(self.joint_states_topic)
        if publishers > 1 and not self._pending_estop:
            self.set_estop(True)
            self.report(f'e-stop: {publishers} nodes publish {self.joint_states_topic} (a '
                        "simulator beside the arm's driver?): stop one, then release",
                        'error')

    def request_gripper_info(self) -> None:
        """Ask once which mode the gripper is in (again after a failed or unanswered call)."""
        if self._gripper_mode is not None:
            return
        if self._gripper_future is not None:
            if time.monotonic() - self._gripper_asked_at < GRIPPER_INFO_TIMEOUT_S:
                return
            self._gripper_future.cancel()   # a driver restarted between the two questions
        self._gripper_asked_at = time.monotonic()
        self._gripper_future = self.info_client.call_async(
            RobotInfo.Request(cmd_type='single', name=topics.GRIPPER))
        self._gripper_future.add_done_callback(self.on_gripper_info)

    def on_gripper_info(self, future) -> None:
        """Keep the gripper's mode; say once that its commands are refused if not pwm."""
        if future is not self._gripper_future or future.cancelled():
            return
        self._gripper_future = None
        if future.exception() is not None or future.result() is None:
            return   # asked again on the next tick
        info = future.result()
        self._gripper_mode = info.mode
        if info.joint_names and len(info.joint_lower_limits) and len(info.joint_upper_limits):
            self._finger = (info.joint_names[0], float(info.joint_lower_limits[0]),
                            float(info.joint_upper_limits[0]))
        if self._gripper_mode != GRIPPER_MODE:
            self.report(f'gripper commands refused: get_robot_info says {topics.GRIPPER!r} is in '
                        f'{self._gripper_mode!r} mode, not {GRIPPER_MODE!r}: the node sends a '
                        f'PWM, which another mode reads as a goal or a current; set it in '
                        "the driver's modes.yaml", 'error')

    def set_motion_profile(self) -> None:
        """Write each profile register until it answers, and every PROFILE_REFRESH_S again."""
        if not self.registers_client.service_is_ready():
            return
        written = len(self._profile) == 2 and all(v is True for v in self._profile.values())
        if written and time.monotonic() - self._profile_written_at > PROFILE_REFRESH_S:
            self._profile.clear()
        for register, seconds in (('Profile_Velocity', self.moving_time_s),
                                  ('Profile_Acceleration', self.accel_time_s)):
            if register in self._profile:
                continue
            request = RegisterValues.Request(cmd_type='group', name=self.arm_group,
                                             reg=register, value=round(1000 * seconds))
            future = self.registers_client.call_async(request)
            self._profile[register] = future
            future.add_done_callback(lambda done, register=register: self._on_profile(
                register, done))

    def _on_profile(self, register: str, future) -> None:
        if self._profile.get(register) is not future:
            return   # an answer to a call made before the last refresh
        if future.exception() is not None or future.result() is None:
            del self._profile[register]   # the next timer tick sends it again
            return
        self._profile[register] = True
        if all(value is True for value in self._profile.values()) and len(self._profile) == 2:
            first = self._profile_written_at is None
            self._profile_written_at = time.monotonic()
            if first:
                self.report(f'servo profile: {round(1000 * self.moving_time_s)} ms moves, '
                            f'{round(1000 * self.accel_time_s)} ms acceleration (written '
                            f'again every {PROFILE_REFRESH_S:g} s)')

    def _robot_info_problem(self, info) -> str | None:
        """Why the driver's answer cannot be used (the filter would compute nonsense)."""
        if info is None or not info.joint_names:
            return f'nothing for group {self.arm_group!r}'
        expected = robot_spec(self.robot_model).joints
        if tuple(info.joint_names) != expected:
            return (f'joints {list(info.joint_names)} are not those of robot_model '
                    f'{self.robot_model} {list(expected)}')
        limits = (info.joint_lower_limits, info.joint_upper_limits)
        if any(len(values) != len(expected) or not np.all(np.isfinite(values))
               for values in limits) or \
                np.any(np.asarray(info.joint_lower_limits) >= np.asarray(info.joint_upper_limits)):
            return f'limits are not {len(expected)} finite lower < upper pairs'
        if info.mode not in POSITION_MODES:
            return (f'group {self.arm_group!r} is in {info.mode!r} mode, where xs_sdk reads a '
                    f'command as a speed or a duty cycle, not an angle; set one of '
                    f"{list(POSITION_MODES)} in the driver's modes.yaml")
        if info.profile_type != 'time':
            return (f'group {self.arm_group!r} has a {info.profile_type!r} profile, which reads '
                    "moving_time_s as a speed; set profile_type: time in the driver's "
                    'modes.yaml')
        return None

    def on_joint_states(self, msg: JointState) -> None:
        """Feed measured arm positions (by name) to the watchdog and step limiter.

        A state missing a joint, short or non-finite makes the arm hold until a good one
        arrives; the status says why once, and again when it clears.
        """
        self.stop_gripper_at_limit(msg)
        if self.safety is None:
            return
        positions = topics.positions_by_name(msg, self.safety.limits.names)
        if positions is None:
            missing = [n for n in self.safety.limits.names if n not in msg.name]
            fault = self.safety.reject_state(
                f'missing joints {missing}' if missing else
                f'{len(msg.position)} positions for {len(msg.name)} names')
        else:
            fault = self.safety.observe(positions, time.monotonic())
        if fault != self._state_fault_reported:
            self._state_fault_reported = fault
            self.report(f'holding: bad joint state: {fault}' if fault else 'joint state good',
                        'warn' if fault else 'ok')

    def on_action(self, msg: JointState) -> None:
        """Filter one requested target and forward it to the driver."""
        if self.safety is None:
            self.report('refused: no robot info from the driver yet', 'warn', throttle_s=2.0)
            return
        requested = dict(zip(msg.name, msg.position))
        missing = [name for name in self.safety.limits.names if name not in requested]
        if missing:
            self.report(f'refused: {topics.ACTION} is missing joints {missing}', 'warn',
                        throttle_s=2.0)
            return
        target = [requested[name] for name in self.safety.limits.names]
        decision = self.safety.filter(target, time.monotonic())
        if decision.reasons:
            self.report(('refused: ' if decision.refused else 'adjusted: ')
                        + '; '.join(decision.reasons), 'warn', throttle_s=2.0)
        if decision.refused and not decision.gripper_allowed:
            return
        if not decision.refused:
            self.group_pub.publish(JointGroupCommand(
                name=self.arm_group, cmd=decision.command.astype(np.float32).tolist()))
        if topics.GRIPPER in requested and np.isfinite(requested[topics.GRIPPER]):
            self.command_gripper(requested[topics.GRIPPER] > GRIPPER_OPEN_ABOVE)

    def command_gripper(self, open_gripper: bool) -> None:
        """PWM open/close, sent on change only like Interbotix's gripper interface."""
        if open_gripper == self._last_gripper_open:
            return
        if self._gripper_mode is None:
            self.report("gripper command held: get_robot_info has not said the gripper's mode "
                        'yet', 'warn', throttle_s=2.0)
            return
        if self._gripper_mode != GRIPPER_MODE:
            return   # refused: said when the driver answered
        self._last_gripper_open = open_gripper
        pwm = self.gripper_pwm if open_gripper else -self.gripper_pwm
        self.single_pub.publish(JointSingleCommand(name=topics.GRIPPER, cmd=float(pwm)))
        self._gripper_moving = True

    def stop_gripper_at_limit(self, msg: JointState) -> None:
        """PWM 0 once the fingers reach the limit they are driven to, as Interbotix does.

        A gripper opened all the way, or closed on nothing, would otherwise stall against
        its end stop until the servo overloads and drops its torque; one closed on an
        object stops short of the limit and keeps its grip.
        """
        if not self._gripper_moving or self._finger is None:
            return
        name, lower, upper = self._finger
        found = topics.positions_by_name(msg, [name])
        if found is None:
            return
        position, = found
        if (position >= upper - FINGER_LIMIT_TOLERANCE_M) if self._last_gripper_open \
                else (position <= lower + FINGER_LIMIT_TOLERANCE_M):
            self.single_pub.publish(JointSingleCommand(name=topics.GRIPPER, cmd=0.0))
            self._gripper_moving = False

    def set_estop(self, engaged: bool) -> None:
        """Latch or release the e-stop (works before robot info arrives too), and say so."""
        self._pending_estop = engaged
        if self.safety is not None:
            (self.safety.engage_estop if engaged else self.safety.release_estop)()
        self.estopped_pub.publish(Bool(data=engaged))
        self.report('e-stop engaged' if engaged else 'e-stop released', 'warn' if engaged else 'ok')

    def on_estop_topic(self, msg: Bool) -> None:
        """``/lam/estop`` true latches, false releases."""
        self.set_estop(msg.data)

    def on_estop_service(self, request: SetBool.Request, response: SetBool.Response):
        """``~/estop`` service twin of the topic."""
        self.set_estop(request.data)
        response.success = True
        response.message = 'e-stop engaged' if request.data else 'e-stop released'
        return response


NODE_CLASS = ArmNode


def main(args=None) -> int:
    """Run the arm node alone: ``ros2 run lam_ros arm``."""
    return node_main(ArmNode, args)
