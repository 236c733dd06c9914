# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Controller node: the deploy loop. Observation in, ``/lam/action`` out, at a fixed rate.

Every command still goes through the arm node's safety layer. The controller adds its
own guards: it sends nothing while the camera image or joint state it would act on is
older than ``max_observation_age_s``, nothing after an e-stop (``/lam/estop``, or the arm
node's ``/lam/estopped`` state, which its ``~/estop`` service sets too) or a non-finite policy
output, and ramps to (or refuses) a first target far from the arm (``startup_guard``).

``checkpoint:=<policy checkpoint>`` runs a learned policy (its type, sizes and action space
come from the checkpoint) through :class:`lam_ros.control.policy_control.PolicyRunner`: the
forward pass runs off the executor thread. Without a checkpoint the controller relays the
simulator's scripted expert (``/sim/expert_action``), which exercises the loop in sim.
``~/reset`` (std_srvs/Trigger) forgets the observation history and re-arms the start-up
guard: call it with every new scene. With ``go_to_start`` the policy first takes the arm to
where its demos began (the checkpoint's ``start_pose``), at start and after each reset or
e-stop release; not after an observation outage, which it resumes from where the arm is.
"""
from __future__ import annotations

import time

import numpy as np
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from lam_models.data.bags import header_stamp_ns
from lam_models.data.episode import CONTROL_RATE_HZ, RATE_TOLERANCE
from lam_models.data.images import image_to_rgb
from lam_ros.app.runtime import ConfigError, LamNode, node_main
from lam_ros.control.kinematics import FINGER_JOINTS, robot_spec
from lam_ros.control.policy_control import (
    STARTUP_GUARDS,
    PolicyRefused,
    PolicyRunner,
    StateHistory,
    policy_action_mode,
)
from lam_ros.interfaces import topics

ASPECT_TOLERANCE = 0.02   # a frame's width / height this close to the data's is the same camera


class ControllerNode(LamNode):
    """Runs a policy in closed loop on the freshest observation."""

    def __init__(self, node_name: str = 'controller', **kwargs):
        super().__init__(node_name, **kwargs)
        robot_model = self.param('robot_model', 'wx250s', 'Interbotix arm model')
        robot_name = self.param('robot_name', 'wx250s', 'xs_sdk namespace',
                                pattern=topics.NAME_PATTERN)
        cameras = self.param('cameras', ['camera'], 'camera names, the policy camera first',
                             min_length=1, pattern=topics.NAME_PATTERN)
        self.checkpoint = self.param('checkpoint', '', 'learned policy checkpoint '
                                     '(empty: relay the sim expert)')
        rate_hz = self.param('rate_hz', 0.0, "control rate; 0: the checkpoint's data rate "
                             f'({CONTROL_RATE_HZ:g} without a checkpoint)', low=0.0, high=1000.0)
        self.max_age_s = self.param('max_observation_age_s', 0.5, 'watchdog on observations',
                                    above=0.0, high=5.0)
        guard = self.param('startup_guard', 'ramp', 'far first target: ramp or refuse',
                           choices=STARTUP_GUARDS)
        max_jump = self.param('startup_max_jump_rad', 0.3, 'first target farther than this '
                              '(any joint) engages the start-up guard', above=0.0, high=3.2)
        ramp_step = self.param('startup_step_rad', 0.05, 'joint step of the start-up ramp',
                               above=0.0, high=0.5)
        device = self.param('device', 'cpu', 'torch device of the policy',
                            choices=('cpu', 'cuda'))
        prefetch = self.param('prefetch_actions', 1, 'ask for the next chunk while this many '
                              'actions are left (0: observe after the chunk, as lam-ros eval)',
                              low=0, high=64)
        threads = self.param('inference_threads', 1, 'CPU threads of the forward pass (one '
                             'leaves the other cores to the sim/driver and beats two under load)',
                             low=1, high=256)
        self.go_to_start = self.param('go_to_start', True, "first move the arm to the policy's "
                                      "demos' start pose (at start, ~/reset, e-stop release)")
        self.start_tolerance = self.param('start_tolerance_rad', 0.2, 'arm this close (every '
                                          'joint) to the start pose is there', above=0.0,
                                          high=1.0)
        try:
            self.spec = robot_spec(robot_model)
        except ValueError as error:
            raise ConfigError(f'controller: robot_model:={robot_model}: {error}') from None
        self.workspace = self.workspace_param(robot_model)   # the arm node's: targets stay in it
        self.state_names = [*self.spec.joints, *FINGER_JOINTS]   # the sim's; a policy's own below
        self.rate_hz = rate_hz or CONTROL_RATE_HZ                 # a policy's own below
        self.learned_aspect = 0.0   # the policy's frames' width / height (0: not checked)
        self.runner = self._load_runner(device, guard, max_jump, ramp_step, threads, prefetch,
                                        rate_hz)
        self.image: tuple[float, np.ndarray, int] | None = None   # (arrival, rgb, stamp ns)
        self.joints: tuple[float, np.ndarray, np.ndarray] | None = None  # (arrival, state, arm)
        self.states = StateHistory()   # the policy's state by stamp: a frame's own, below
        self.observed_image_at = -1.0
        self.topic_estop = self.arm_estopped = False   # /lam/estop; the arm's latch
        self.suggestion: JointState | None = None
        self.action_pub = self.create_publisher(JointState, topics.ACTION, 10)
        self.create_subscription(Image, topics.camera_topics(cameras[0])['color'],
                                 self.on_image, 10)
        self.create_subscription(JointState, topics.arm_topics(robot_name)['joint_states'],
                                 self.on_joints, 10)
        for qos in topics.ESTOP_QOS:   # as the arm node: any publisher
            self.create_subscription(Bool, topics.ESTOP, self.on_estop, qos)
        # and the arm's own state, which also follows its ~/estop service
        self.create_subscription(Bool, topics.ESTOPPED, self.on_arm_estopped, topics.LATCHED)
        if self.runner is None:
            self.create_subscription(JointState, topics.SIM_EXPERT_ACTION, self.on_expert, 10)
        self.create_service(Trigger, topics.CONTROLLER_RESET, self.on_reset)
        self.create_timer(1.0 / self.rate_hz, self.tick)

    def _load_runner(self, device: str, guard: str, max_jump: float, ramp_step: float,
                     threads: int, prefetch: int, rate_hz: float) -> PolicyRunner | None:
        if not self.checkpoint:
            return None
        import torch
        torch.set_num_threads(threads)
        if device == 'cuda' and not torch.cuda.is_available():
            raise ConfigError('controller: parameter device=cuda, but torch sees no CUDA device '
                              '(a CPU-only torch or no driver): use device:=cpu')
        from lam_models.checkpoints import CheckpointError
        from lam_models.policies import load_policy
        try:
            policy = load_policy(self.checkpoint, map_location=device)
            mode = policy_action_mode(policy)
        except (CheckpointError, ValueError) as error:
            raise ConfigError(f'controller: checkpoint:={self.checkpoint}: {error}') from None
        if getattr(policy.config, 'avatar', False):
            raise ConfigError(f'controller: checkpoint:={self.checkpoint} was trained on frames '
                              "with the simulator's avatar in place of the arm, which no "
                              "camera here films; train it on the camera's own frames")
        # One action is one row of its data: at another rate every step (an ee-delta's
        # centimetres, a joint chunk's timing) comes that much faster or slower.
        learned_hz = float(getattr(policy.config, 'control_rate_hz', 0.0))
        if not rate_hz:
            self.rate_hz = learned_hz or CONTROL_RATE_HZ
        elif learned_hz and abs(rate_hz / learned_hz - 1.0) > RATE_TOLERANCE:
            raise ConfigError(f'controller: rate_hz:={rate_hz:g}, but checkpoint:='
                              f'{self.checkpoint} learned from data at {learned_hz:g} Hz, one '
                              f'action per row: its moves would run {rate_hz / learned_hz:.2g}x '
                              f'as fast; set rate_hz:={learned_hz:g}')
        if not learned_hz:
            self.report(f'checkpoint:={self.checkpoint} does not say its data rate (written '
                        f'before it was kept): running at rate_hz:={self.rate_hz:g} unchecked',
                        'warn')
        self.learned_aspect = float(getattr(policy.config, 'source_frame_aspect', 0.0))
        # The policy's state columns by name (recorded with the data), so a driver that
        # publishes more joints or another order (xs_sdk adds 'gripper') still fits.
        self.state_names = list(policy.config.state_names) or \
            [*self.spec.joints, *FINGER_JOINTS][:policy.config.state_dim]
        if len(self.state_names) != policy.config.state_dim:
            raise ConfigError(f'controller: checkpoint:={self.checkpoint}: state_names '
                              f'{self.state_names} do not match state_dim='
                              f'{policy.config.state_dim}')
        self.report(f'running {policy.name} policy from {self.checkpoint} ({mode} actions, '
                    f'{self.rate_hz:g} Hz)', policy=policy.name, action_mode=mode,
                    rate_hz=self.rate_hz)
        try:
            return PolicyRunner(policy, self.spec, mode, guard, max_jump, ramp_step,
                                prefetch_actions=prefetch, start_pose=self._start_pose(policy),
                                start_tolerance_rad=self.start_tolerance,
                                workspace=self.workspace)
        except ValueError as error:
            raise ConfigError(f'controller: {error}') from None

    def _start_pose(self, policy) -> np.ndarray | None:
        """[arm joints..., gripper] where the policy's demos began, or None (start in place)."""
        if not self.go_to_start:
            return None
        pose = dict(getattr(policy.config, 'start_pose', {}) or {})
        gripper = float(getattr(policy.config, 'start_gripper', -1.0))
        missing = [joint for joint in self.spec.joints if joint not in pose]
        if missing or gripper < 0:
            lacks = f'{missing} in its start_pose' if missing else 'start_gripper'
            self.report(f'checkpoint:={self.checkpoint} does not say where its demos began '
                        f'(no {lacks}: written before it was kept, or data without joint '
                        "names): the policy starts where the arm is; move it to a demo's start "
                        'pose first', 'warn')
            return None
        return np.array([*(pose[joint] for joint in self.spec.joints), gripper])

    # -- inputs ---------------------------------------------------------------------------
    def on_image(self, msg: Image) -> None:
        """Keep the newest policy-camera frame (decoded here, not in the timer).

        A frame of another shape than the training data's is refused (the controller then
        holds, its observation going stale): squashed to the model's square, it would show
        every object somewhere the policy never saw one.
        """
        if self.learned_aspect and msg.height and \
                abs(msg.width / msg.height / self.learned_aspect - 1.0) > ASPECT_TOLERANCE:
            self.report(f'policy camera frame refused: {msg.width}x{msg.height}, but the '
                        f'policy learned from frames {self.learned_aspect:.3g} times as wide '
                        'as high; stream the training camera profile (color_profile:=)',
                        'error', throttle_s=5.0)
            return
        try:
            self.image = (time.monotonic(), image_to_rgb(msg), self.stamp_ns(msg))
        except ValueError as error:
            self.report(f'policy camera frame refused: {error}', 'error', throttle_s=5.0)

    def on_joints(self, msg: JointState) -> None:
        """Keep the newest state (in the policy's order) and the arm joints.

        A message lacking one, or with a non-finite one, is ignored, so the watchdog holds
        the arm; the status says why.
        """
        state = topics.positions_by_name(msg, self.state_names)
        arm = topics.positions_by_name(msg, self.spec.joints)
        if state is None or arm is None:
            self.report(f"joint_states lack the policy's joints {self.state_names} "
                        f'(has {list(msg.name)})', 'error', throttle_s=5.0)
            return
        if not (np.all(np.isfinite(state)) and np.all(np.isfinite(arm))):
            self.report(f'joint_states not finite, ignored: {dict(zip(msg.name, msg.position))}',
                        'error', throttle_s=5.0)
            return
        self.joints = (time.monotonic(), np.asarray(state, np.float32),
                       np.asarray(arm, np.float64))
        self.states.add(self.stamp_ns(msg), self.joints[1])

    def stamp_ns(self, msg: Image | JointState) -> int:
        """A message's header stamp (ns), as the bag reader takes it; now where it is zero."""
        return header_stamp_ns(msg, self.get_clock().now().nanoseconds)

    def on_expert(self, msg: JointState) -> None:
        """The simulator's expert suggestion (no checkpoint)."""
        self.suggestion = msg

    @property
    def estopped(self) -> bool:
        """Stopped while either says so."""
        return self.topic_estop or self.arm_estopped

    def on_estop(self, msg: Bool) -> None:
        """``/lam/estop`` from any publisher: stops the policy at once, before the arm says so.

        Its release alone does not restart a controller whose arm still reports itself
        latched (a one-shot release the arm node missed): the arm would refuse every step.
        """
        self._estop(msg.data, self.arm_estopped)

    def on_arm_estopped(self, msg: Bool) -> None:
        """The arm node's latch. Any release by the arm clears a ``/lam/estop`` stop too."""
        self._estop(self.topic_estop and msg.data, msg.data)

    def _estop(self, topic: bool, arm: bool) -> None:
        """An e-stop stops the policy too; its release starts it afresh (start-up guard armed)."""
        was = self.estopped
        self.topic_estop, self.arm_estopped = topic, arm
        if self.estopped and not was:
            self.report('e-stop: policy stopped', 'warn')
        elif was and not self.estopped:
            self.report('e-stop released: policy restarts from the next observation')
            self._restart()

    def on_reset(self, _request: Trigger.Request, response: Trigger.Response
                 ) -> Trigger.Response:
        """A new scene: forget the observation history, re-arm the start-up guard."""
        self._restart()
        response.success, response.message = True, 'controller reset'
        return response

    def _restart(self, go_to_start: bool = True) -> None:
        if self.runner is not None:
            self.runner = self.runner.restarted(go_to_start)
        self.observed_image_at = -1.0
        self.image = self.joints = None   # the next history starts from fresh messages
        self.states.clear()

    # -- the loop ---------------------------------------------------------------------------
    def tick(self) -> None:
        """One control step, skipped while any observation is stale."""
        if self.estopped:
            return
        now = time.monotonic()
        stale = [name for name, seen in (('image', self.image), ('joints', self.joints))
                 if seen is None or now - seen[0] > self.max_age_s]
        if stale:
            self.report(f'holding: stale observations {stale}', 'warn', throttle_s=2.0)
            if self.runner is not None and self.runner.busy:
                # a plan made before the outage is not executed after it, and the arm
                # stays where it is (going back to the start would drop what it holds)
                self._restart(go_to_start=False)
            return
        if self.runner is None:
            if self.suggestion is not None:
                self.suggestion.header.stamp = self.get_clock().now().to_msg()
                self.action_pub.publish(self.suggestion)
            return
        if self.image[0] != self.observed_image_at:   # one history entry per camera frame
            if self.states.clocks_apart(self.image[2]):
                self.report('policy camera frame stamped before every joint state kept (its '
                            "clock and the driver's apart?): paired with the oldest", 'warn',
                            throttle_s=5.0)
            # the state at the frame's stamp, as the data paired them; the arm where it is now
            self.runner.observe(self.image[1], self.states.at(self.image[2]),
                                stamp=self.image[0], arm_joints=self.joints[2])
            self.observed_image_at = self.image[0]
        self.runner.measure(self.joints[2])   # between frames too: IK from where the arm is
        chunks = self.runner.status.chunks
        try:
            target = self.runner.tick()
        except PolicyRefused as error:
            self.report(str(error), 'error')
            return
        if target is None:
            return
        msg = JointState(name=[*self.spec.joints, topics.GRIPPER],
                         position=[float(v) for v in target])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.action_pub.publish(msg)
        status = self.runner.status
        if status.state in ('ramping', 'homing'):
            self.report(status.message, 'warn', throttle_s=2.0)
        elif status.chunks != chunks:   # a new chunk's first command: how fresh it is
            self.report('chunk', log=False, chunks=status.chunks,
                        inference_s=status.inference_s,
                        observation_age_s=time.monotonic() - status.observed_at)

    def on_shutdown(self) -> None:
        """Stop the inference thread."""
        if self.runner is not None:
            self.runner.close()


NODE_CLASS = ControllerNode


def main(args=None) -> int:
    """Run the deploy controller: ``ros2 run lam_ros controller``."""
    return node_main(ControllerNode, args)
