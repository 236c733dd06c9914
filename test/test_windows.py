# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Policy training windows: history, chunks, masks, the robot/human mix, from the HDF5 file."""
import numpy as np
import pytest

from lam_models.data.dataset import write_dataset
from lam_models.data.episode import ACTION_COLUMNS, LOOK_TARGETS, Episode
from lam_models.data.windows import STATE_STD_FLOOR, PolicyWindows, WindowShape

SHAPE = WindowShape(obs_horizon=2, action_horizon=4, image_size=8)


def robot(length: int, offset: float = 0.0) -> Episode:
    frames = np.zeros((length, 16, 16, 3), np.uint8)
    frames[:, 0, 0, 0] = np.arange(length)          # pixel (0,0) survives the 2x downsizing
    return Episode(frames=frames, timestamps=np.arange(length) * 0.1,
                   actions=offset + np.arange(length)[:, None].repeat(7, 1).astype(np.float32),
                   joint_positions=np.arange(length)[:, None].repeat(8, 1).astype(np.float32),
                   pseudo_actions=np.full((length, 3), 1.0, np.float32),
                   metadata={'action_space': 'ee_delta [dx, ...]',
                             'pseudo_valid': np.arange(length) < length - 1})


def human(length: int) -> Episode:
    return Episode(frames=np.zeros((length, 16, 16, 3), np.uint8),
                   timestamps=np.arange(length) * 0.1, embodiment='human',
                   pseudo_actions=np.full((length, 3), -1.0, np.float32),
                   metadata={'pseudo_valid': np.ones(length, bool)})


def test_history_repeats_the_first_frame_and_chunks_are_masked_past_the_end():
    windows = PolicyWindows([robot(5)], SHAPE)
    batch = windows.batch(np.array([0, 4]))
    assert batch['images'].shape == (2, 2, 8, 8, 3)
    assert batch['images'][0, :, 0, 0, 0].tolist() == [0, 0]        # t=0: first frame twice
    assert batch['state'][1, :, 0].tolist() == [3, 4]
    assert batch['actions'][1, :, 0].tolist() == [4, 4, 4, 4]       # last row repeated...
    assert batch['action_mask'][1].tolist() == [True, False, False, False]  # ...but masked
    assert batch['pseudo_mask'][0].tolist() == [True, True, True, True]
    assert batch['pseudo_mask'][1].tolist() == [False] * 4          # last frame: no label


def test_robot_fraction_sets_the_mix_and_human_rows_train_only_the_latent_head():
    windows = PolicyWindows([robot(6), human(10)], SHAPE)
    batch = windows.sample(40, np.random.default_rng(0), robot_fraction=0.25)
    assert int(batch['is_robot'].sum()) == 10
    humans = ~batch['is_robot']
    assert not batch['action_mask'][humans].any() and not batch['state_valid'][humans].any()
    assert (batch['pseudo_actions'][humans] == -1).all()
    assert batch['pseudo_mask'][humans][:, 0].all()     # every human row starts labelled
    stats = windows.normalization_stats()
    assert stats['action_mean'][0] == pytest.approx(2.5)           # robot rows only
    assert stats['latent_mean'].tolist() == pytest.approx([(5 - 10) / 15] * 3)  # valid rows
    with pytest.raises(ValueError, match='robot_fraction'):
        windows.sample(4, np.random.default_rng(0), robot_fraction=1.5)


def test_an_oracles_human_rows_with_actions_keep_the_human_share_of_the_mix():
    oracle = human(10)
    oracle.actions, oracle.pseudo_actions = robot(10).actions, None
    oracle.metadata = {'action_space': 'ee_delta [dx, ...]'}
    windows = PolicyWindows([robot(6), oracle], SHAPE)
    batch = windows.sample(40, np.random.default_rng(0), robot_fraction=0.25)
    assert int(batch['is_robot'].sum()) == 10           # drawn by embodiment, not by labels
    humans = ~batch['is_robot']
    assert batch['action_mask'][humans][:, 0].all()     # yet their actions train the head
    assert not batch['state_valid'][humans].any()       # with no proprio
    robot_look, human_look = windows.look_rows(pseudo=False)
    assert robot_look.tolist() == [0, 1] and human_look.tolist() == [6, 7]   # oracle waypoints
    assert windows.normalization_stats()['action_mean'][0] == pytest.approx(
        (15 + 45) / 16)                                 # every row with actions


