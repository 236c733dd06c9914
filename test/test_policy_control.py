# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The deploy controller's core: receding horizon, off-thread inference, NaN and start-up guards."""
from dataclasses import dataclass
import threading

import numpy as np
import pytest
import torch

from lam_ros.control.kinematics import Workspace, robot_spec
from lam_ros.control.policy_control import (
    RAMP_WAIT_TICKS,
    PolicyRefused,
    PolicyRunner,
    StateHistory,
)
from lam_ros.control.safety import JointLimits, SafetyConfig, SafetyFilter

SPEC = robot_spec('wx250s')
HOME = np.array([0.0, -0.2, 0.4, 0.0, 1.3, 0.0])


@dataclass
class StandInConfig:
    image_size: int = 16
    obs_horizon: int = 2
    action_horizon: int = 6
    action_exec: int = 3
    action_dim: int = 7
    action_space: str = f"joint_position [{', '.join(SPEC.joints)}, gripper]"


class StandInPolicy:
    """Returns a fixed chunk; counts calls; can block until released."""

    def __init__(self, chunk: np.ndarray, release: threading.Event | None = None) -> None:
        self.config = StandInConfig()
        self.chunk, self.release, self.calls, self.seen = chunk, release, 0, None

    def predict_chunk(self, images, state, state_valid):
        if self.release is not None:
            assert self.release.wait(5)
        self.calls += 1
        self.seen = (tuple(images.shape), images.dtype, tuple(state.shape))
        self.images = images.clone()
        return torch.as_tensor(self.chunk, dtype=torch.float32)[None]


def chunk_near(q: np.ndarray, steps: int = 6) -> np.ndarray:
    return np.array([np.append(q + 0.01 * (i + 1), 1.0) for i in range(steps)])


def observe(runner: PolicyRunner, q: np.ndarray = HOME, brightness: int = 0) -> None:
    runner.observe(np.full((48, 64, 3), brightness, np.uint8), np.append(q, [0.02, -0.02]))


def test_executes_action_exec_actions_per_forward_pass_on_resized_history():
    policy = StandInPolicy(chunk_near(HOME))
    runner = PolicyRunner(policy, SPEC, background=False, prefetch_actions=0)
    observe(runner)
    sent = [runner.tick() for _ in range(7)]
    assert policy.calls == 3                        # ticks 0, 3, 6 start a chunk
    assert policy.seen == ((1, 2, 16, 16, 3), torch.uint8, (1, 2, 8))
    np.testing.assert_allclose(sent[0], chunk_near(HOME)[0])
    np.testing.assert_allclose(sent[3], chunk_near(HOME)[0])  # a new chunk, not the 4th action


def test_tick_never_waits_for_a_forward_pass():
    release = threading.Event()
    runner = PolicyRunner(StandInPolicy(chunk_near(HOME), release), SPEC)
    observe(runner)
    assert runner.tick() is None and runner.status.state == 'inferring'
    release.set()
    for _ in range(100):
        action = runner.tick()
        if action is not None:
            break
        threading.Event().wait(0.01)
    np.testing.assert_allclose(action, chunk_near(HOME)[0])
    runner.close()


def test_non_finite_output_sends_nothing_ever_again():
    bad = chunk_near(HOME)
    bad[1, 2] = np.nan
    runner = PolicyRunner(StandInPolicy(bad), SPEC, background=False)
    observe(runner)
    with pytest.raises(PolicyRefused, match='not finite'):
        runner.tick()
    assert runner.tick() is None and runner.status.state == 'refused'


def test_startup_guard_ramps_to_a_far_first_target_in_bounded_steps():
    far = HOME + np.array([0.9, 0, 0, 0, 0, 0])
    runner = PolicyRunner(StandInPolicy(chunk_near(far)), SPEC, startup_max_jump_rad=0.3,
                          startup_step_rad=0.1, background=False)
    observe(runner)
    targets = [runner.tick()[:6]]
    assert runner.status.message.startswith('first policy target is 0.91 rad')
    for _ in range(11):
        runner.measure(targets[-1])   # the arm follows
        targets.append(runner.tick()[:6])
    steps = np.abs(np.diff(np.vstack([HOME, targets]), axis=0)).max(axis=1)
    assert steps[:10].max() <= 0.1 + 1e-9                 # ramp, never a jump
    np.testing.assert_allclose(targets[9], chunk_near(far)[0][:6])  # then the policy's own


