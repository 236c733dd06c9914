# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Teleop node: the operator. Turns a device into ``/lam/action`` and runs episodes.

Devices (parameter ``device``):
  scripted    the simulator's expert (``/sim/expert_action``) drives; episodes are
              reset, recorded and saved automatically (``episodes`` of them)
  keyboard    terminal keys jog the gripper: w/s x, a/d y, r/f z, q/e yaw,
              space toggles the gripper; Enter start/stop an episode (saved as a success),
              n stop it saved as a failure, x discard, Esc e-stop
  joy         sensor_msgs/Joy on ``/joy``: left stick x/y, right stick z/yaw; buttons
              (``joy_buttons``, once per press) gripper, start/stop an episode (a success),
              stop it as a failure, discard: 0, 1, 2, 3 by default (an Xbox pad's A B X Y)
  spacemouse  a 3Dconnexion SpaceMouse through pyspacemouse (when one is attached)
  leader      a second WidowX's joint states (``/<leader_robot_name>/joint_states``)

While the arm node is e-stopped (``/lam/estopped``) nothing is sent and jogs are dropped; on
release the jog restarts from where the arm is and a leader must meet the follower again,
so the arm never jumps to where the operator steered meanwhile.

An episode's success is the simulator's task predicate where a simulator publishes one
(``/sim/success``); on hardware it is the operator's: Enter saves a success, n a failure
(``lam-ros dataset build --successful-only`` leaves failures out).
"""
from __future__ import annotations

import sys
import threading
import time

import numpy as np
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Bool
from std_srvs.srv import SetBool, Trigger

from lam_models.data.episode import CONTROL_RATE_HZ, EMBODIMENTS
from lam_ros.app.runtime import ConfigError, LamNode, node_main
from lam_ros.control.kinematics import GRIPPER_OPEN_ABOVE, ROBOT_SPECS, robot_spec
from lam_ros.control.teleop import EndEffectorJog, LeaderFollower, gripper_opening
from lam_ros.interfaces import topics

DEVICES = ('scripted', 'keyboard', 'joy', 'spacemouse', 'leader')
KEY_JOGS = {'w': (0, 1), 's': (0, -1), 'a': (1, 1), 'd': (1, -1), 'r': (2, 1), 'f': (2, -1),
            'q': (5, 1), 'e': (5, -1)}


class TeleopNode(LamNode):
    """Publishes operator commands and drives the recorder's episode services."""

    def __init__(self, node_name: str = 'teleop', **kwargs):
        super().__init__(node_name, **kwargs)
        self.device = self.param('device', 'keyboard', 'teleop device', choices=DEVICES)
        self.mode = self.param('mode', 'robot', 'robot or human (human: episodes only)',
                               choices=EMBODIMENTS)
        self.robot_model = self.param('robot_model', 'wx250s', 'Interbotix arm model',
                                      choices=sorted(ROBOT_SPECS))
        robot_name = self.param('robot_name', 'wx250s', 'xs_sdk namespace of the follower',
                                pattern=topics.NAME_PATTERN)
        rate_hz = self.param('rate_hz', CONTROL_RATE_HZ, 'command rate (a dataset keeps one '
                             'frame per command)', above=0.0, high=200.0)
        self.episodes = self.param('episodes', 0, 'scripted: stop after N episodes (0: never)',
                                   low=0)
        self.max_steps = self.param('max_steps', 120, 'scripted: steps before giving up',
                                    low=1)
        self.linear_step = self.param('linear_step_m', 0.01, 'jog per tick at full deflection',
                                      above=0.0, high=0.05)
        self.angular_step = self.param('angular_step_rad', 0.05, 'rotation jog per tick',
                                       above=0.0, high=0.5)
        leader_name = self.param('leader_robot_name', 'leader', 'leader arm namespace',
                                 pattern=topics.NAME_PATTERN)
        self.joy_buttons = self.param('joy_buttons', [0, 1, 2, 3], 'joy: button indices of '
                                      'gripper, start/stop (success), stop as failure, discard',
                                      length=4, low=0, high=63)
        if len(set(self.joy_buttons)) < 4:
            raise ConfigError(f'node {self.get_name()!r}: parameter joy_buttons '
                              f'{self.joy_buttons}: four different buttons')
        self.leader = LeaderFollower(
            self.param('leader_max_start_error_rad', 0.3, above=0.0, high=1.0),
            self.param('leader_ramp_s', 2.0, low=0.0, high=30.0))
        self.leader_gripper_rad = (   # the leader's gripper joint shut and open (rad)
            self.param('leader_gripper_closed_rad', -0.6842, low=-3.2, high=3.2),
            self.param('leader_gripper_open_rad', 0.3083, low=-3.2, high=3.2))
        if self.leader_gripper_rad[0] == self.leader_gripper_rad[1]:
            raise ConfigError(f'node {self.get_name()!r}: parameters leader_gripper_closed_rad '
                              'and leader_gripper_open_rad are equal')
        self.joint_names = list(robot_spec(self.robot_model).joints)
        self.workspace = self.workspace_param(self.robot_model)   # the arm node's: jogs stay in it
        if self.device == 'keyboard' and not sys.stdin.isatty():
            # `ros2 launch` gives its nodes no terminal: the keys would never arrive
            raise ConfigError(f'node {self.get_name()!r}: parameter device=keyboard needs a '
                              'terminal on stdin, which ros2 launch does not give its nodes: '
                              'run the graph with `lam-ros collect ...` (this terminal), or '
                              'with teleop:=none and `ros2 run lam_ros teleop` in another')

        self.follower: np.ndarray | None = None
        self.leader_q: np.ndarray | None = None
        self.jogger: EndEffectorJog | None = None
        self.gripper = 1.0
        self.pending_jog = np.zeros(6)
        self.joy_held: set[int] = set()   # buttons down in the last /joy message
        self.expert: JointState | None = None
        self.success = False
        self.sim_judges = False   # a simulator publishes the task predicate: it decides
        self.episode_state = 'idle'
        self.estopped = False
        self.steps = 0
        self.episodes_done = 0

        self.action_pub = self.create_publisher(JointState, topics.ACTION, 10)
        self.estop_pub = self.create_publisher(Bool, topics.ESTOP, topics.LATCHED)
        self.create_subscription(JointState, topics.arm_topics(robot_name)['joint_states'],
                                 self.on_follower_state, 10)
        self.create_subscription(Bool, topics.SIM_SUCCESS, self.on_success, 10)
        self.create_subscription(Bool, topics.ESTOPPED, self.on_estopped, topics.LATCHED)
        self.start_client = self.create_client(Trigger, topics.RECORDER_START)
        self.stop_client = self.create_client(SetBool, topics.RECORDER_STOP)
        self.discard_client = self.create_client(Trigger, topics.RECORDER_DISCARD)
        self.reset_client = self.create_client(Trigger, topics.SIM_RESET)

        if self.device == 'scripted':
            self.create_subscription(JointState, topics.SIM_EXPERT_ACTION, self.on_expert, 10)
        elif self.device == 'joy':
            self.create_subscription(Joy, topics.JOY, self.on_joy, 10)
        elif self.device == 'leader':
            self.create_subscription(JointState, topics.arm_topics(leader_name)['joint_states'],
                                     self.on_leader_state, 10)
        elif self.device == 'keyboard':
            threading.Thread(target=self.read_keyboard, daemon=True).start()
        elif self.device == 'spacemouse':
            self.spacemouse = _open_spacemouse()
        self.create_timer(1.0 / rate_hz, self.tick)

    # -- inputs -------------------------------------------------------------------------------
    def on_follower_state(self, msg: JointState) -> None:
        """Current follower joints (arm only, in description order)."""
        positions = topics.positions_by_name(msg, self.joint_names)
        if positions is not None:
            self.follower = np.array(positions)

    def on_leader_state(self, msg: JointState) -> None:
        """Leader joints, and its gripper opening (0..1, from its joint's angle) if reported."""
        positions = topics.positions_by_name(msg, self.joint_names)
        if positions is not None:
            self.leader_q = np.array(positions)
        gripper = topics.positions_by_name(msg, [topics.GRIPPER])
        if gripper is not None and np.isfinite(gripper[0]):
            self.gripper = gripper_opening(gripper[0], *self.leader_gripper_rad)

    def on_expert(self, msg: JointState) -> None:
        """The simulator's expert suggestion for this step."""
        self.expert = msg

    def on_estopped(self, msg: Bool) -> None:
        """The arm node's e-stop state: hold while engaged, restart from the arm on release."""
        if self.estopped and not msg.data:
            self.jogger = None       # re-read from the measured follower at the next tick
            self.leader.disengage()  # the leader must meet the follower again
        self.estopped = msg.data

    def on_success(self, msg: Bool) -> None:
        """The simulator's task success predicate."""
        self.success, self.sim_judges = msg.data, True

    def on_joy(self, msg: Joy) -> None:
        """Sticks jog; a button acts once per press.

        joy_node repeats its message (a held button in it) at 20 Hz while a stick is off
        centre: acting on every message toggled the gripper as often as it repeated.
        """
        axes = list(msg.axes) + [0.0] * 6
        self.pending_jog = np.array([axes[1], axes[0], axes[4], 0.0, 0.0, axes[3]])
        held = {index for index, value in enumerate(msg.buttons) if value}
        pressed, self.joy_held = held - self.joy_held, held
        gripper, episode, failed, discard = self.joy_buttons
        if gripper in pressed:
            self.toggle_gripper()
        if episode in pressed:
            self.toggle_episode()
        if failed in pressed:
            self.toggle_episode(succeeded=False)
        if discard in pressed:
            self.discard_episode()

    def read_keyboard(self) -> None:
        """Terminal keys, in raw mode (stdin is a TTY: checked at start-up)."""
        import termios
        import tty
        settings = termios.tcgetattr(sys.stdin)
        try:
            tty.setcbreak(sys.stdin.fileno())
            while not self.done.is_set():
                self.on_key(sys.stdin.read(1))
        finally:
            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, settings)

    def on_key(self, key: str) -> None:
        """One key press."""
        if key in KEY_JOGS:
            axis, sign = KEY_JOGS[key]
            self.pending_jog[axis] += sign
        elif key == ' ':
            self.toggle_gripper()
        elif key in ('\n', '\r'):
            self.toggle_episode()
        elif key == 'n':
            self.toggle_episode(succeeded=False)
        elif key == 'x':
            self.discard_episode()
        elif key == '\x1b':
            self.estop_pub.publish(Bool(data=True))
            self.report('e-stop sent')

    # -- output -------------------------------------------------------------------------------
    def tick(self) -> None:
        """One command step (and, when scripted, one step of the episode loop)."""
        if self.device == 'scripted':
            self.scripted_episode_step()
            return
        if self.mode == 'human' or self.follower is None:
            return
        if self.estopped:
            self.pending_jog = np.zeros(6)
            return
        if self.device == 'leader':
            if self.leader_q is None:
                return
            target, status = self.leader.target(self.leader_q, self.follower, time.monotonic())
            if target is None:
                self.report(status)
                return
            self.publish_action(target)
            return
        if self.device == 'spacemouse':
            state = self.spacemouse.read()
            self.pending_jog = np.array([state.y, -state.x, state.z, 0.0, 0.0, -state.yaw])
        self.jogger = self.jogger or EndEffectorJog(self.robot_model, self.follower,
                                                    self.workspace)
        jog = np.concatenate([self.pending_jog[:3] * self.linear_step,
                              self.pending_jog[3:] * self.angular_step])
        self.pending_jog = np.zeros(6)
        target, reached = self.jogger.jog(jog)
        if not reached:
            self.report('jog not reachable: ignored')
        self.publish_action(target)

    def publish_action(self, arm_targets: np.ndarray) -> None:
        """``/lam/action``: arm joint targets + gripper opening."""
        msg = JointState(name=[*self.joint_names, topics.GRIPPER],
                         position=[*map(float, arm_targets), float(self.gripper)])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.action_pub.publish(msg)

    def toggle_gripper(self) -> None:
        """Open a closed gripper, close an open one."""
        self.gripper = 0.0 if self.gripper > GRIPPER_OPEN_ABOVE else 1.0

    # -- episodes -----------------------------------------------------------------------------
    def discard_episode(self) -> None:
        """Drop the episode being recorded (nothing of it is saved)."""
        self.call(self.discard_client, Trigger.Request(), 'idle')

    def toggle_episode(self, succeeded: bool = True) -> None:
        """Start recording, or stop and save: a success if the sim says so, else if the operator.

        ``succeeded``: the operator's verdict (Enter: True, n: False), asked only on
        hardware; an n while idle starts nothing.
        """
        if self.episode_state == 'recording':
            success = self.success if self.sim_judges else succeeded
            self.call(self.stop_client, SetBool.Request(data=success), 'idle')
        elif self.episode_state == 'idle' and succeeded:
            self.call(self.start_client, Trigger.Request(), 'recording')

    def scripted_episode_step(self) -> None:
        """Reset sim -> start -> follow the expert until success or max_steps -> stop."""
        if self.episode_state == 'idle':
            if self.episodes and self.episodes_done >= self.episodes:
                self.report(f'recorded {self.episodes_done} episodes: done')
                self.done.set()
                return
            self.success, self.expert = False, None
            self.call(self.reset_client, Trigger.Request(), 'reset')
        elif self.episode_state == 'reset':
            self.steps = 0
            self.call(self.start_client, Trigger.Request(), 'recording')
        elif self.episode_state == 'recording':
            self.steps += 1
            if self.mode == 'robot' and self.expert is not None:
                self.expert.header.stamp = self.get_clock().now().to_msg()
                self.action_pub.publish(self.expert)
            if self.success or self.steps >= self.max_steps:
                self.episodes_done += 1
                self.call(self.stop_client, SetBool.Request(data=self.success), 'idle')

    def call(self, client, request, next_state: str) -> None:
        """Call an episode service; move to ``next_state`` when it succeeds.

        One call at a time: a second while one is in flight is refused (a discard behind a
        stop would fail once the stop had saved, and restore the state 'waiting' for good).
        """
        if self.episode_state == 'waiting':
            self.report(f'{client.srv_name}: ignored, the last episode call is not answered yet')
            return
        if not client.service_is_ready():
            self.report(f'waiting for {client.srv_name}', throttle_s=5.0)
            return
        previous, self.episode_state = self.episode_state, 'waiting'

        def done(future):
            result = future.result()
            if result is not None and result.success:
                self.episode_state = next_state
                self.report(f'{client.srv_name}: {result.message}')
            else:
                self.episode_state = previous
                self.report(f'{client.srv_name} failed: '
                            f'{result.message if result else "no answer"}')
        client.call_async(request).add_done_callback(done)


def _open_spacemouse():
    try:
        import pyspacemouse
    except ImportError:
        raise ConfigError('device spacemouse needs `pip install pyspacemouse` (and hidapi)'
                          ) from None
    if not pyspacemouse.open():
        raise ConfigError('no SpaceMouse found (check USB and udev permissions)')
    return pyspacemouse


NODE_CLASS = TeleopNode


def main(args=None) -> int:
    """Run the operator alone: ``ros2 run lam_ros teleop --ros-args -p device:=keyboard``."""
    return node_main(TeleopNode, args)