def test_human_rows_that_only_look_keep_their_waypoints_and_train_no_action_head():
    oracle = human(10)
    oracle.actions, oracle.pseudo_actions = robot(10).actions, None
    oracle.metadata = {'action_space': 'ee_delta [dx, ...]'}
    windows = PolicyWindows([robot(6), oracle], SHAPE, human_acts=False)
    batch = windows.sample(40, np.random.default_rng(0), robot_fraction=0.25)
    humans = ~batch['is_robot']
    assert int(humans.sum()) == 30                       # still drawn at their share...
    assert not batch['action_mask'][humans].any()        # ...to train no action head
    assert batch['waypoint_mask'][humans].all()          # but where the hand grasps
    assert windows.look_rows(pseudo=False)[1].tolist() == [6, 7]
    assert windows.normalization_stats()['action_mean'][0] == pytest.approx(2.5)   # robot's
    lacking = robot(6)
    lacking.metadata['action_columns'] = [False] + [True] * 6
    with pytest.raises(ValueError, match=r'columns \[0\] are real in no episode that trains'):
        PolicyWindows([lacking, oracle], SHAPE, human_acts=False)   # the oracle only looks
    PolicyWindows([lacking, oracle], SHAPE)                         # the oracle acts too


def test_decoded_human_actions_train_only_their_real_columns_and_give_no_waypoints():
    decoded = human(10)
    decoded.actions, decoded.pseudo_actions = robot(10, offset=100.0).actions, None
    columns = [False, True, True, False, False, False, False]    # y and z transfer
    decoded.metadata = {'action_space': 'ee_delta [dx, ...]', ACTION_COLUMNS: columns}
    windows = PolicyWindows([robot(6), decoded], SHAPE)
    batch = windows.batch(np.array([0, 6]))
    assert batch['action_columns'][0].all() and batch['action_columns'][1].tolist() == columns
    stats = windows.normalization_stats()
    assert stats['action_mean'][0] == pytest.approx(2.5)          # robot rows alone
    assert stats['action_mean'][1] == pytest.approx((15 + 1045) / 16)    # both
    # a column the episode lacks holds the mean of those that have it: 0 once normalized
    assert batch['actions'][1, :, 0].tolist() == [pytest.approx(2.5)] * 4
    assert batch['actions'][1, :, 1].tolist() == [100, 101, 102, 103]
    assert windows.look_rows(pseudo=False)[1].tolist() == []     # no grip: no waypoints
    decoded.metadata[ACTION_COLUMNS] = [True, False]
    with pytest.raises(ValueError, match=r'episode 1: metadata .action_columns. must be 7'):
        PolicyWindows([robot(6), decoded], SHAPE)
    lacking = robot(6)
    lacking.metadata[ACTION_COLUMNS] = decoded.metadata[ACTION_COLUMNS] = columns
    with pytest.raises(ValueError, match=r'action columns \[0, 3, 4, 5, 6\] are real in no'):
        PolicyWindows([lacking, decoded], SHAPE)


def test_mixed_action_spaces_are_refused_and_a_dataset_loads(tmp_path):
    joint = robot(4)
    joint.metadata['action_space'] = 'joint_position [waist, ...]'
    with pytest.raises(ValueError, match='joint_position'):
        PolicyWindows([robot(4), joint], SHAPE)
    path = tmp_path / 'data.h5'
    write_dataset([robot(5, offset=0.5), human(7)], path)
    windows = PolicyWindows.from_dataset(path, SHAPE)
    assert len(windows) == 12 and windows.action_space == 'ee_delta [dx, ...]'
    assert windows.batch(np.array([1]))['actions'][0, 0, 0] == pytest.approx(1.5)


def test_mixed_state_or_latent_widths_are_refused_naming_the_episode_and_both_widths():
    narrow = robot(4)
    narrow.metadata['source'] = 'session_b/episode_000003'
    narrow.joint_positions = narrow.joint_positions[:, :6]
    with pytest.raises(ValueError, match=r'^episode 2 \(session_b/episode_000003\): state '
                                         r'\(joint_positions\) has 6 columns, episode 0 has 8'):
        PolicyWindows([robot(4), human(3), narrow], SHAPE)
    relabelled = human(5)
    relabelled.pseudo_actions = np.zeros((5, 16), np.float32)
    with pytest.raises(ValueError, match=r'^episode 1: latent \(pseudo_actions\) has 16 '
                                         r'columns, episode 0 has 3'):
        PolicyWindows([robot(4), relabelled], SHAPE)
    stateless = robot(4)            # a robot episode without joint positions is no conflict
    stateless.joint_positions = None
    windows = PolicyWindows([stateless, robot(3)], SHAPE)
    assert windows.state_dim == 8 and windows.has_state.tolist() == [False, True]