def test_the_ramp_waits_for_an_arm_that_does_not_follow():
    """The arm node held (a stale state, a clamp): the ramp's later steps are not sent."""
    far = HOME + np.array([0.9, 0, 0, 0, 0, 0])
    runner = PolicyRunner(StandInPolicy(chunk_near(far)), SPEC, startup_max_jump_rad=0.3,
                          startup_step_rad=0.1, background=False)
    observe(runner)
    runner.tick()
    second = runner.tick()   # the arm is within a step of the first: the second is sent
    for _ in range(5):
        runner.measure(HOME)   # still where it started
        np.testing.assert_allclose(runner.tick(), second)
    assert np.abs(second[:6] - HOME).max() <= 2 * 0.1
    runner.measure(second[:6])
    assert np.abs(runner.tick()[:6] - second[:6]).max() == pytest.approx(0.091)


def test_a_ramp_step_the_arm_never_reaches_is_waited_for_a_bounded_time():
    """The safety layer clamps the step to a joint-limit margin: the arm stops short."""
    far = HOME + np.array([0.9, 0, 0, 0, 0, 0])
    runner = PolicyRunner(StandInPolicy(chunk_near(far)), SPEC, startup_max_jump_rad=0.3,
                          startup_step_rad=0.1, background=False)
    observe(runner)
    sent = [runner.tick(), runner.tick()]
    for _ in range(RAMP_WAIT_TICKS + 1):
        sent.append(runner.tick())   # the arm stays at HOME
    assert np.abs(sent[-1][:6] - HOME).max() > np.abs(sent[1][:6] - HOME).max()


def test_the_arm_goes_to_the_demos_start_pose_first_and_the_policy_sees_frames_from_there():
    """A real arm boots at its sleep pose, from which no demo began."""
    sleep = np.array(SPEC.sleep)
    policy = StandInPolicy(chunk_near(HOME))
    runner = PolicyRunner(policy, SPEC, startup_step_rad=0.1, background=False,
                          start_pose=np.append(HOME, 1.0))
    runner.measure(sleep)
    observe(runner, sleep, brightness=50)    # frames on the way: not a demo's first
    sent = [runner.tick()]
    assert runner.status.state == 'homing' and "from its demos' start pose" in \
        runner.status.message
    while runner.status.state == 'homing':
        runner.measure(sent[-1][:6])         # the arm follows
        observe(runner, sent[-1][:6], brightness=50)
        sent.append(runner.tick())
    assert policy.calls == 0                 # no action while going there
    path = np.vstack([sleep, [target[:6] for target in sent]])
    assert np.abs(np.diff(path, axis=0)).max() <= 0.1 + 1e-6   # steps, never a jump
    np.testing.assert_allclose(sent[-1], np.append(HOME, 1.0))  # there, the gripper open
    assert runner.tick() is None             # waits for a frame taken there
    observe(runner, HOME, brightness=200)
    np.testing.assert_allclose(runner.tick(), chunk_near(HOME)[0])
    assert policy.images.min() == 200        # its whole history from the start pose


def test_going_to_the_start_steps_from_the_arm_measured_now_and_gives_up_on_a_stuck_arm():
    """A stale first measurement (the last scene's pose, queued past a reset) costs one step."""
    start = np.append(HOME, 1.0)
    policy = StandInPolicy(chunk_near(HOME))
    runner = PolicyRunner(policy, SPEC, startup_step_rad=0.1, background=False,
                          start_pose=start)
    old_scene = HOME + np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.8])
    runner.measure(old_scene)
    first = runner.tick()
    np.testing.assert_allclose(first[:6], old_scene - [0, 0, 0, 0, 0, 0.1])
    new_scene = HOME + np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.3])   # where the reset put it
    runner.measure(new_scene)
    np.testing.assert_allclose(runner.tick()[:6], new_scene - [0, 0, 0, 0, 0, 0.1])
    for _ in range(RAMP_WAIT_TICKS):   # clamped there: it never gets nearer
        observe(runner, new_scene)
        target = runner.tick()
    assert 'start pose not reached (0.30 rad off)' in runner.status.message
    np.testing.assert_allclose(target[:6], new_scene)   # holds where the arm is
    observe(runner, new_scene)
    np.testing.assert_allclose(runner.tick(), chunk_near(HOME)[0])   # then the policy acts


