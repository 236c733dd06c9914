# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Sim node: the simulated WidowX 250s and its cameras, behind the hardware's ROS interfaces.

It stands in for two pieces of hardware at once, like a Gazebo bridge would:
the Interbotix ``xs_sdk`` driver (``/<robot_name>/joint_states``, command
topics, ``get_robot_info`` and the motor services) and RealSense cameras
(realsense2_camera topics). It also exposes what only a simulator knows: the
scripted expert's next action (``/sim/expert_action``), the task success
predicate (``/sim/success``), and ``/sim/reset`` for a new randomized scene.
In ``mode:=human`` the arm is hidden and the simulated human demonstrator
does the task by itself, reaching in from behind the base where the arm stands.
The first camera (``cameras[0]``) renders ``policy_camera`` (default ``ego``: the
operator's head behind the robot base, the view robot and human episodes share); the
others render the scene's remaining cameras. Each scene's colours, light and head pose
are drawn from its seed unless ``randomize:=false``.

MuJoCo state and the OpenGL context belong to one thread, the simulation
loop; ROS callbacks only queue work for it.
"""
from __future__ import annotations

import json
import queue
import threading
import time

from interbotix_xs_msgs.msg import JointGroupCommand, JointSingleCommand
from interbotix_xs_msgs.srv import (
    OperatingModes,
    Reboot,
    RegisterValues,
    RobotInfo,
    TorqueEnable,
)
import numpy as np
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger

from lam_ros.app.runtime import ConfigError, LamNode, node_main
from lam_ros.control.kinematics import ROBOT_SPECS
from lam_ros.hardware.camera_source import CameraFrame
from lam_ros.interfaces import topics
from lam_ros.interfaces.camera_msgs import frame_messages
from lam_ros.sim.actions import apply_hand_motion, ee_delta_joint_targets
from lam_ros.sim.env import WidowXEnv
from lam_ros.sim.experts import ScriptedExpert
from lam_ros.sim.tasks import TASKS

SIM_CAMERAS = {'robot': ('ego', 'third_person', 'wrist'), 'human': ('ego', 'third_person')}


class SimNode(LamNode):
    """Steps MuJoCo in wall-clock time and serves the xs_sdk and RealSense interfaces."""

    def __init__(self, node_name: str = 'sim', **kwargs):
        super().__init__(node_name, **kwargs)
        self.mode = self.param('mode', 'robot', 'robot: arm demos; human: hand demos',
                               choices=sorted(SIM_CAMERAS))
        robot_model = self.param('robot_model', 'wx250s', 'Interbotix arm model',
                                 choices=sorted(ROBOT_SPECS))
        robot_name = self.param('robot_name', 'wx250s', 'xs_sdk namespace',
                                pattern=topics.NAME_PATTERN)
        task = self.param('task', 'pick_place', 'task of the scene', choices=sorted(TASKS))
        self.seed = self.param('seed', 0, 'seed of the first scene; each reset adds one', low=0)
        cameras = self.param('cameras', ['camera'], 'camera names (realsense namespaces)',
                             min_length=1, pattern=topics.NAME_PATTERN)
        policy_camera = self.param('policy_camera', 'ego',
                                   'sim camera rendered into the first camera',
                                   choices=sorted(SIM_CAMERAS['robot']))
        randomize = self.param('randomize', True, 'per-scene colours, light and head pose')
        self.width = self.param('image_width', 128, 'rendered width', low=16, high=1920)
        self.height = self.param('image_height', 128, 'rendered height', low=16, high=1080)
        joint_rate = self.param('joint_state_rate_hz', 100.0, 'joint_states rate',
                                above=0.0, high=1000.0)
        camera_rate = self.param('camera_rate_hz', 10.0, 'camera rate', above=0.0, high=120.0)
        self.control_dt = 1.0 / self.param('control_rate_hz', 10.0, 'expert / hand step rate',
                                           above=0.0, high=100.0)
        scene_cameras = SIM_CAMERAS[self.mode]
        if policy_camera not in scene_cameras:
            raise ConfigError(f'sim: policy_camera {policy_camera!r} is not a camera of the '
                              f'{self.mode} scene {list(scene_cameras)}')
        if len(cameras) > len(scene_cameras):
            raise ConfigError(f'sim: {len(cameras)} cameras asked, the {self.mode} scene has '
                              f'{list(scene_cameras)}')
        try:
            self.env = WidowXEnv(task, robot_model, self.mode, 'ee_delta', camera=None,
                                 randomize=randomize)
        except ValueError as error:
            raise ConfigError(f'sim: {error}') from None
        self.sim = self.env.sim
        order = (policy_camera, *(c for c in scene_cameras if c != policy_camera))
        self.cameras = dict(zip(cameras, order))
        self.expert: ScriptedExpert | None = None
        self.reset_scene()

        arm = topics.arm_topics(robot_name)
        self.joint_pub = self.create_publisher(JointState, arm['joint_states'], 10)
        self.create_subscription(JointGroupCommand, arm['joint_group'], self.on_group, 10)
        self.create_subscription(JointSingleCommand, arm['joint_single'], self.on_single, 10)
        self.create_service(RobotInfo, arm['get_robot_info'], self.on_robot_info)
        self.create_service(TorqueEnable, arm['torque_enable'], self.on_torque)
        self.create_service(Reboot, arm['reboot_motors'], lambda req, res: res)
        self.create_service(OperatingModes, arm['set_operating_modes'], lambda req, res: res)
        self.create_service(RegisterValues, arm['set_motor_registers'], lambda req, res: res)
        self.camera_pubs = {}
        for camera in self.cameras:
            names = topics.camera_topics(camera)
            self.camera_pubs[camera] = {
                'color': self.create_publisher(Image, names['color'], 10),
                'color_info': self.create_publisher(CameraInfo, names['color_info'], 10)}
        self.expert_pub = self.create_publisher(JointState, topics.SIM_EXPERT_ACTION, 10)
        self.success_pub = self.create_publisher(Bool, topics.SIM_SUCCESS, 10)
        self.task_pub = self.create_publisher(String, topics.TASK, topics.LATCHED)
        self.create_service(Trigger, topics.SIM_RESET, self.on_reset)
        self.publish_task()

        self._work: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.simulate, args=(
            1.0 / joint_rate, 1.0 / camera_rate), name='sim-loop', daemon=True)
        self._thread.start()

    def simulate(self, physics_period: float, camera_period: float) -> None:
        """The simulation loop: queued commands, physics, joint states, cameras, control."""
        last = next_camera = next_control = next_physics = time.monotonic()
        try:
            while not self._stop.is_set():
                while not self._work.empty():
                    self._work.get()()
                now = time.monotonic()
                self.step_physics(min(now - last, 0.05))
                last = now
                if now >= next_control:
                    next_control = _next_tick(next_control, self.control_dt, now)
                    self.control_step()
                if now >= next_camera:
                    next_camera = _next_tick(next_camera, camera_period, now)
                    self.publish_cameras()
                # A fixed schedule (not a fixed sleep) keeps the average joint state rate exact.
                next_physics = _next_tick(next_physics, physics_period, time.monotonic())
                time.sleep(max(0.0, next_physics - time.monotonic()))
        finally:
            self.sim.close()   # GL contexts are freed by the thread that made them current

    def run_in_sim_thread(self, work, wait_s: float | None = None) -> bool:
        """Queue ``work`` for the simulation loop; optionally wait until it has run."""
        if wait_s is None:
            self._work.put(work)
            return True
        finished = threading.Event()
        self._work.put(lambda: (work(), finished.set()))
        return finished.wait(wait_s)

    # -- scene ---------------------------------------------------------------------------------
    def reset_scene(self) -> None:
        """A new randomized scene (next seed) and a fresh scripted demonstrator."""
        self.env.reset(seed=self.seed)
        self.expert = ScriptedExpert(self.env.task, self.sim, self.mode,
                                     np.random.default_rng(self.seed + 1))
        self.seed += 1

    def on_reset(self, request, response):
        """``/sim/reset``: runs in the simulation loop; answers once the new scene exists."""
        response.success = self.run_in_sim_thread(self.reset_scene, wait_s=5.0)
        self.publish_task()
        response.message = f'scene seed {self.seed - 1}' if response.success else 'timed out'
        return response

    def publish_task(self) -> None:
        """Latched task description for the recorder's episode metadata."""
        self.task_pub.publish(String(data=json.dumps({
            'task': self.env.task.name, 'instruction': self.env.task.instruction,
            'seed': self.seed - 1})))

    # -- xs_sdk interface ---------------------------------------------------------------------
    def on_group(self, msg: JointGroupCommand) -> None:
        """Arm joint targets (xs_sdk 'arm' group, position mode)."""
        self.run_in_sim_thread(lambda: self.apply_group(msg))

    def apply_group(self, msg: JointGroupCommand) -> None:
        """Set the arm servo targets (simulation thread)."""
        arm_joints = self.sim.arm_joint_names
        if msg.name != 'arm' or len(msg.cmd) != len(arm_joints):
            self.get_logger().error(f'joint_group: expected group arm with {len(arm_joints)} '
                                    f'values, got {msg.name!r} with {len(msg.cmd)}')
            return
        targets = self.sim.joint_targets()
        targets[:len(arm_joints)] = msg.cmd
        self.sim.set_joint_targets(targets)

    def on_single(self, msg: JointSingleCommand) -> None:
        """Gripper in xs_sdk's default PWM mode: positive opens, negative closes."""
        self.run_in_sim_thread(lambda: self.apply_single(msg))

    def apply_single(self, msg: JointSingleCommand) -> None:
        """Set the finger target (simulation thread)."""
        if msg.name != topics.GRIPPER:
            self.get_logger().error(f'joint_single: only {topics.GRIPPER!r} is supported, '
                                    f'got {msg.name!r}')
            return
        if msg.cmd == 0:
            return   # no effort: the fingers stay where they are (sent at a finger's limit)
        limits = self.sim.joint_limits['left_finger']
        targets = self.sim.joint_targets()
        targets[-1] = limits.upper if msg.cmd > 0 else limits.lower
        self.sim.set_joint_targets(targets)

    def on_robot_info(self, request, response):
        """Limits of the 'arm' group or of the gripper, as xs_sdk reports them."""
        if request.cmd_type == 'group' and request.name in ('arm', 'all'):
            names = list(self.sim.arm_joint_names)
        elif request.cmd_type == 'single' and request.name in (topics.GRIPPER, 'left_finger'):
            names = ['left_finger']
        else:
            self.get_logger().error(f'get_robot_info: unknown {request.cmd_type} '
                                    f'{request.name!r}')
            return response
        limits = [self.sim.joint_limits[name] for name in names]
        all_names = list(self.sim.joint_names)
        # xs_sdk's stock modes.yaml: the arm by position, the gripper by PWM (on_joint_single)
        response.mode = 'pwm' if request.cmd_type == 'single' else 'position'
        response.profile_type = 'time'
        response.joint_names = names
        response.joint_ids = [all_names.index(n) + 1 for n in names]
        response.joint_lower_limits = [limit.lower for limit in limits]
        response.joint_upper_limits = [limit.upper for limit in limits]
        response.joint_velocity_limits = [limit.velocity for limit in limits]
        response.joint_sleep_positions = [0.0] * len(names)
        response.joint_state_indices = [all_names.index(n) for n in names]
        response.num_joints = len(names)
        response.name = [request.name]
        return response

    def on_torque(self, request, response):
        """Accepted: the simulated servos are always torqued."""
        return response

    # -- stepping -----------------------------------------------------------------------------
    def step_physics(self, elapsed: float) -> None:
        """Advance physics by ``elapsed`` wall seconds, publish joint states."""
        self.sim.step(elapsed)
        msg = JointState(name=list(self.sim.joint_names),
                         position=self.sim.joint_positions().tolist(),
                         velocity=self.sim.joint_velocities().tolist(),
                         effort=self.sim.joint_efforts().tolist())
        msg.header.stamp = self.get_clock().now().to_msg()
        self.joint_pub.publish(msg)

    def control_step(self) -> None:
        """Success predicate; the expert's suggestion (robot) or the hand's move (human)."""
        self.success_pub.publish(Bool(data=bool(self.env.task.success(self.sim))))
        if self.expert is None:
            return
        motion = self.expert.act()
        if self.mode == 'human':
            apply_hand_motion(self.sim, motion)
            return
        arm_targets, gripper = ee_delta_joint_targets(self.sim, motion)
        msg = JointState(name=[*self.sim.arm_joint_names, topics.GRIPPER],
                         position=[*map(float, arm_targets), float(gripper)])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.expert_pub.publish(msg)

    def publish_cameras(self) -> None:
        """Render every camera and publish it like a RealSense would."""
        now = time.time()
        for camera, sim_camera in self.cameras.items():
            intrinsics = self.sim.camera_info(sim_camera, self.width, self.height,
                                              f'{camera}_color_optical_frame')
            frame = CameraFrame(self.sim.render(sim_camera, self.width, self.height), None,
                                now, 'system_time', now, 0, intrinsics)
            messages = frame_messages(frame)
            for key, publisher in self.camera_pubs[camera].items():
                publisher.publish(messages[key])

    def on_shutdown(self) -> None:
        """Stop the loop; it frees the GL contexts on its way out (its thread owns them)."""
        self._stop.set()
        self._thread.join(timeout=5.0)


def _next_tick(previous: float, period: float, now: float) -> float:
    """Next tick of a fixed-rate schedule.

    Late ticks are caught up, so rates hold on a busy machine; only a stall of
    over a second resynchronises instead of bursting.
    """
    upcoming = previous + period
    return upcoming if upcoming > now - 1.0 else now


NODE_CLASS = SimNode


def main(args=None) -> int:
    """Run the simulated arm and cameras: ``ros2 run lam_ros sim``."""
    return node_main(SimNode, args)