def test_a_joint_the_demos_barely_move_is_not_normalized_into_tens_of_std():
    still = robot(6)
    still.joint_positions[:, 3] = 0.001 * np.arange(6)     # forearm roll: std 0.0017 rad
    still.actions[:, 6] = 1.0                               # gripper held open: std 0
    stats = PolicyWindows([still], SHAPE).normalization_stats()
    assert stats['state_std'][3] == pytest.approx(STATE_STD_FLOOR)
    assert stats['state_std'][0] == pytest.approx(np.arange(6).std(), rel=1e-5)  # wide: kept
    drift = 0.17                                            # seen in a closed-loop rollout
    assert (drift - stats['state_mean'][3]) / stats['state_std'][3] < 4
    assert stats['action_std'][6] == pytest.approx(1e-3)    # the floor is the state's only


def test_waypoints_without_a_path_are_the_commanded_translation_to_grasp_and_release():
    reach = robot(6)
    reach.actions[:] = 0.0
    reach.actions[:, 0] = 0.01                              # 1 cm along x every step
    reach.actions[:, 6] = [1, 1, 1, 0, 0, 1]                # closes at step 3, opens at 5
    windows = PolicyWindows([reach, human(4)], SHAPE)
    batch = windows.batch(np.arange(6))
    along_x = batch['waypoints'][:, :, 0].numpy()
    assert along_x == pytest.approx(np.array([[.03, .05], [.02, .04], [.01, .03],
                                              [.02, .03], [.01, .02], [.01, .01]]))
    assert not batch['waypoints'][:, :, 1:].any()
    assert windows.look_rows(pseudo=False)[0].tolist() == [0, 1]   # before the arm moves
    assert not windows.batch(np.arange(6, 10))['waypoint_mask'].any()   # human rows
    looked = windows.sample_look(16, np.random.default_rng(0))
    assert looked['waypoint_mask'].all() and set(looked['images'][:, -1, 0, 0, 0].tolist()) \
        <= {0, 1}
    assert windows.look_rows(pseudo=False)[1].size == 0      # human frames by label only
    assert windows.look_rows(pseudo=True)[1].tolist() == [6, 7]
    mixed = windows.sample_look(16, np.random.default_rng(0), robot_fraction=0.25)
    assert mixed['is_robot'].sum() == 4 and mixed['pseudo_mask'][~mixed['is_robot'], 0].all()


def test_waypoints_follow_the_effectors_path_where_the_episode_has_one():
    lagging = robot(6)
    lagging.actions[:] = 0.0
    lagging.actions[:, 0] = 0.01                            # told 1 cm along x every step...
    lagging.actions[:, 6] = [1, 1, 1, 0, 0, 1]
    lagging.effector_positions = np.zeros((6, 3), np.float32)
    lagging.effector_positions[:, 0] = [0.0, .006, .012, .018, .024, .03]   # ...moves 6 mm
    watched = human(4)                                      # a human's path is ground truth
    watched.effector_positions = np.ones((4, 3), np.float32)
    windows = PolicyWindows([lagging, watched], SHAPE)
    waypoints = windows.batch(np.arange(6))['waypoints']
    assert waypoints[0, :, 0].tolist() == pytest.approx([.018, .03])   # grasp at 3, then end
    assert waypoints[4, :, 0].tolist() == pytest.approx([.006, .006])  # the end: last frame
    human_rows = windows.batch(np.arange(6, 10))                       # no actions: unread
    assert not human_rows['waypoint_mask'].any() and not human_rows['waypoints'].any()