def home_from_sleep(box: Workspace) -> tuple[int, PolicyRunner]:
    """Go to the start pose from the sleep pose through a real safety filter on ``box``.

    The runner is told the box, as the controller is (``workspace_min``/``workspace_max``).
    Returns how many of its steps the filter refused, and the runner.
    """
    safety = SafetyFilter(JointLimits(SPEC.joints, np.array(SPEC.lower), np.array(SPEC.upper)),
                          SafetyConfig(workspace=box), lambda q: SPEC.fk(q)[:3, 3])
    runner = PolicyRunner(StandInPolicy(chunk_near(HOME)), SPEC, background=False,
                          start_pose=np.append(HOME, 1.0), workspace=box)
    arm, refused = np.array(SPEC.sleep), 0
    for tick in range(100):
        safety.observe(arm, stamp_s=0.1 * tick)
        runner.measure(arm)
        target = runner.tick()
        if runner.status.state != 'homing':
            break
        decision = safety.filter(target[:6], now_s=0.1 * tick)
        refused += decision.refused
        arm = arm if decision.refused else decision.command
    return refused, runner


def test_going_to_the_start_from_the_sleep_pose_passes_the_arms_workspace_check():
    """The arm node refused the straight line from the sleep pose every tick.

    The sleep pose sits 3 mm inside the box's near face; that line first swings the gripper out.
    """
    refused, runner = home_from_sleep(SPEC.workspace)
    assert refused == 0 and runner.status.message == 'at the start pose', runner.status.message


def test_a_restart_after_an_observation_outage_stays_where_the_arm_is():
    """Going back to the start mid-task would open the gripper on what it holds."""
    start = np.append(HOME, 1.0)
    mid_task = HOME + np.array([0.0, 0.25, 0.0, 0.0, 0.0, 0.0])
    policy = StandInPolicy(chunk_near(mid_task))
    runner = PolicyRunner(policy, SPEC, background=False, start_pose=start)
    runner.at_start = True   # went there before the outage
    after_outage = runner.restarted(go_to_start=False)
    after_outage.measure(mid_task)
    observe(after_outage, mid_task)
    np.testing.assert_allclose(after_outage.tick(), chunk_near(mid_task)[0])
    new_scene = after_outage.restarted()
    new_scene.measure(mid_task)
    observe(new_scene, mid_task)
    new_scene.tick()
    assert new_scene.status.state == 'homing'
    still_homing = new_scene.restarted(go_to_start=False)   # the outage came on the way
    still_homing.measure(mid_task)
    observe(still_homing, mid_task)
    still_homing.tick()
    assert still_homing.status.state == 'homing'


def test_an_arm_at_the_start_pose_acts_at_once_and_refuse_mode_does_not_go_there():
    near = PolicyRunner(StandInPolicy(chunk_near(HOME)), SPEC, background=False,
                        start_pose=np.append(HOME + 0.1, 1.0), start_tolerance_rad=0.2)
    near.measure(HOME)
    observe(near)
    np.testing.assert_allclose(near.tick(), chunk_near(HOME)[0])
    far = PolicyRunner(StandInPolicy(chunk_near(HOME)), SPEC, startup_guard='refuse',
                       background=False, start_pose=np.append(HOME, 1.0))
    far.measure(np.array(SPEC.sleep))
    observe(far, np.array(SPEC.sleep))
    with pytest.raises(PolicyRefused, match="start pose at joint 'shoulder'.*startup_guard=refuse"):
        far.tick()
    with pytest.raises(ValueError, match='start_pose must be 6 finite joint positions'):
        PolicyRunner(StandInPolicy(chunk_near(HOME)), SPEC, start_pose=HOME)


def test_startup_guard_refuses_when_asked_and_a_near_target_passes():
    far = HOME + np.array([0, 0.8, 0, 0, 0, 0])
    refusing = PolicyRunner(StandInPolicy(chunk_near(far)), SPEC, startup_guard='refuse',
                            background=False)
    observe(refusing)
    with pytest.raises(PolicyRefused, match="joint 'shoulder'.*refusing"):
        refusing.tick()
    near = PolicyRunner(StandInPolicy(chunk_near(HOME)), SPEC, startup_guard='refuse',
                        background=False)
    observe(near)
    np.testing.assert_allclose(near.tick(), chunk_near(HOME)[0])


def test_ee_delta_actions_become_ik_targets_from_the_measured_joints():
    still = np.zeros((6, 7))
    still[:, 6] = 1.0
    up = still.copy()
    up[:, 2] = 0.02
    for chunk, moved in ((still, False), (up, True)):
        runner = PolicyRunner(StandInPolicy(chunk), SPEC, action_mode='ee_delta',
                              background=False)
        observe(runner)
        target = runner.tick()
        height = SPEC.fk(target[:6])[2, 3] - SPEC.fk(HOME)[2, 3]
        assert height == pytest.approx(0.02 if moved else 0.0, abs=2e-3)
        assert target[6] == 1.0
    home = SPEC.fk(HOME)[:3, 3]   # the arm node's box, its ceiling 1 cm above: clipped there
    box = Workspace(SPEC.workspace.low, (*SPEC.workspace.high[:2], float(home[2]) + 0.01))
    runner = PolicyRunner(StandInPolicy(up), SPEC, action_mode='ee_delta', background=False,
                          workspace=box)
    observe(runner)
    assert SPEC.fk(runner.tick()[:6])[2, 3] == pytest.approx(home[2] + 0.01, abs=2e-3)


