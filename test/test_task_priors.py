# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""What a task's robot demos say of any demo of it (``lam_models.data.task_priors``)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from lam_models.data.episode import Episode, gripper_events
from lam_models.data.task_priors import TaskPriors, event_heights, step_gripper, task_priors
from lam_models.data.windows import waypoint_targets

EE_DELTA_SPACE = 'ee_delta [dx, dy, dz, droll, dpitch, dyaw, gripper(1=open)]'


def demo(grasp_z: float, task: str = 'pick_place', start_z: float = 0.1) -> Episode:
    """Five steps: grasp at 1 (at ``grasp_z``), release at 3 (1 cm higher)."""
    actions = np.zeros((5, 7), np.float32)
    actions[:, 6] = [1, 0, 0, 1, 1]
    path = np.zeros((5, 3), np.float32)
    path[:, 2] = [start_z, grasp_z, 0.1, grasp_z + 0.01, 0.1]
    return Episode(frames=np.zeros((5, 4, 4, 3), np.uint8), timestamps=np.arange(5.0),
                   actions=actions, effector_positions=path, task=task,
                   metadata={'action_space': EE_DELTA_SPACE})


def test_event_heights_are_the_demos_mean_grasp_and_release_heights():
    hand = demo(0.5)
    hand.embodiment = 'human'                               # an oracle's hand: not the robot's
    assert event_heights([demo(0.02), demo(0.04), hand]).tolist() == pytest.approx([0.03, 0.04])
    grasp_only = demo(0.02)
    grasp_only.actions[3:, 6] = 0
    with pytest.raises(ValueError, match='event_heights: no robot episode .* has a release'):
        event_heights([grasp_only])


def test_a_smeared_grip_steps_back_to_the_open_close_open_command_it_smears():
    command = np.r_[np.ones(10), np.zeros(12), np.ones(10)]
    rng = np.random.default_rng(0)
    smeared = 0.5 + 0.6 * (command - 0.5) + rng.normal(0, 0.35, len(command))  # a regression's
    assert len(gripper_events(smeared[:, None])) > 2          # read at 0.5, it flickers
    stepped = step_gripper(smeared, 2)
    assert set(np.unique(stepped)) == {0.0, 1.0}
    np.testing.assert_allclose(gripper_events(stepped[:, None]), [10, 22], atol=1)
    np.testing.assert_array_equal(step_gripper(smeared, 0), np.ones(len(command)))
    assert step_gripper(np.array([0.9, 0.1]), 2).tolist() == [1.0, 0.0]   # room for one
    flat = 0.7 + rng.normal(0, 0.05, 20)                      # no change to read: open
    np.testing.assert_array_equal(step_gripper(flat, 2), np.ones(20))
    decoded = np.c_[np.full((20, 3), 0.01), np.zeros((20, 3)), flat]
    held = TaskPriors(2, (0.2, 0.0, 0.14), (0.03, 0.04)).constrain(decoded)
    np.testing.assert_allclose(held[:, :3], decoded[:, :3], atol=1e-7)   # no event, no anchor


def test_task_priors_come_from_each_tasks_robot_demos_not_human_videos():
    hand = demo(0.5)
    hand.embodiment = 'human'
    pushing = replace(demo(0.02, task='push'), actions=np.c_[np.zeros((5, 6)), np.ones(5)])
    joints = replace(demo(0.02, task='joint_pick'), metadata={})   # no dz column to anchor
    priors = task_priors([demo(0.02, start_z=0.12), demo(0.04), hand, pushing, joints])
    assert priors['pick_place'].grip_changes == 2
    assert priors['pick_place'].start == pytest.approx((0, 0, 0.11))
    assert priors['pick_place'].event_heights == pytest.approx((0.03, 0.04))
    assert priors['push'] == TaskPriors(0, pytest.approx((0, 0, 0.1)), ())
    assert priors['joint_pick'] == TaskPriors(2)
    with pytest.raises(ValueError, match='task_priors: no robot episode with actions'):
        task_priors([hand])


