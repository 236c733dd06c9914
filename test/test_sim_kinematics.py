# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The simulated arm has the real WidowX kinematics, limits and servo behaviour."""
import math

import modern_robotics as mr
import numpy as np
import pytest

from lam_ros.sim import WidowXSim, robot_spec, solve_ik
from lam_ros.sim.robot import arm_mjcf
from lam_ros.sim.scene import MENAGERIE_ENV

# Copied from interbotix_xs_modules/mr_descriptions.py (class wx250s): the reference.
WX250S_M = np.array([[1.0, 0.0, 0.0, 0.458325],
                     [0.0, 1.0, 0.0, 0.0],
                     [0.0, 0.0, 1.0, 0.36065],
                     [0.0, 0.0, 0.0, 1.0]])
WX250S_SLIST = np.array([[0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
                         [0.0, 1.0, 0.0, -0.11065, 0.0, 0.0],
                         [0.0, 1.0, 0.0, -0.36065, 0.0, 0.04975],
                         [1.0, 0.0, 0.0, 0.0, 0.36065, 0.0],
                         [0.0, 1.0, 0.0, -0.36065, 0.0, 0.29975],
                         [1.0, 0.0, 0.0, 0.0, 0.36065, 0.0]]).T
HOME = np.zeros(6)
SLEEP = np.array([0.0, -1.80, 1.55, 0.0, 0.8, 0.0])  # interbotix_xsarm_control wx250s.yaml


@pytest.fixture(scope='module')
def sim():
    sim = WidowXSim('wx250s')
    yield sim
    sim.close()


def _posed(sim: WidowXSim, q: np.ndarray) -> np.ndarray:
    sim.reset(q)
    return sim.ee_pose()


@pytest.mark.parametrize('q', [HOME, SLEEP, np.array([0.7, -0.4, 0.3, 0.5, 1.1, -1.2])],
                         ids=['home', 'sleep', 'random'])
def test_mujoco_fk_matches_interbotix_poe(sim, q):
    reference = mr.FKinSpace(WX250S_M, WX250S_SLIST, q)
    pose = _posed(sim, q)
    assert np.linalg.norm(pose[:3, 3] - reference[:3, 3]) < 0.01
    assert np.allclose(pose[:3, :3], reference[:3, :3], atol=1e-3)


def test_home_pose_is_the_known_point(sim):
    assert np.allclose(_posed(sim, HOME)[:3, 3], [0.458325, 0.0, 0.36065], atol=1e-4)


def test_sleep_pose_tucks_the_gripper_near_the_base(sim):
    tcp = _posed(sim, SLEEP)[:3, 3]
    assert 0.05 < tcp[0] < 0.2 and 0.05 < tcp[2] < 0.2


def test_joint_limits_are_the_interbotix_ones(sim):
    limits = sim.joint_limits
    assert sim.joint_names[:6] == ('waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle',
                                   'wrist_rotate')
    assert math.degrees(limits['shoulder'].lower) == pytest.approx(-108)
    assert math.degrees(limits['elbow'].upper) == pytest.approx(92)
    assert math.degrees(limits['wrist_angle'].upper) == pytest.approx(123)
    assert limits['left_finger'].lower == pytest.approx(0.015)
    assert limits['waist'].velocity == pytest.approx(math.pi)


def test_targets_beyond_limits_are_clipped(sim):
    sim.reset(HOME)
    sim.set_joint_targets([0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.05])
    commanded = sim.joint_targets()     # the servo setpoints themselves, not where physics ended
    assert commanded[1] == pytest.approx(sim.joint_limits['shoulder'].upper)
    assert commanded[6] == pytest.approx(sim.joint_limits['left_finger'].upper)
    sim.step(1.0)
    q = sim.joint_positions()
    assert q[1] <= sim.joint_limits['shoulder'].upper + 0.01
    assert q[6] <= sim.joint_limits['left_finger'].upper + 1e-3


def test_servo_tracks_a_step_without_overshoot(sim):
    sim.reset(HOME)
    target = np.array([0.4, -0.3, 0.3, 0.3, 0.4, -0.4])
    sim.set_joint_targets(np.append(target, 0.03))
    overshoot = 0.0
    for _ in range(30):           # 0.3 s
        sim.step(0.01)
        overshoot = max(overshoot, float(np.max((sim.joint_positions()[:6] - target)
                                                * np.sign(target))))
    assert np.max(np.abs(sim.joint_positions()[:6] - target)) < 0.01
    assert overshoot < 0.05 * np.max(np.abs(target))


def test_ik_round_trips_through_fk():
    spec = robot_spec('wx250s')
    q_true = np.array([0.3, -0.2, 0.4, 0.1, 1.0, -0.3])
    q, ok = solve_ik(spec, spec.fk(q_true), q_true + 0.1)
    assert ok
    assert np.allclose(spec.fk(q), spec.fk(q_true), atol=1e-3)


def test_five_dof_models_have_their_own_link_lengths():
    sim = WidowXSim('wx200')
    assert len(sim.arm_joint_names) == 5 and 'forearm_roll' not in sim.joint_names
    assert np.allclose(_posed(sim, np.zeros(5))[:3, 3], [0.408575, 0.0, 0.31065], atol=1e-4)


def test_unknown_robot_model_names_the_supported_ones():
    with pytest.raises(ValueError, match='wx250s'):
        WidowXSim('px100')


def test_menagerie_without_root_is_a_clear_error(monkeypatch):
    monkeypatch.delenv(MENAGERIE_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=MENAGERIE_ENV):
        WidowXSim(arm_source='menagerie')
    monkeypatch.setenv(MENAGERIE_ENV, '/nonexistent/menagerie')
    with pytest.raises(FileNotFoundError, match='trossen_wx250s'):
        WidowXSim(arm_source='menagerie')


def test_menagerie_style_arm_gets_its_tcp_site_from_m(tmp_path, monkeypatch):
    # A stand-in checkout: our arm without the TCP site, loaded through the menagerie path.
    xml = '\n'.join(line for line in arm_mjcf(robot_spec('wx250s')).splitlines()
                    if 'ee_gripper_link' not in line)
    (tmp_path / 'trossen_wx250s').mkdir()
    (tmp_path / 'trossen_wx250s' / 'wx250s.xml').write_text(xml)
    monkeypatch.setenv(MENAGERIE_ENV, str(tmp_path))
    sim = WidowXSim(arm_source='menagerie')
    assert np.allclose(_posed(sim, SLEEP), mr.FKinSpace(WX250S_M, WX250S_SLIST, SLEEP),
                       atol=1e-4)