def test_startup_guard_also_covers_ee_delta_policies_after_ik():
    lift = np.zeros((6, 7))
    lift[:, 2], lift[:, 6] = 0.03, 1.0
    runner = PolicyRunner(StandInPolicy(lift), SPEC, action_mode='ee_delta',
                          startup_max_jump_rad=0.01, startup_step_rad=0.01, background=False)
    observe(runner)
    first = runner.tick()
    assert runner.status.state == 'ramping'
    assert np.abs(first[:6] - HOME).max() <= 0.01 + 1e-9


def test_prefetch_asks_early_and_skips_the_actions_that_ran_meanwhile():
    chunk = chunk_near(HOME)
    release = threading.Event()
    policy = StandInPolicy(chunk, release)
    runner = PolicyRunner(policy, SPEC, prefetch_actions=2)
    observe(runner)
    release.set()
    sent = []
    for _ in range(200):
        action = runner.tick()
        if action is not None:
            sent.append(action)
        if len(sent) == 7:
            break
        threading.Event().wait(0.005)
    # chunk 1: actions 0..2 (the 2nd call starts as action 1 is sent: 1 and 2 run after its
    # observation), chunk 2 from its action 2 on, no hold tick in between
    np.testing.assert_allclose(np.array(sent)[:, 0],
                               HOME[0] + 0.01 * np.array([1, 2, 3, 3, 4, 5, 3]))
    assert policy.calls >= 3
    runner.close()


def test_a_failing_forward_pass_refuses_instead_of_raising_forever():
    class Broken(StandInPolicy):
        def predict_chunk(self, images, state, state_valid):
            self.calls += 1
            raise RuntimeError('shape mismatch in layer 3')
    policy = Broken(chunk_near(HOME))
    runner = PolicyRunner(policy, SPEC, background=False)
    observe(runner)
    with pytest.raises(PolicyRefused, match='forward pass failed: RuntimeError'):
        runner.tick()
    assert runner.tick() is None and policy.calls == 1


def test_out_of_range_actions_are_clipped_like_the_simulator_clips_them():
    wild = np.zeros((6, 7))
    wild[:, 0], wild[:, 6] = 0.5, 3.0                   # 50 cm in one step, gripper 3
    runner = PolicyRunner(StandInPolicy(wild), SPEC, action_mode='ee_delta', background=False)
    observe(runner)
    target = runner.tick()
    moved = SPEC.fk(target[:6])[:3, 3] - SPEC.fk(HOME)[:3, 3]
    assert moved[0] == pytest.approx(0.05, abs=5e-3) and target[6] == 1.0
    assert runner.status.clipped == 1


def test_ee_delta_actions_between_frames_start_from_the_arm_measured_then():
    """The camera is slower than the tick: each action starts from the arm's newest joints.

    Two 2 cm lifts add up to 4 cm instead of the second replacing the first.
    """
    up = np.zeros((6, 7))
    up[:, 2], up[:, 6] = 0.02, 1.0
    runner = PolicyRunner(StandInPolicy(up), SPEC, action_mode='ee_delta', background=False)
    observe(runner)
    first = runner.tick()
    runner.measure(first[:6])   # the arm got there; no new frame yet
    second = runner.tick()
    assert SPEC.fk(second[:6])[2, 3] - SPEC.fk(HOME)[2, 3] == pytest.approx(0.04, abs=3e-3)


@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_non_finite_joints_are_refused_before_they_reach_ik(bad):
    runner = PolicyRunner(StandInPolicy(chunk_near(HOME)), SPEC, background=False)
    broken = HOME.copy()
    broken[1] = bad
    with pytest.raises(ValueError, match='finite'):
        runner.measure(broken)
    with pytest.raises(ValueError, match='finite'):
        observe(runner, broken)
    assert not runner.history


def test_the_state_history_gives_the_newest_state_at_or_before_a_stamp():
    history = StateHistory(size=3)
    assert history.at(5) is None
    for stamp in (10, 20, 30, 40):   # the first falls out
        history.add(stamp, np.array([stamp]))
    assert [int(history.at(stamp)[0]) for stamp in (25, 30, 99)] == [20, 30, 40]
    assert int(history.at(5)[0]) == 20   # all later (another clock): the oldest kept
    assert history.clocks_apart(19) and not history.clocks_apart(20)
    history.entries.popleft()   # not full: a start-up, not a clock
    assert not history.clocks_apart(19)
    history.clear()
    assert history.at(30) is None