def test_a_drifting_decoded_path_held_to_the_priors_reaches_the_demos_heights():
    """A reach decoded a quarter short, with noise: its height waypoints miss, held they do not."""
    true_dz = np.r_[np.full(10, -0.0115), np.zeros(2), np.full(8, 0.01), np.full(10, -0.0072),
                    np.zeros(5)]
    grip = np.r_[np.ones(12), np.zeros(18), np.ones(5)]            # grasp at 12, release at 30
    truth = np.c_[np.zeros((35, 2)), true_dz, np.zeros((35, 3)), grip].astype(np.float32)
    path = np.c_[np.zeros((36, 2)), 0.14 + np.r_[0, np.cumsum(true_dz)]][:35]
    rng = np.random.default_rng(0)
    decoded = truth.copy()
    decoded[:, 2] = 0.75 * true_dz + rng.normal(0, 0.002, 35)
    decoded[:, 6] = 0.5 + 0.6 * (grip - 0.5) + rng.normal(0, 0.15, 35)
    priors = TaskPriors(2, (0.0, 0.0, 0.14), (float(path[12, 2]), float(path[30, 2])))
    held = priors.constrain(decoded)
    events = gripper_events(held)
    np.testing.assert_allclose(events, [12, 30], atol=1)
    np.testing.assert_allclose(0.14 + np.cumsum(held[:, 2])[events - 1], priors.event_heights,
                               atol=1e-6)   # the summed path is at each height at its change
    true_waypoints = waypoint_targets(truth, path)[:2]
    raw_error = np.abs(waypoint_targets(decoded)[:2] - true_waypoints)[..., 2].max()
    held_error = np.abs(waypoint_targets(held)[:2] - true_waypoints)[..., 2].max()
    assert held_error < 0.3 * raw_error, (held_error, raw_error)
    assert TaskPriors(2).constrain(decoded)[:, 2].tolist() == decoded[:, 2].tolist()  # no heights


def test_event_points_anchor_every_axis_and_a_point_not_seen_only_the_height():
    rng = np.random.default_rng(1)
    decoded = np.c_[rng.normal(0, 0.01, (20, 6)), np.r_[np.ones(5), np.zeros(7), np.ones(8)]]
    priors = TaskPriors(2, (0.2, 0.0, 0.14), (0.03, 0.04))
    held = priors.constrain(decoded, [[0.3, 0.1, 0.02], None])   # grasp seen, release not
    path = np.asarray(priors.start) + np.r_[np.zeros((1, 3)), np.cumsum(held[:, :3], 0)]
    np.testing.assert_allclose(path[5], [0.3, 0.1, 0.02], atol=1e-6)    # where it was seen
    assert path[12, 2] == pytest.approx(0.04, abs=1e-6)                  # its height only
    np.testing.assert_allclose(held[5:12, :2], decoded[5:12, :2], atol=1e-7)
    np.testing.assert_allclose(held[12:, :3], decoded[12:, :3], atol=1e-7)   # free after


def pick_place_heights(grasp: int, release: int, length: int = 44) -> np.ndarray:
    """Height commands as the sim's scripted pick-and-place (down, stand, up).

    The grip changes while the effector stands between a descent and a lift.
    """
    dz = np.zeros(length, np.float32)
    dz[grasp - 5:grasp - 2], dz[grasp + 4:grasp + 6] = -0.025, 0.03
    dz[release - 6:release - 2], dz[release + 3:release + 6] = -0.02, 0.03
    return dz


def pick_place_demo(grasp: int, release: int) -> Episode:
    grip = np.ones(44, np.float32)
    grip[grasp:release] = 0.0
    actions = np.c_[np.zeros((44, 2)), pick_place_heights(grasp, release), np.zeros((44, 3)),
                    grip].astype(np.float32)
    path = 0.14 + np.c_[np.zeros((44, 2)), np.r_[0, np.cumsum(actions[:-1, 2])]]
    return Episode(frames=np.zeros((44, 4, 4, 3), np.uint8), timestamps=np.arange(44.0),
                   actions=actions, effector_positions=path.astype(np.float32),
                   task='pick_place', metadata={'action_space': EE_DELTA_SPACE})


def test_a_change_cost_places_each_change_where_its_own_row_is_cheapest():
    grip = np.r_[np.ones(3), np.full(10, 0.5), np.zeros(3)]    # the grip leaves it open
    cost = np.ones((2, 16))
    cost[0, 5] = cost[1, 9] = 0.0
    assert gripper_events(step_gripper(grip, 2, 10 * cost)[:, None]).tolist() == [5, 9]
    assert gripper_events(step_gripper(grip, 2, 10 * cost[::-1])[:, None]).tolist() != [5, 9]
    cost = np.ones((2, 16))
    cost[0, 11] = cost[1, 13] = 0.0
    assert gripper_events(step_gripper(grip, 2, 10 * cost)[:, None]).tolist() == [11, 13]
    with pytest.raises(ValueError, match=r'change_cost is \(16,\), needs at least \(2, 16\)'):
        step_gripper(grip, 2, np.zeros(16))


