# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The arm safety filter clamps, limits, refuses and latches as documented."""
import numpy as np
import pytest

from lam_ros.control.kinematics import (
    Workspace,
    ee_delta_ik,
    robot_spec,
    solve_ik,
    top_down_rotation,
)
from lam_ros.control.safety import SAFETY_PARAMETER_RANGES, JointLimits, SafetyConfig, SafetyFilter

SPEC = robot_spec('wx250s')
LIMITS = JointLimits(SPEC.joints,
                     lower=np.array([-3.14, -1.88, -2.15, -3.14, -1.75, -3.14]),
                     upper=np.array([3.14, 1.99, 1.60, 3.14, 2.15, 3.14]))
READY = np.array([0.0, -0.5, 0.5, 0.0, 0.5, 0.0])


def make_filter(**config) -> SafetyFilter:
    config.setdefault('workspace', SPEC.workspace)
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
    safety = make_filter(workspace=None)
    near_limit = READY.copy()
    near_limit[1] = 1.85
    safety.observe(near_limit, stamp_s=100.0)
    target = near_limit.copy()
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
    safety = make_filter(max_step_rad=0.5)
    down = READY + np.array([0, 0.5, 0.5, 0, 0.3, 0])   # ee down into the table
    assert SPEC.fk(down)[2, 3] < SPEC.workspace.low[2]
    assert safety.filter(down, now_s=100.1).refused
    safety.observe(down, stamp_s=100.2)                  # somehow there: moving up is fine
    assert not safety.filter(READY, now_s=100.3).refused


def test_unknown_robot_model_is_named():
    with pytest.raises(ValueError, match="robot_model 'wx999' is not supported"):
        robot_spec('wx999')


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_a_non_finite_joint_state_holds_the_arm_until_a_good_one_arrives(bad):
    safety = make_filter()
    state = READY.copy()
    state[2] = bad
    assert 'elbow' in safety.observe(state, stamp_s=100.05)
    for target in (READY + 0.01, READY + np.array([1.2, 0, 0, 0, 0, 0])):
        decision = safety.filter(target, now_s=100.1)
        assert decision.refused and 'bad joint state' in decision.reasons[0]
    assert safety.observe(READY, stamp_s=100.2) is None
    decision = safety.filter(READY + np.array([1.2, 0, 0, 0, 0, 0]), now_s=100.25)
    assert not decision.refused and np.all(np.isfinite(decision.command))
    assert np.max(np.abs(decision.command - READY)) == pytest.approx(0.15)


@pytest.mark.parametrize('state', [READY[:5], np.append(READY, 0.0), np.zeros((2, 6))])
def test_a_joint_state_of_the_wrong_size_holds_the_arm(state):
    safety = make_filter()
    assert 'positions' in safety.observe(state, stamp_s=100.05)
    assert safety.filter(READY, now_s=100.1).refused


def test_a_state_rejected_by_name_holds_the_arm():
    safety = make_filter()
    safety.reject_state("missing joints ['wrist_rotate']")
    decision = safety.filter(READY, now_s=100.1)
    assert decision.refused and 'wrist_rotate' in decision.reasons[0]


@pytest.mark.parametrize('name', sorted(SAFETY_PARAMETER_RANGES))
@pytest.mark.parametrize('sign', [-1.0, 100.0])
def test_out_of_range_tunables_are_rejected(name, sign):
    with pytest.raises(ValueError, match=name):
        SafetyConfig(**{name: sign * getattr(SafetyConfig(), name) or -1.0})


def test_a_workspace_needs_forward_kinematics():
    with pytest.raises(ValueError, match='forward_kinematics'):
        SafetyFilter(LIMITS, SafetyConfig(workspace=SPEC.workspace))


def test_workspace_rejects_inverted_or_non_finite_corners():
    with pytest.raises(ValueError, match='below'):
        Workspace((0.5, 0.0, 0.0), (0.1, 0.1, 0.1))
    with pytest.raises(ValueError, match='finite'):
        Workspace((0.0, 0.0, np.nan), (0.1, 0.1, 0.1))


def test_pressing_down_at_the_workspace_floor_is_allowed():
    """A grasp at the table: the target is clipped onto the box's floor, IK lands microns below.

    The arm froze there when any excess was refused; a target well below is still refused.
    """
    grasp = np.eye(4)
    grasp[:3, :3] = top_down_rotation(0.0)
    grasp[:3, 3] = [0.25, -0.1, SPEC.workspace.low[2]]
    at_floor, converged = solve_ik(SPEC, grasp, np.zeros(6))
    assert converged
    safety = make_filter()
    safety.observe(at_floor, stamp_s=100.0)
    press, _ = ee_delta_ik(SPEC, SPEC.fk(at_floor), at_floor, [0, 0, -0.01, 0, 0, 0, 1])
    assert SPEC.workspace.distance_outside(SPEC.fk(press)[:3, 3]) > 1e-6   # the case itself
    assert not safety.filter(press, now_s=100.1).refused
    grasp[2, 3] -= 0.005
    below, _ = solve_ik(SPEC, grasp, at_floor)
    assert safety.filter(below, now_s=100.1).refused