def test_the_controller_restarts_only_once_the_arm_is_released_too(rclpy_context):
    """A one-shot /lam/estop false the arm node missed leaves the arm latched.

    The controller waits for the arm's own release, then restarts, once.
    """
    from std_msgs.msg import Bool

    from lam_ros.nodes.controller_node import ControllerNode

    node = ControllerNode(context=rclpy_context)
    restarts = []
    node._restart = lambda go_to_start=True: restarts.append(go_to_start)
    try:
        node.on_estop(Bool(data=True))
        node.on_arm_estopped(Bool(data=True))     # the arm latched it
        node.on_estop(Bool(data=False))           # heard here, not by the arm
        assert node.estopped and restarts == []
        node.on_arm_estopped(Bool(data=False))    # the operator releases the arm
        assert not node.estopped and restarts == [True]
        node.on_estop(Bool(data=True))            # stopped here first ...
        node.on_arm_estopped(Bool(data=True))
        node.on_arm_estopped(Bool(data=False))    # ... released through the arm's service
        assert not node.estopped and restarts == [True, True]
    finally:
        node.destroy_node()


def test_the_controller_holds_a_stale_observation_without_going_back_to_the_start(
        rclpy_context):
    from lam_ros.nodes.controller_node import ControllerNode

    class BusyRunner:
        busy = True

        def __init__(self):
            self.restarts = []

        def restarted(self, go_to_start=True):
            self.restarts.append(go_to_start)
            return self

    node = ControllerNode(context=rclpy_context)
    try:
        node.runner = runner = BusyRunner()
        node.tick()   # no image, no joint state: stale
        assert runner.restarts == [False]
    finally:
        node.runner = None
        node.destroy_node()


def test_the_controller_node_ignores_a_non_finite_joint_state(rclpy_context):
    """The watchdog then holds the arm (the state goes stale).

    Before, the start-up guard computed a ramp of NaN steps and raised out of the timer.
    """
    from sensor_msgs.msg import JointState

    from lam_ros.nodes.controller_node import ControllerNode

    node = ControllerNode(context=rclpy_context)
    try:
        names = [*SPEC.joints, 'left_finger', 'right_finger']
        positions = [*HOME, 0.02, -0.02]
        node.on_joints(JointState(name=names, position=[np.nan, *positions[1:]]))
        assert node.joints is None
        node.on_joints(JointState(name=names, position=positions))
        assert node.joints is not None
    finally:
        node.destroy_node()


@pytest.mark.parametrize('action_space, action_dim, mode', [
    ('joint_position [waist, shoulder, elbow, wrist_angle, wrist_rotate, gripper]', 6, 'joint'),
    ('ee_delta [dx, dy, dz, droll, dpitch, dyaw, gripper]', 6, 'ee_delta'),   # one too few
])
def test_a_policy_for_another_arm_is_refused(action_space, action_dim, mode):
    """A wx250's joint policy on a wx250s.

    Sent by name, its wrist_angle column would move forearm_roll, its gripper wrist_rotate.
    """
    policy = StandInPolicy(chunk_near(HOME))
    policy.config = StandInConfig(action_dim=action_dim, action_space=action_space)
    with pytest.raises(ValueError, match='another robot_model'):
        PolicyRunner(policy, SPEC, background=False)
    named = StandInPolicy(chunk_near(HOME))   # the right width, another arm's names
    named.config = StandInConfig(action_space=action_space.replace('waist', 'base'))
    if mode == 'joint':
        with pytest.raises(ValueError, match="acts on joints \\['base'"):
            PolicyRunner(named, SPEC, background=False)


def test_going_to_the_start_stays_in_the_arm_nodes_shrunk_box_and_says_when_it_starts_outside():
    """Planned in the model's box, homing was refused at a table box's 20 cm ceiling.

    A box whose near face the sleep pose is outside of needs a way in that holding joints
    does not find: the runner gives up, and says where the gripper is.
    """
    refused, runner = home_from_sleep(Workspace((0.12, -0.2, 0.075), (0.35, 0.2, 0.2)))
    assert refused == 0 and runner.status.message == 'at the start pose', runner.status.message
    refused, runner = home_from_sleep(Workspace((0.14, -0.2, 0.075), (0.35, 0.2, 0.2)))  # 17 mm
    assert refused == 0   # standing outside is refused too: it gives up at once
    assert runner.status.message.startswith('start pose not reached')
    assert 'the gripper is 17 mm outside the workspace box [0.14' in runner.status.message
