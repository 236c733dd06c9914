# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The arm safety filter clamps, limits, refuses and latches as documented."""
import numpy as np
import pytest

from lam_ros.kinematics import robot_spec
from lam_ros.safety import JointLimits, SafetyConfig, SafetyFilter

SPEC = robot_spec('wx250s')
LIMITS = JointLimits(SPEC.joints,
                     lower=np.array([-3.14, -1.88, -2.15, -3.14, -1.75, -3.14]),
                     upper=np.array([3.14, 1.99, 1.60, 3.14, 2.15, 3.14]),
                     velocity=np.full(6, 3.14))
READY = np.array([0.0, -0.5, 0.5, 0.0, 0.5, 0.0])


def make_filter(**config) -> SafetyFilter:
    safety = SafetyFilter(LIMITS, SafetyConfig(**config),
                          lambda q: SPEC.fk(q)[:3, 3])
    safety.observe(READY, stamp_s=100.0)
    return safety


def test_small_valid_step_passes_unchanged():
    target = READY + 0.05
    decision = make_filter().filter(target, now_s=100.1)
    assert not decision.refused and decision.reasons == []
    np.testing.assert_allclose(decision.command, target)


def test_targets_beyond_joint_limits_are_clamped_inside_the_margin():
    safety = make_filter(max_step_rad=10.0, workspace_min=(-9, -9, -9), workspace_max=(9, 9, 9))
    target = READY.copy()
    target[1] = 5.0     # shoulder far past its upper limit
    decision = safety.filter(target, now_s=100.1)
    assert decision.command[1] == pytest.approx(LIMITS.upper[1] - 0.05)
    assert any('shoulder clamped' in r for r in decision.reasons)


def test_large_steps_are_scaled_to_the_per_step_limit():
    safety = make_filter(max_step_rad=0.1)
    target = READY + np.array([0.8, 0, 0, 0, 0, 0.4])
    decision = safety.filter(target, now_s=100.1)
    step = decision.command - READY
    assert np.max(np.abs(step)) == pytest.approx(0.1)
    np.testing.assert_allclose(step / np.max(np.abs(step)), [1, 0, 0, 0, 0, 0.5])


def test_stale_joint_states_refuse_motion():
    decision = make_filter(stale_after_s=0.5).filter(READY + 0.01, now_s=100.6)
    assert decision.refused and 'old' in decision.reasons[0]


def test_estop_latches_until_released():
    safety = make_filter()
    safety.engage_estop()
    assert safety.filter(READY, now_s=100.1).refused
    safety.release_estop()
    assert not safety.filter(READY, now_s=100.1).refused


@pytest.mark.parametrize('target', [np.full(6, np.nan), np.zeros(5), np.zeros((2, 6))])
def test_malformed_targets_are_refused(target):
    decision = make_filter().filter(target, now_s=100.1)
    assert decision.refused


def test_leaving_the_workspace_is_refused_but_returning_to_it_is_allowed():
    safety = make_filter(max_step_rad=10.0, workspace_min=(0.05, -0.45, 0.15))
    down = READY + np.array([0, 0.9, 0.6, 0, 0.3, 0])   # ee down into the table
    assert SPEC.fk(down)[2, 3] < 0.15
    assert safety.filter(down, now_s=100.1).refused
    safety.observe(down, stamp_s=100.2)                  # somehow there: moving up is fine
    assert not safety.filter(READY, now_s=100.3).refused


def test_unknown_robot_model_is_named():
    with pytest.raises(ValueError, match="robot_model 'wx999' is not supported"):
        robot_spec('wx999')
