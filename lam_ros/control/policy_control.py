# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Closed-loop execution of a learned policy, without ROS: the controller node's core.

Receding horizon as in training and in ``lam_ros.sim.evaluate``: the latest
``obs_horizon`` observations go to ``predict_chunk`` and ``action_exec`` actions of its
answer are executed one per tick. The forward pass runs on a worker thread, so a ROS
callback calling :meth:`PolicyRunner.tick` never waits on it: a tick with no action ready
returns None and the arm holds its last target.

``prefetch_actions`` = p > 0 asks for the next chunk while p actions of the current one
are left, so it is ready when they are done (no hold tick between chunks); those p actions
run while the policy thinks, so the new chunk is executed from its action p on (the one
for the time step it will be executed at). p = 0 is ``lam_ros.sim.evaluate``'s exact
schedule: observe after the chunk, then act.

Frames go through ``lam_models.data.images.resize_frames`` and the policy's own
``preprocess``, the path the training data took. Joint-space actions are absolute
targets; ``ee_delta`` actions become joint targets through the same IK as the simulator's
(:func:`lam_ros.control.kinematics.ee_delta_ik`) from the measured joints: the newest,
given every tick by :meth:`PolicyRunner.measure`, as the simulator solves each action from
where the arm is after the last one (solved from the last frame's pose, the actions of the
ticks between two frames replaced each other instead of adding up).