def test_where_the_decoded_grip_misleads_the_heights_around_each_change_say_when():
    """A grip decoded 10 steps early at the grasp and 4 late at the release.

    CoMo's decoded grasp was 5 or more steps off in 36% of 200 human videos.
    """
    rng = np.random.default_rng(2)
    demos = [pick_place_demo(grasp, grasp + 16) for grasp in (12, 14, 16, 18)]

    def decoded(actions: np.ndarray, grip: np.ndarray) -> np.ndarray:   # the decoder's noise
        noisy = actions + np.c_[rng.normal(0, 0.002, (len(actions), 6)),
                                rng.normal(0, 0.3, len(actions))].astype(np.float32)
        noisy[:, 6] += 0.8 * (grip - actions[:, 6])
        return noisy
    weighed = task_priors(demos, [decoded(d.actions, d.actions[:, 6]) for d in demos])
    unweighed = task_priors(demos)['pick_place']
    priors = weighed['pick_place']
    assert unweighed.profile_weight == 0.0 and priors.profile_weight > 1000
    np.testing.assert_allclose(priors.event_profiles[0],
                               [0, -0.025, -0.025, -0.025, 0, 0, 0, 0, 0, 0, 0.03, 0.03])
    np.testing.assert_allclose(priors.event_profiles[1],
                               [-0.02] * 4 + [0] * 5 + [0.03] * 3)
    hand = pick_place_demo(16, 32).actions
    misled = np.r_[np.ones(6), np.zeros(30), np.ones(8)]        # grasps at 6, releases at 36
    video = decoded(hand, misled)
    events = gripper_events(unweighed.constrain(video))
    assert events[0] < 14 and events[1] > 34, events            # misled, both
    assert gripper_events(priors.constrain(video)).tolist() == [16, 32]
    with pytest.raises(ValueError, match=r'task_priors: 1 decoded action sequences for 4'):
        task_priors(demos, [None])
    with pytest.raises(ValueError, match=r'task_priors: episode 2 decoded as \(43, 7\), its '
                                         r'actions are \(44, 7\)'):
        task_priors(demos, [None, None, demos[2].actions[1:], None])
    with pytest.raises(ValueError, match=r'step_gripper: change_cost is \(1, 44\), needs'):
        step_gripper(video[:, 6], 2, np.zeros((1, 44)))


def test_a_grip_kept_min_dwell_apart_does_not_fuse_its_grasp_with_its_release():
    """The hold read open but for the steps before the release, where a change is cheap too.

    17 of 200 simulated human videos had grasp and release one step apart so (session 29).
    """
    grip = np.ones(44)
    grip[16:27], grip[27:32] = 0.7, 0.0
    cost = np.full((2, 44), 5.0)
    cost[0, 16] = 0.5                       # the heights say: a grasp here, or just before
    cost[0, 27] = cost[1, 32] = 0.0         # the release, whose profile looks alike
    assert gripper_events(step_gripper(grip, 2, cost)[:, None]).tolist() == [27, 32]
    assert gripper_events(step_gripper(grip, 2, cost, min_dwell=8)[:, None]).tolist() == [16, 32]
    rng = np.random.default_rng(4)
    for _ in range(100):                     # whatever the grip says
        events = gripper_events(step_gripper(rng.random(40), 2, min_dwell=8)[:, None])
        assert len(events) < 2 or events[1] - events[0] >= 8, events
    assert step_gripper(np.array([1, 0, 0, 1.0]), 2, min_dwell=8).tolist() == [1, 0, 0, 0]
    for dwell in (0, 2.5):
        with pytest.raises(ValueError, match=f'step_gripper: min_dwell is {dwell}, needs a whole'):
            step_gripper(grip, 2, min_dwell=dwell)
    demos = [pick_place_demo(12, 28), pick_place_demo(14, 31), pick_place_demo(14, 30)]
    demos[2].actions[31:33, 6] = 0.0          # re-grips, 1 step after its release: not the hold
    assert task_priors(demos)['pick_place'].min_dwell == 8   # half the shortest hold, 16


def test_a_reach_decoded_short_is_lengthened_where_it_moves_not_where_the_hand_stands():
    """Decoded at half its size, a reach then a descent: the anchors add the rest.

    Spread evenly, most of what is missing would go into the descent's steps, where the hand
    does not move across the table; the depth axis, read worst, follows the sideways one.
    """
    truth = np.zeros((16, 7), np.float32)
    truth[:4, :2] = [0.03, 0.02]             # across the table
    truth[4:11, 2] = -0.01                   # then down to the grasp at 11
    truth[:, 6] = np.r_[np.ones(11), np.zeros(5)]
    decoded = truth.copy()
    decoded[:4, 0] = 0.0                     # the depth not read
    decoded[:4, 1] = 0.01                    # sideways, half
    start = (0.2, 0.0, 0.14)
    grasp = np.asarray(start) + truth[:11, :3].sum(0)
    held = TaskPriors(1, start, (float(grasp[2]),)).constrain(decoded, [grasp.tolist()])
    np.testing.assert_allclose(held[:11, :3].sum(0), truth[:11, :3].sum(0), atol=1e-6)
    missing = truth[:4, :2].sum(0) - decoded[:4, :2].sum(0)
    added = held[:11, :2] - decoded[:11, :2]
    assert (added[:4].sum(0) > 0.7 * missing).all(), added   # evenly: 4/11 of it
    np.testing.assert_allclose(held[4:11, 2], truth[4:11, 2], atol=1e-6)   # heights as read