def test_look_first_needs_ee_delta_actions_or_a_recorded_effector_path():
    joint = robot(4)
    joint.metadata['action_space'] = 'joint_position [waist, ...]'
    windows = PolicyWindows([joint], SHAPE)     # its own pseudo-actions are no look target
    assert not windows.batch(np.arange(4))['waypoint_mask'].any()
    with pytest.raises(ValueError, match=r"look-first needs first frames with a target: "
                                         r"ee_delta actions .*'joint_position \[waist, "
                                         r"\.\.\.\]' actions, no effector path and no human "
                                         r"labels"):
        windows.sample_look(4, np.random.default_rng(0))
    # a recorded demo's joints give its path (lam-ros dataset build): the waypoints follow it
    joint.effector_positions = np.zeros((4, 3), np.float32)
    joint.effector_positions[:, 2] = [0.0, -0.01, -0.02, -0.02]
    joint.actions[:, -1] = [1, 1, 0, 0]                     # grasp at step 2
    windows = PolicyWindows([joint], SHAPE)
    batch = windows.batch(np.arange(4))
    assert batch['waypoint_mask'].all()
    assert batch['waypoints'][:2, 0, 2].tolist() == pytest.approx([-0.02, -0.01])
    assert windows.sample_look(4, np.random.default_rng(0))['waypoint_mask'].all()


def test_a_videos_look_targets_are_first_frame_waypoints_from_the_robots_home():
    demos = [robot(6), robot(6)]
    for demo, home_z in zip(demos, (0.2, 0.3)):
        demo.effector_positions = np.zeros((6, 3), np.float32)
        demo.effector_positions[:, 2] = np.linspace(home_z, 0.0, 6)  # home, then down
        demo.actions[:, 6] = [1, 1, 0, 0, 1, 1]
    video = human(5)
    video.pseudo_actions = None
    video.metadata = {LOOK_TARGETS: [[0.3, -0.1, 0.02], None]}   # grasp seen, release not
    unseen = human(3)
    unseen.pseudo_actions, unseen.metadata = None, {LOOK_TARGETS: [None, None]}
    windows = PolicyWindows([demos[0], video, unseen, demos[1]], SHAPE)
    first = windows.batch(np.array([6, 7, 8]))
    assert first['waypoints'][0, 0].tolist() == pytest.approx([0.3, -0.1, 0.02 - 0.25])
    assert first['waypoint_mask'].tolist() == [[True, False], [True, False], [False, False]]
    assert not first['action_mask'].any()
    assert windows.human_rows.tolist() == [6, 7]            # only first frames train
    assert windows.look_rows(pseudo=False)[1].tolist() == [6, 7]
    # a demo's own waypoints are not replaced by look targets
    demos[0].metadata[LOOK_TARGETS] = [[9.0, 9.0, 9.0], [9.0, 9.0, 9.0]]
    assert PolicyWindows(demos, SHAPE).batch(np.array([0]))['waypoints'].abs().max() < 1


def test_bad_look_targets_or_no_robot_home_are_refused_naming_the_episode():
    demo = robot(6)
    demo.effector_positions = np.zeros((6, 3), np.float32)
    video = human(5)
    for bad in ([[0.3, 0.1]], [[0.3, 0.1, 0.0], [np.nan, 0.0, 0.0]], 'here'):
        video.metadata = {'source': 'ego.mcap', LOOK_TARGETS: bad}
        with pytest.raises(ValueError, match=r"episode 1 \(ego.mcap\): metadata 'look_targets' "
                                             r"must be 2 entries"):
            PolicyWindows([demo, video], SHAPE)
    video.metadata = {LOOK_TARGETS: [None, None]}           # nothing seen: nothing asked
    PolicyWindows([demo, video], SHAPE)
    video.metadata = {LOOK_TARGETS: [[0.3, 0.1, 0.0], None]}
    demo.effector_positions = None                          # where would the robot start?
    demo.metadata['action_space'] = 'joint_position [waist, ...]'
    with pytest.raises(ValueError, match=r'episode 1: look targets .* need robot episodes with '
                                         r'waypoints and an effector path'):
        PolicyWindows([demo, video], SHAPE)


def test_rows_at_another_rate_than_the_robots_are_refused_naming_the_episode():
    """A human video built at 30 Hz beside 10 Hz demos: its latent steps a third the size."""
    from dataclasses import replace
    fast = replace(human(9), timestamps=np.arange(9) / 30)
    with pytest.raises(ValueError, match=r'^episode 1: frames at 30 Hz, the episodes with '
                                         r'actions at 10 Hz.*--rate-hz'):
        PolicyWindows([robot(5), fast], SHAPE)
    jittery = replace(human(9), timestamps=np.arange(9) * 0.1 + [0, .01, -.01] * 3)
    assert PolicyWindows([robot(5), jittery], SHAPE).control_rate_hz == 10.0
