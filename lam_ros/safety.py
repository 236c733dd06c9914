# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The arm's safety layer: every command to the WidowX goes through ``SafetyFilter``.

The Interbotix xs_sdk driver writes goal positions to the Dynamixels without
checking limits, so this is the only thing between a bad policy output and
the hardware. It is plain Python so the rules are tested directly.

Order of checks, each one able to refuse the command (the arm then holds):
e-stop, stale observation, non-finite / wrong-size target, then clamping to
joint limits (minus a margin), limiting the per-step change, and refusing a
target whose end effector leaves the workspace box.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class JointLimits:
    """Per-joint limits as reported by xs_sdk's ``get_robot_info`` (radians, rad/s)."""

    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.names)
        for field_name in ('lower', 'upper', 'velocity'):
            if len(getattr(self, field_name)) != n:
                raise ValueError(f'JointLimits.{field_name} has {len(getattr(self, field_name))}'
                                 f' entries for {n} joints {self.names}')
        bad = [name for name, lo, hi in zip(self.names, self.lower, self.upper) if lo >= hi]
        if bad:
            raise ValueError(f'JointLimits: lower >= upper for joints {bad}')


@dataclass(frozen=True)
class SafetyConfig:
    """Tunable margins; defaults are conservative for a WidowX 250 at 10-50 Hz control."""

    joint_margin_rad: float = 0.05
    max_step_rad: float = 0.15           # largest change of any joint per command
    stale_after_s: float = 0.5           # no joint state for this long: refuse to move
    workspace_min: tuple[float, float, float] = (0.05, -0.45, 0.02)   # metres, base frame
    workspace_max: tuple[float, float, float] = (0.55, 0.45, 0.60)


@dataclass
class SafetyDecision:
    """What to send (None: send nothing, hold) and why anything was changed or refused."""

    command: np.ndarray | None
    reasons: list[str] = field(default_factory=list)

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
        self.forward_kinematics = forward_kinematics
        self.estopped = False
        self._last_observation_time: float | None = None
        self._current: np.ndarray | None = None

    def engage_estop(self) -> None:
        """Latch the e-stop: nothing moves until ``release_estop``."""
        self.estopped = True

    def release_estop(self) -> None:
        """Release the latched e-stop."""
        self.estopped = False

    def observe(self, positions: np.ndarray, stamp_s: float) -> None:
        """Record the latest measured joint positions (same order as ``limits.names``)."""
        self._current = np.asarray(positions, dtype=np.float64).copy()
        self._last_observation_time = stamp_s

    def filter(self, target, now_s: float) -> SafetyDecision:
        """Apply every rule to one requested target, in the order of the module docstring."""
        if self.estopped:
            return SafetyDecision(None, ['e-stop engaged'])
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

        if self.forward_kinematics is not None:
            # Outside the box is allowed only when it gets the arm closer to it (e.g. out
            # of the sleep pose); never further away.
            outside_after = self._distance_outside_workspace(clamped)
            if outside_after > 1e-6 and \
                    outside_after > self._distance_outside_workspace(self._current) - 1e-6:
                position = np.asarray(self.forward_kinematics(clamped))[:3]
                return SafetyDecision(None, reasons + [
                    f'end effector {np.round(position, 3).tolist()} outside workspace '
                    f'{list(self.config.workspace_min)}..{list(self.config.workspace_max)}'])
        return SafetyDecision(clamped, reasons)

    def _distance_outside_workspace(self, joints: np.ndarray) -> float:
        position = np.asarray(self.forward_kinematics(joints))[:3]
        low = np.asarray(self.config.workspace_min)
        high = np.asarray(self.config.workspace_max)
        return float(np.linalg.norm(np.maximum(low - position, 0) + np.maximum(position - high, 0)))
