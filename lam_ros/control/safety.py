# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The arm's safety layer: every command to the WidowX goes through ``SafetyFilter``.

The Interbotix xs_sdk driver writes goal positions to the Dynamixels without
checking limits, so this is the only thing between a bad policy output and
the hardware. It is plain Python so the rules are tested directly.

Order of checks, each one able to refuse the command (the arm then holds):
e-stop, a bad joint state (non-finite, short, missing a joint: held until a good
one arrives), stale observation, non-finite / wrong-size target, then clamping
to joint limits (minus a margin), limiting the per-step change, and refusing a
target whose end effector leaves the workspace box.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lam_ros.control.kinematics import Workspace


@dataclass(frozen=True)
class JointLimits:
    """Per-joint position limits as reported by xs_sdk's ``get_robot_info`` (radians).

    Velocity limits are not enforced here: between commands the servos' own profile
    velocity governs, and the per-step limit bounds how far one command can go.
    """

    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.names)
        for field_name in ('lower', 'upper'):
            if len(getattr(self, field_name)) != n:
                raise ValueError(f'JointLimits.{field_name} has {len(getattr(self, field_name))}'
                                 f' entries for {n} joints {self.names}')
        bad = [name for name, lo, hi in zip(self.names, self.lower, self.upper) if lo >= hi]
        if bad:
            raise ValueError(f'JointLimits: lower >= upper for joints {bad}')


# Allowed range of each tunable (inclusive): the arm node validates its parameters against
# these at start-up, so a negative step or margin can never reverse or widen a limit.
SAFETY_PARAMETER_RANGES: dict[str, tuple[float, float]] = {
    'joint_margin_rad': (0.0, 0.5),
    'max_step_rad': (0.001, 0.5),
    'stale_after_s': (0.01, 5.0),
}


@dataclass(frozen=True)
class SafetyConfig:
    """Tunable margins; defaults are conservative for a WidowX 250 at 10-50 Hz control."""

    joint_margin_rad: float = 0.05
    max_step_rad: float = 0.15           # largest change of any joint per command
    stale_after_s: float = 0.5           # no joint state for this long: refuse to move
    workspace: Workspace | None = None   # end-effector box; None only where FK is not given

    def __post_init__(self) -> None:
        for name, (low, high) in SAFETY_PARAMETER_RANGES.items():
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and low <= value <= high):
                raise ValueError(f'SafetyConfig.{name}={value!r} is outside [{low}, {high}]')


@dataclass
class SafetyDecision:
    """What to send (None: send nothing, hold) and why anything was changed or refused."""

    command: np.ndarray | None
    reasons: list[str] = field(default_factory=list)
    # Refused only for where the arm would go (the workspace): the arm may still open or close
    # its gripper, so a grasp at the table's edge does not freeze with the fingers open.
    gripper_allowed: bool = False

    @property
    def refused(self) -> bool:
        """True when the arm must hold its position."""
        return self.command is None


class SafetyFilter:
    """Turns requested arm joint targets into safe ones, or refuses them."""

    def __init__(self, limits: JointLimits, config: SafetyConfig | None = None,
                 forward_kinematics: Callable[[np.ndarray], np.ndarray] | None = None):
        self.limits = limits
        self.config = config or SafetyConfig()
        if self.config.workspace is not None and forward_kinematics is None:
            raise ValueError('SafetyFilter: a workspace box needs forward_kinematics')
        self.forward_kinematics = forward_kinematics
        self.estopped = False
        self._last_observation_time: float | None = None
        self._current: np.ndarray | None = None
        self._state_fault: str | None = None

    def engage_estop(self) -> None:
        """Latch the e-stop: nothing moves until ``release_estop``."""
        self.estopped = True

    def release_estop(self) -> None:
        """Release the latched e-stop."""
        self.estopped = False

    def observe(self, positions, stamp_s: float) -> str | None:
        """Record measured joint positions (order of ``limits.names``).

        A state with the wrong number of positions or a NaN/inf is not a measurement:
        it is refused (returns the reason) and the arm holds until a good one arrives,
        since the step limit and workspace check would otherwise compute with it.
        """
        positions = np.asarray(positions, dtype=np.float64)
        n = len(self.limits.names)
        if positions.shape != (n,):
            return self.reject_state(f'joint state has {positions.size} positions for the {n} '
                                     f'joints {list(self.limits.names)}')
        if not np.all(np.isfinite(positions)):
            bad = [name for name, value in zip(self.limits.names, positions)
                   if not np.isfinite(value)]
            return self.reject_state(f'joint state is not finite for {bad}')
        self._current = positions.copy()
        self._last_observation_time = stamp_s
        self._state_fault = None
        return None

    def reject_state(self, reason: str) -> str:
        """Forget the measured state: nothing moves until ``observe`` gets a good one."""
        self._current = None
        self._last_observation_time = None
        self._state_fault = reason
        return reason

    @property
    def state_fault(self) -> str | None:
        """Why the last joint state was refused, or None when it was good."""
        return self._state_fault

    def filter(self, target, now_s: float) -> SafetyDecision:
        """Apply every rule to one requested target, in the order of the module docstring."""
        if self.estopped:
            return SafetyDecision(None, ['e-stop engaged'])
        if self._state_fault is not None:
            return SafetyDecision(None, [f'bad joint state: {self._state_fault}'])
        if self._current is None or self._last_observation_time is None:
            return SafetyDecision(None, ['no joint state received yet'])
        age = now_s - self._last_observation_time
        if age > self.config.stale_after_s:
            return SafetyDecision(None, [f'joint state is {age:.2f}s old '
                                         f'(limit {self.config.stale_after_s}s)'])
        target = np.asarray(target, dtype=np.float64)
        n = len(self.limits.names)
        if target.shape != (n,):
            return SafetyDecision(None, [f'target has shape {target.shape}, expected ({n},) '
                                         f'for joints {self.limits.names}'])
        if not np.all(np.isfinite(target)):
            return SafetyDecision(None, ['target contains NaN or inf'])

        reasons = []
        lower = self.limits.lower + self.config.joint_margin_rad
        upper = self.limits.upper - self.config.joint_margin_rad
        clamped = np.clip(target, lower, upper)
        for name, before, after in zip(self.limits.names, target, clamped):
            if before != after:
                reasons.append(f'{name} clamped to joint limit ({before:.3f} -> {after:.3f})')

        step = clamped - self._current
        largest = np.max(np.abs(step))
        if largest > self.config.max_step_rad:
            clamped = self._current + step * (self.config.max_step_rad / largest)
            reasons.append(f'step scaled down from {largest:.3f} to '
                           f'{self.config.max_step_rad} rad')

        workspace = self.config.workspace
        if workspace is not None:
            position = np.asarray(self.forward_kinematics(clamped))[:3]
            if not workspace.admits(position, self.forward_kinematics(self._current)[:3]):
                return SafetyDecision(None, reasons + [
                    f'end effector {np.round(position, 3).tolist()} outside workspace '
                    f'{workspace}'], gripper_allowed=True)
        return SafetyDecision(clamped, reasons)