Start-up guard: if the first joint target (an ``ee_delta`` action's too, after IK) is
farther than ``startup_max_jump_rad`` from the measured arm (any joint), the runner either
ramps there in steps of at most ``startup_step_rad`` (``startup_guard='ramp'``) or refuses
to move (``'refuse'``). A ramp step is sent once the measured arm is within a step of the
last one (or after ``RAMP_WAIT_TICKS``), so the ramp does not run ahead of an arm that
lags or that the arm node holds.

Start pose: given one (the training demos' first pose, ``PolicyConfig.start_pose``), the
runner first moves the arm there when it is farther than ``start_tolerance_rad`` (any
joint), each tick at most ``startup_step_rad`` from where the arm is measured, holding the
joints whose step would leave the workspace box (or refuses, ``'refuse'``), until it is
there (or comes no nearer for ``RAMP_WAIT_TICKS`` ticks),
and forgets what it saw on the way: the policy's first chunk comes from frames at the
start, as every demo's did. A real arm boots at its sleep pose, from which no demo began.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
import time

import numpy as np
import torch

from lam_models.data.images import resize_frames
from lam_ros.control.kinematics import (
    EE_DELTA_HIGH,
    EE_DELTA_LOW,
    WORKSPACE_TOLERANCE_M,
    RobotSpec,
    Workspace,
    ee_delta_ik,
)

STARTUP_GUARDS = ('ramp', 'refuse')
# Ticks a ramp step waits for the arm to come within a step of it before the next is sent
# anyway: an arm the safety layer clamps short of a step (a joint-limit margin) never
# arrives, and the arm node's per-step limit still bounds what each command moves.
RAMP_WAIT_TICKS = 10
# Going to the start pose ends once every joint is this share of a step from it, or once
# RAMP_WAIT_TICKS ticks in a row brought it no nearer by STALL_RAD (a clamp, a limit).
ARRIVED_FRACTION = 0.5
STALL_RAD = 0.002
ACTION_MODES = ('ee_delta', 'joint')
# First word of a dataset's action_space -> mode: the simulator writes 'ee_delta [dx, ...]',
# bags of /lam/action 'joint_position [waist, ..., gripper]'.
_MODE_OF_WORD = {'ee_delta': 'ee_delta', 'joint': 'joint', 'joint_position': 'joint'}


def _action_space(policy) -> str:
    """``action_space`` of the policy or its config (the dataset's attribute), or ''."""
    for owner in (policy, getattr(policy, 'config', None)):
        text = getattr(owner, 'action_space', None)
        if text:
            return str(text)
    return ''


def policy_action_mode(policy) -> str:
    """The action space a policy was trained in: ``ee_delta`` (default) or ``joint``."""
    text = _action_space(policy)
    if not text:
        return 'ee_delta'
    word = text.split()[0]
    if word not in _MODE_OF_WORD:
        raise ValueError(f'policy action space {text!r}: expected one starting with '
                         f'{sorted(_MODE_OF_WORD)}')
    return _MODE_OF_WORD[word]


def check_action_layout(policy, spec: RobotSpec, action_mode: str) -> None:
    """Refuse a policy whose action columns are not this arm's.

    Its commands are sent by joint name: a column sent under another joint's name moves that
    joint. ee_delta: the 7 columns of ``EE_DELTA_LOW``; joint: the arm's joints in order, then the
    gripper (the names a dataset's ``action_space`` lists, where it lists them).
    """
    width = len(EE_DELTA_LOW) if action_mode == 'ee_delta' else len(spec.joints) + 1
    action_dim = int(policy.config.action_dim)
    if action_dim != width:
        raise ValueError(f'the policy acts in {action_dim} columns; {action_mode} actions for '
                         f'{spec.name} take {width}: was it trained for another robot_model?')
    text = _action_space(policy)
    if action_mode == 'joint' and '[' in text:
        names = [name.strip() for name in text[text.index('[') + 1:text.rindex(']')].split(',')]
        if names[:len(spec.joints)] != list(spec.joints):
            raise ValueError(f'the policy acts on joints {names}; {spec.name} has '
                             f'{list(spec.joints)} (then the gripper): another robot_model?')


class StateHistory:
    """The last joint states by their stamps, to pair a camera frame with its own.

    A dataset pairs each frame with the newest joint state at or before the frame's stamp
    (``lam_models.data.bags``). At a tick the newest state is 50-150 ms younger than the
    frame on a real camera (exposure, USB, transport): another observation than the policy
    learned from, the arm seen in one place and felt in the next.
    """

    def __init__(self, size: int = 64) -> None:
        self.entries: deque[tuple[int, np.ndarray]] = deque(maxlen=size)

    def add(self, stamp_ns: int, state: np.ndarray) -> None:
        """A state as it arrives, with its header stamp."""
        self.entries.append((stamp_ns, state))

    def at(self, stamp_ns: int) -> np.ndarray | None:
        """The newest state stamped at or before ``stamp_ns``.

        The oldest kept if all are later (clocks apart: the nearest there is); None when
        empty.
        """
        if not self.entries:
            return None
        for stamp, state in reversed(self.entries):
            if stamp <= stamp_ns:
                return state
        return self.entries[0][1]

    def clocks_apart(self, stamp_ns: int) -> bool:
        """A frame older than every state of a full history: its clock is not the driver's.

        Right after a start or a reset the history is short, and a frame taken just before
        it began predates it without anything being wrong.
        """
        return len(self.entries) == self.entries.maxlen and stamp_ns < self.entries[0][0]

    def clear(self) -> None:
        """Forget them all (a new scene, an e-stop's release)."""
        self.entries.clear()


class PolicyRefused(RuntimeError):
    """The runner will not move the arm (non-finite output, guard set to refuse)."""


@dataclass
class RunnerStatus:
    """What the last tick did, for the node's status topic and the latency bench."""

    state: str = 'waiting'   # waiting | homing | at start | inferring | acting | ramping | refused
    message: str = ''
    chunks: int = 0
    inference_s: float = 0.0        # last forward pass
    observed_at: float = 0.0        # time.monotonic() of the last chunk's newest observation
    clipped: int = 0                # actions clipped to the action space's bounds


class PolicyRunner:
    """Feeds observations to a policy and hands out one joint target per tick."""

    def __init__(self, policy, spec: RobotSpec, action_mode: str | None = None,
                 startup_guard: str = 'ramp', startup_max_jump_rad: float = 0.3,
                 startup_step_rad: float = 0.05, background: bool = True,
                 prefetch_actions: int = 1, start_pose: np.ndarray | None = None,
                 start_tolerance_rad: float = 0.2, workspace: Workspace | None = None) -> None:
        action_mode = action_mode or policy_action_mode(policy)
        if action_mode not in ACTION_MODES:
            raise ValueError(f'action_mode must be one of {ACTION_MODES}, got {action_mode!r}')
        if startup_guard not in STARTUP_GUARDS:
            raise ValueError(f'startup_guard must be one of {STARTUP_GUARDS}, got '
                             f'{startup_guard!r}')
        check_action_layout(policy, spec, action_mode)
        self.policy, self.spec, self.action_mode = policy, spec, action_mode
        config = policy.config
        self.image_size, self.obs_horizon = config.image_size, config.obs_horizon
        self.action_exec = config.action_exec
        if not 0 <= prefetch_actions < self.action_exec or \
                prefetch_actions + self.action_exec > config.action_horizon:
            raise ValueError(f'prefetch_actions must be in [0, action_exec) and leave '
                             f'action_exec actions in the chunk, got {prefetch_actions}')
        self.prefetch = prefetch_actions
        arm = len(spec.joints)
        if start_pose is not None:   # [arm joints..., gripper 0..1]
            start_pose = np.asarray(start_pose, np.float64)
            if start_pose.shape != (arm + 1,) or not np.all(np.isfinite(start_pose)):
                raise ValueError(f'start_pose must be {arm} finite joint positions {spec.joints} '
                                 f'and a gripper command, got {start_pose.tolist()}')
        if not start_tolerance_rad > 0:
            raise ValueError(f'start_tolerance_rad must be > 0, got {start_tolerance_rad}')
        self.start_pose, self.start_tolerance = start_pose, start_tolerance_rad
        self.workspace = workspace or spec.workspace   # the arm node's (it may shrink the model's)
        self.at_start = start_pose is None   # nothing to go to: start where the arm is
        self.homing_best, self.homing_stalled = np.inf, 0   # nearest yet, ticks none nearer
        self.skip = 0    # actions of the old chunk executed after the pending observation
        self.guard, self.max_jump, self.ramp_step = (startup_guard, startup_max_jump_rad,
                                                     startup_step_rad)
        self.history: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=self.obs_horizon)
        self.queue: deque[np.ndarray] = deque()        # policy actions of the current chunk
        self.ramp: deque[np.ndarray] = deque()         # start-up ramp: joint targets
        self.ramp_target = np.zeros(0)                 # the ramp's step sent last
        self.ramp_waited = 0                           # ticks it has waited for the arm
        self.pending: Future | None = None
        self.started = False          # first target reached (start-up guard done)
        self.status = RunnerStatus()
        self.pool = ThreadPoolExecutor(1, thread_name_prefix='policy') if background else None
        self.joints = np.zeros(len(spec.joints))
        self.observed_at = 0.0

    def observe(self, image_rgb: np.ndarray, joint_positions: np.ndarray,
                stamp: float | None = None, arm_joints: np.ndarray | None = None) -> None:
        """The newest camera frame (H, W, 3 uint8, any size) and the policy's state.

        ``joint_positions`` are in the policy's state order (``config.state_names``);
        ``arm_joints`` (the robot's arm joints, for IK and the start-up guard) default to
        its first columns. ``stamp`` (``time.monotonic()`` of the frame's arrival; default
        now) dates the chunk computed from it, for the latency report.
        """
        state = np.asarray(joint_positions, np.float32)
        if not np.all(np.isfinite(state)):
            raise ValueError(f'joint state is not finite: {state.tolist()}')
        self.measure(state[:len(self.spec.joints)] if arm_joints is None else arm_joints)
        self.observed_at = time.monotonic() if stamp is None else stamp
        frame = resize_frames(image_rgb[None], self.image_size)[0]
        if not self.history:
            self.history.extend([(frame, state)] * self.obs_horizon)
        self.history.append((frame, state))

    def measure(self, arm_joints: np.ndarray) -> None:
        """Where the arm is now (its measured joints), every tick, not only with a frame.

        The next ee-delta action and the start-up guard start from here.
        """
        arm = np.asarray(arm_joints, np.float64)
        if arm.shape != (len(self.spec.joints),) or not np.all(np.isfinite(arm)):
            raise ValueError(f'arm joints must be {len(self.spec.joints)} finite positions '
                             f'{self.spec.joints}, got {arm.tolist()}')
        self.joints = arm

    def tick(self) -> np.ndarray | None:
        """The next [arm joint targets..., gripper 0..1], or None (hold) this tick.

        Raises PolicyRefused when the policy's output cannot be executed.
        """
        if self.status.state == 'refused':
            return None
        if not self.at_start:
            target = self._go_to_start()
            if target is not None:
                return target
        if self.ramp:
            arm = len(self.spec.joints)
            lagging = np.abs(self.joints - self.ramp_target[:arm]).max() > self.ramp_step
            if lagging and self.ramp_waited < RAMP_WAIT_TICKS:
                self.ramp_waited += 1
                return self.ramp_target   # the arm lags (or the arm node held): wait for it
            self.ramp_target, self.ramp_waited = self.ramp.popleft(), 0
            return self.ramp_target
        if not self.queue:
            if not self.history:
                return None
            if self.pending is None:
                self.pending, self.skip = self._submit(), 0
            if not self.pending.done():
                self.status.state = 'inferring'
                return None
            future, self.pending = self.pending, None
            try:
                chunk, observed_at = future.result()
            except Exception as error:  # a broken policy must not take the node down
                self._refuse(f'policy forward pass failed: {type(error).__name__}: {error}')
            self._accept(chunk[self.skip:], observed_at)
        action = self.queue.popleft()
        if self.pending is not None:
            self.skip += 1
        elif self.prefetch and len(self.queue) < self.prefetch:
            self.pending, self.skip = self._submit(), 1   # this tick's action runs after it
        target = self._ee_delta_target(action) if self.action_mode == 'ee_delta' else action
        if not self.started:   # joint targets of either action space: IK can jump too
            self.started = True
            target = self._guard_start(target)
        return target

    @property
    def busy(self) -> bool:
        """Whether a plan exists: queued actions, a ramp or a forward pass in flight."""
        return bool(self.queue or self.ramp or self.pending is not None)

    def restarted(self, go_to_start: bool = True) -> PolicyRunner:
        """A fresh runner: no history, no queued actions, start-up guard re-armed.

        ``go_to_start``: to the start pose first, as for a new scene or after an e-stop;
        False after an observation outage mid-task, where going back would open the gripper
        on what it holds (a runner still on its way there goes on going there).
        """
        self.close()
        runner = PolicyRunner(self.policy, self.spec, self.action_mode, self.guard,
                              self.max_jump, self.ramp_step, background=self.pool is not None,
                              prefetch_actions=self.prefetch, start_pose=self.start_pose,
                              start_tolerance_rad=self.start_tolerance, workspace=self.workspace)
        runner.at_start = runner.at_start or (self.at_start and not go_to_start)
        return runner

    def close(self) -> None:
        """Stop the worker thread (an in-flight forward pass finishes in the background)."""
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)

    # -- internals -------------------------------------------------------------------------
    def _submit(self) -> Future:
        images = torch.from_numpy(np.stack([f for f, _ in self.history]))[None]
        state = torch.from_numpy(np.stack([s for _, s in self.history]))[None]
        observed_at = self.observed_at

        def infer() -> tuple[np.ndarray, float]:
            clock = time.perf_counter()
            with torch.inference_mode():
                chunk = self.policy.predict_chunk(images, state, torch.ones(1, dtype=torch.bool))
            self.status.inference_s = time.perf_counter() - clock
            return chunk[0].float().cpu().numpy(), observed_at
        if self.pool is None:
            future: Future = Future()
            try:
                future.set_result(infer())
            except Exception as error:   # delivered by tick(), as from the worker thread
                future.set_exception(error)
            return future
        return self.pool.submit(infer)

    def _accept(self, chunk: np.ndarray, observed_at: float) -> None:
        actions = chunk[:self.action_exec].astype(np.float64)
        if not np.all(np.isfinite(actions)):
            self._refuse('policy output is not finite (NaN/inf); nothing sent')
        self.status.chunks += 1
        self.status.observed_at = observed_at
        self.status.state, self.status.message = 'acting', ''
        self.queue.extend(actions)

    def _go_to_start(self) -> np.ndarray | None:
        """A step towards the start pose, or None once there (the policy's turn).

        Each step leaves from where the arm is measured now, at most ``startup_step_rad``
        per joint: a stale first measurement (the last scene's pose, still queued after a
        reset) costs one step, not a ramp planned from it, and a slow arm is waited for.
        """
        arm = len(self.spec.joints)
        away = self.start_pose[:arm] - self.joints
        if self.status.state != 'homing':   # the first tick: near enough, or go there
            if np.abs(away).max() <= self.start_tolerance:
                self.at_start = True
                return None
            joint = self.spec.joints[int(np.abs(away).argmax())]
            why = (f"arm is {np.abs(away).max():.2f} rad from its demos' start pose at joint "
                   f'{joint!r} (start_tolerance_rad={self.start_tolerance})')
            if self.guard == 'refuse':
                self._refuse(why + '; refusing to move there (startup_guard=refuse)')
            self.status.state, self.status.message = 'homing', why + '; going there'
            self.homing_best, self.homing_stalled = np.inf, 0
        distance = np.abs(away).max()
        if distance < self.homing_best - STALL_RAD:
            self.homing_best, self.homing_stalled = distance, 0
        else:
            self.homing_stalled += 1
        arrived = distance <= ARRIVED_FRACTION * self.ramp_step
        outside = self.workspace.distance_outside(self.spec.fk(self.joints)[:3, 3])
        if not arrived and self.homing_stalled < RAMP_WAIT_TICKS:
            step = self._step_in_workspace(np.clip(away, -self.ramp_step, self.ramp_step))
            if step.any() or outside <= WORKSPACE_TOLERANCE_M:   # outside, standing is refused
                self.ramp_target = np.append(self.joints + step, self.start_pose[arm])
                return self.ramp_target
        # There (or as near as the arm gets: a clamp, a joint-limit margin): what was seen on
        # the way is not a demo's first frame.
        self.at_start = True
        self.history.clear()
        self.status.state = 'at start'
        self.status.message = ('at the start pose' if arrived else
                               f'start pose not reached ({distance:.2f} rad off): '
                               'the policy starts from here')
        if not arrived and outside > WORKSPACE_TOLERANCE_M:   # no step back in was found
            self.status.message += (f'; the gripper is {1000 * outside:.0f} mm outside the '
                                    f'workspace box {self.workspace} (workspace_min, '
                                    'workspace_max): move the arm into it')
        return np.append(self.joints if not arrived else self.start_pose[:arm],
                         self.start_pose[arm])

    def _step_in_workspace(self, step: np.ndarray) -> np.ndarray:
        """``step`` with joints held, one at a time, until the arm's safety filter admits it.

        The sleep pose sits a few mm inside the box's near face, and a straight line in joint
        space to the start pose first swings the gripper out of it (the wrist tips back faster
        than the shoulder brings the arm forward): the filter refuses that step every tick and
        the arm never leaves its cradle. Holding the joint whose step leaves the box most
        lets the others bring the effector forward first. All held: the arm comes no nearer,
        and going there gives up as for a stuck arm.
        """
        box, fk = self.workspace, self.spec.fk

        def held(step: np.ndarray, joint: int) -> np.ndarray:
            step = step.copy()
            step[joint] = 0.0
            return step

        def outside(step: np.ndarray) -> float:
            return box.distance_outside(fk(self.joints + step)[:3, 3])

        now = fk(self.joints)[:3, 3]
        moving = list(np.flatnonzero(step))
        while moving and not box.admits(fk(self.joints + step)[:3, 3], now):
            joint = min(moving, key=lambda joint: outside(held(step, joint)))
            step = held(step, joint)
            moving.remove(joint)
        return step

    def _guard_start(self, target: np.ndarray) -> np.ndarray:
        """The first joint target, or the first step of a ramp to it when it is far."""
        arm = len(self.spec.joints)
        jump = np.abs(target[:arm] - self.joints)
        if jump.max() <= self.max_jump:
            return target
        joint = self.spec.joints[int(jump.argmax())]
        message = (f'first policy target is {jump.max():.2f} rad from the arm at joint '
                   f'{joint!r} (startup_max_jump_rad={self.max_jump})')
        if self.guard == 'refuse':
            self._refuse(message + '; refusing to move (startup_guard=refuse)')
        steps = int(np.ceil(jump.max() / self.ramp_step))
        self.ramp.extend(np.append(self.joints + (target[:arm] - self.joints) * (i / steps),
                                   target[arm:]) for i in range(1, steps + 1))
        self.queue.clear()   # planned before the ramp: the next chunk sees where it ended
        self.status.state, self.status.message = 'ramping', message + f'; ramping in {steps} steps'
        self.ramp_target = self.ramp.popleft()
        return self.ramp_target

    def _ee_delta_target(self, action: np.ndarray) -> np.ndarray:
        clipped = np.clip(action, EE_DELTA_LOW, EE_DELTA_HIGH)   # as the simulator does
        self.status.clipped += int(np.any(clipped != action))
        action = clipped
        q, converged = ee_delta_ik(self.spec, self.spec.fk(self.joints), self.joints, action,
                                   self.workspace)
        return np.append(q if converged else self.joints, action[-1])

    def _refuse(self, message: str) -> None:
        self.queue.clear()
        self.ramp.clear()
        self.status.state, self.status.message = 'refused', message
        raise PolicyRefused(message)
