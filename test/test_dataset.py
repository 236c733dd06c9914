# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The HDF5 dataset: exact round trips from bags and Episodes, atomic writes, clear errors."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
import json
import logging
from pathlib import Path

import h5py
import matplotlib.image
import numpy as np
import pytest

from lam_models.data.bags import BagFormatError, read_session
from lam_models.data.dataset import (
    Dataset,
    DatasetError,
    build_dataset,
    read_episodes,
    write_dataset,
)
from lam_models.data.episode import (
    FRAME_RATE,
    SOURCE_FRAME_SHAPE,
    Episode,
    at_frame_rate,
    frame_stride,
    source_frame_shape,
    uneven_rows,
)
from lam_models.data.images import resize_frames
from lam_models.data.windows import PolicyWindows, WindowShape
from lam_ros.app.cli import _main as cli
from lam_ros.app.cli import recorded_effector_path
from lam_ros.control import kinematics
from lam_ros.recording import RecordingSession, TopicSpec
from lam_ros.recording.synthetic import ACTION_NAMES, ARM_JOINTS, CdrFactory

CAMERA, ACTION, JOINTS = '/cam/color', '/lam/action', '/wx250s/joint_states'
T0 = 1_700_000_000_000_000_000
JOINT_NAMES = ARM_JOINTS + ('left_finger', 'right_finger')


def record_session(root: Path, name: str, embodiment: str, episodes: int = 2,
                   frames: int = 5, period_ns: Callable[[int], int] = lambda i: 33_333_333
                   ) -> Path:
    """A session written by the recorder core (RecordingSession), as the recorder node does.

    ``period_ns(i)``: the time from frame i to frame i + 1 (a 30 fps camera's by default).
    """
    topics = [TopicSpec(CAMERA, 'sensor_msgs/msg/Image', 30.0)]
    if embodiment == 'robot':
        topics += [TopicSpec(ACTION, 'sensor_msgs/msg/JointState', 30.0),
                   TopicSpec(JOINTS, 'sensor_msgs/msg/JointState', 100.0)]
    rng = np.random.default_rng(len(name))
    with RecordingSession(root, name, 'wx250s', embodiment=embodiment, topics=topics) as session:
        cdr = CdrFactory(session.typestore)
        for e in range(episodes):
            session.start_episode(task=f'task{e}', instruction=f'do thing {e}')
            stamp = T0 + e * 100 * 33_333_333
            for i in range(frames):
                stamp += period_ns(i - 1) if i else 0
                pixels = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
                session.write(CAMERA, stamp, cdr.image(pixels, 'rgb8', stamp))
                if embodiment == 'robot':
                    session.write(JOINTS, stamp - 1000, cdr.joint_state(
                        JOINT_NAMES, rng.normal(size=len(JOINT_NAMES)), stamp - 1000))
                    session.write(ACTION, stamp + 1000, cdr.joint_state(
                        ACTION_NAMES, rng.normal(size=len(ACTION_NAMES)), stamp + 1000))
            session.stop_episode(success=bool(e % 2))
        return session.session_dir


def sim_like_episode(embodiment: str, length: int, seed: int) -> Episode:
    """What lam_ros.sim.generate_episode returns, without running MuJoCo."""
    rng = np.random.default_rng(seed)
    motion = rng.normal(size=(length, 7)).astype(np.float32)
    robot = embodiment == 'robot'
    return Episode(
        frames=rng.integers(0, 256, (length, 8, 10, 3), dtype=np.uint8),
        timestamps=np.arange(length) * 0.1, embodiment=embodiment,
        actions=motion if robot else None,
        joint_positions=rng.normal(size=(length, 8)).astype(np.float32) if robot else None,
        hidden_motion=None if robot else motion, task='push', instruction='push the block',
        effector_positions=rng.normal(size=(length, 3)).astype(np.float32),
        success=None if seed == 2 else bool(seed % 2),
        metadata={'source': 'lam_ros.sim', 'seed': seed, 'camera': 'ego',
                  'camera_K': np.eye(3).tolist(), 'action_space': 'ee_delta [dx, ...]',
                  'control_dt': np.float64(0.1)})


def assert_same_episode(back: Episode, original: Episode) -> None:
    for name in ('frames', 'timestamps', 'actions', 'joint_positions', 'hidden_motion',
                 'effector_positions'):
        expected, got = getattr(original, name), getattr(back, name)
        if expected is None:
            assert got is None, name
        else:
            assert got.dtype == np.asarray(expected).dtype, name
            np.testing.assert_array_equal(got, expected, err_msg=name)
    assert (back.embodiment, back.task, back.instruction, back.success) == \
        (original.embodiment, original.task, original.instruction, original.success)
    assert back.metadata == json.loads(json.dumps(original.metadata, default=float))


def test_build_from_recorded_sessions_reads_back_exactly(tmp_path):
    robot = record_session(tmp_path / 'rec', 'robot', 'robot')
    human = record_session(tmp_path / 'rec', 'human', 'human', episodes=1)
    out = tmp_path / 'data.h5'
    assert build_dataset([robot, human], out, camera_topic=CAMERA, rate_hz=None) == 3
    expected = read_session(robot, camera_topic=CAMERA) + read_session(human, camera_topic=CAMERA)
    with Dataset(out) as ds:
        assert ds.attrs['format'] == 'lam_ros.dataset' and ds.attrs['format_version'] == 1
        assert ds.episode_names == ['episode_000000', 'episode_000001', 'episode_000002']
        assert ds.names('robot') == ds.episode_names[:2] and ds.names('human') == ['episode_000002']
        for name, original in zip(ds.episode_names, expected):
            back = ds.read_episode(name)
            assert_same_episode(back, original)
            attrs = ds.episode_attrs(name)
            assert attrs['source'] == original.metadata['bag_dir']
            assert attrs['camera'] == CAMERA
        robot_attrs, human_attrs = ds.episode_attrs('episode_000001'), ds.episode_attrs(
            'episode_000002')
        assert robot_attrs['success'] == 1 and robot_attrs['action_space'].startswith(
            'joint_position [waist, shoulder')
        assert human_attrs['action_space'] == '' and human_attrs['success'] == 0
        assert ds.frames('episode_000000').chunks == (1, 6, 8, 3)
        assert ds.frames('episode_000000').compression == 'lzf'
    assert not (tmp_path / 'data.h5.tmp').exists()


def test_successful_only_leaves_out_the_episodes_saved_as_failed(tmp_path):
    robot = record_session(tmp_path / 'rec', 'robot', 'robot', episodes=3)   # failed, ok, failed
    out = tmp_path / 'data.h5'
    assert build_dataset([robot], out, camera_topic=CAMERA, successful_only=True) == 1
    with Dataset(out) as ds:
        assert [ds.read_episode(n).task for n in ds.episode_names] == ['task1']
    failed = record_session(tmp_path / 'rec', 'failed', 'robot', episodes=1)   # one, failed
    with pytest.raises(DatasetError, match=r'no episodes to write.*1 episodes saved as failed '
                                           r'were left out'):
        build_dataset([failed], tmp_path / 'none.h5', camera_topic=CAMERA, successful_only=True)


def test_a_30_fps_recording_builds_at_the_10_hz_the_policy_acts_at(tmp_path):
    """A RealSense's 30 fps beside 10 Hz commands: one row per command, not three."""
    robot = record_session(tmp_path / 'rec', 'robot', 'robot', episodes=1, frames=31)
    out = tmp_path / 'data.h5'
    assert cli(['dataset', 'build', str(robot), '--out', str(out), '--camera-topic', CAMERA]) == 0
    recorded = read_session(robot, camera_topic=CAMERA)[0]
    with Dataset(out) as ds:
        built = ds.read_episode(ds.episode_names[0])
    assert len(recorded) == 31 and len(built) == 11
    np.testing.assert_allclose(np.diff(built.timestamps), 0.1, atol=1e-6)
    np.testing.assert_array_equal(built.frames, recorded.frames[::3])
    np.testing.assert_array_equal(built.actions, recorded.actions[::3])   # rows kept whole
    assert built.metadata[FRAME_RATE] == pytest.approx(10.0)
    everything = tmp_path / 'all.h5'
    assert cli(['dataset', 'build', str(robot), '--out', str(everything), '--camera-topic',
                CAMERA, '--rate-hz', '0']) == 0
    with Dataset(everything) as ds:
        assert len(ds.read_episode(ds.episode_names[0])) == 31


def test_each_10_hz_command_gets_one_row_whatever_the_phase_of_the_cameras_30_fps(
        tmp_path, caplog):
    """Commands 2 ms after a frame, +-3 ms of jitter: each its own row, none twice.

    A grid of every third frame gave 5 of these 30 commands two rows and skipped the next.
    The camera stalls for the last four: their rows repeat its last frame, and it is said.
    """
    rng = np.random.default_rng(3)
    topics = [TopicSpec(CAMERA, 'sensor_msgs/msg/Image', 30.0),
              TopicSpec(ACTION, 'sensor_msgs/msg/JointState', 10.0),
              TopicSpec(JOINTS, 'sensor_msgs/msg/JointState', 100.0)]
    commands = []
    with RecordingSession(tmp_path / 'rec', 'robot', 'wx250s', embodiment='robot',
                          topics=topics) as session:
        cdr = CdrFactory(session.typestore)
        session.start_episode(task='pick_place')
        for i in range(90):                               # 3 s of frames
            stamp = T0 + i * 33_333_333
            session.write(CAMERA, stamp, cdr.image(np.full((6, 8, 3), i, np.uint8), 'rgb8',
                                                   stamp))
            session.write(JOINTS, stamp, cdr.joint_state(JOINT_NAMES, np.full(8, i), stamp))
            if i % 3 == 0:                                # 10 Hz, a hair after the frame
                command = T0 + i * 33_333_333 + int(2e6 + rng.normal(0, 3e6))
                commands.append(command)
                session.write(ACTION, command, cdr.joint_state(
                    ACTION_NAMES, np.full(len(ACTION_NAMES), len(commands)), command))
        for k in range(4):                                # no frame after 2.97 s
            commands.append(T0 + 3_000_000_000 + k * 100_000_000)
            session.write(ACTION, commands[-1], cdr.joint_state(
                ACTION_NAMES, np.full(len(ACTION_NAMES), len(commands)), commands[-1]))
        session.stop_episode(success=True)
    out = tmp_path / 'data.h5'
    with caplog.at_level(logging.WARNING):
        assert cli(['dataset', 'build', str(session.session_dir), '--out', str(out),
                    '--camera-topic', CAMERA]) == 0
    with Dataset(out) as ds:
        built = ds.read_episode(ds.episode_names[0])
    frame_ns = T0 + np.arange(90) * 33_333_333
    seen = np.searchsorted(frame_ns, commands, side='right') - 1   # the frame each was decided on
    kept = seen >= 0
    np.testing.assert_array_equal(built.actions[:, 0], np.arange(1, 35)[kept])   # each once
    np.testing.assert_allclose(built.timestamps - T0 / 1e9, (np.array(commands)[kept] - T0) / 1e9,
                               rtol=0, atol=1e-6)        # a row's time: its command's
    assert '3 of 34 commands were decided on a /cam/color frame over' in caplog.text
    assert 'unevenly spaced' not in caplog.text          # rows on the commands' clock
    np.testing.assert_array_equal(built.frames[:, 0, 0, 0], seen[kept])
    np.testing.assert_array_equal(built.joint_positions[:, 0], seen[kept])


def test_build_reads_the_policy_camera_the_recorder_had(tmp_path):
    """Collected with policy_camera:=wrist, the dataset is the wrist's, not the first camera's."""
    head, wrist = '/head/head/color/image_raw', '/wrist/wrist/color/image_raw'
    topics = [TopicSpec(head, 'sensor_msgs/msg/Image', 10.0),
              TopicSpec(wrist, 'sensor_msgs/msg/Image', 10.0)]
    with RecordingSession(tmp_path / 'rec', 'human', 'wx250s', embodiment='human',
                          topics=topics, policy_camera_topic=wrist) as session:
        cdr = CdrFactory(session.typestore)
        session.start_episode(task='pick_place')
        for i in range(3):
            stamp = T0 + i * 100_000_000
            for topic, value in ((head, 1), (wrist, 2)):
                session.write(topic, stamp, cdr.image(np.full((6, 8, 3), value, np.uint8),
                                                      'rgb8', stamp))
        session.stop_episode(success=True)
    out = tmp_path / 'data.h5'
    assert cli(['dataset', 'build', str(session.session_dir), '--out', str(out)]) == 0
    with Dataset(out) as ds:
        built = ds.read_episode(ds.episode_names[0])
    assert (built.frames == 2).all() and built.metadata['camera_topic'] == wrist


def test_thinning_keeps_the_frame_nearest_each_period_and_leaves_10_hz_alone():
    rng = np.random.default_rng(0)
    times = 1000.0 + np.delete(np.arange(60) / 30.0, [7, 8, 30])   # dropped frames
    episode = Episode(frames=np.zeros((len(times), 2, 2, 3), np.uint8), timestamps=times,
                      actions=times[:, None].astype(np.float32),
                      metadata={'pseudo_valid': [True] * len(times), 'camera': 'head'})
    thin = at_frame_rate(episode, 10.0)
    gaps = np.diff(thin.timestamps)
    assert len(thin) == 20 and gaps.min() > 0.06 and gaps.max() < 0.14
    np.testing.assert_array_equal(thin.actions[:, 0], thin.timestamps.astype(np.float32))
    assert len(thin.metadata['pseudo_valid']) == 20 and thin.metadata['camera'] == 'head'
    jittery = replace(episode, frames=episode.frames[:20],
                      timestamps=1000.0 + np.arange(20) / 10 + rng.normal(0, 0.01, 20),
                      actions=None, metadata={})
    assert at_frame_rate(jittery, 10.0) is jittery
    fifteen = replace(jittery, timestamps=1_765_000_000.0 + np.arange(20) / 15)
    gaps = np.diff(at_frame_rate(fifteen, 10.0).timestamps)   # every second frame: even rows
    np.testing.assert_allclose(gaps, 2 / 15, atol=1e-6)
    # a nanosecond either side of 1/15 s is one stride (round() gave 1 or 2: ratio 1.5)
    assert frame_stride(1 / (1 / 15 + 1e-9), 10.0) == frame_stride(1 / (1 / 15 - 1e-9), 10.0) == 2
    assert [frame_stride(hz, 10.0) for hz in (29.97, 30.0, 10.0, 9.0, 6.0)] == [3, 3, 1, 1, 1]
    with pytest.raises(ValueError, match='rate_hz must be > 0'):
        at_frame_rate(episode, 0.0)


def test_a_camera_that_slows_down_mid_episode_is_named_for_its_uneven_rows(tmp_path, caplog):
    """Auto-exposure in dim light: 30 fps, then 15. Rows alternate 67 and 133 ms apart."""
    steady = record_session(tmp_path / 'rec', 'steady', 'robot', episodes=1, frames=61)
    slowing = record_session(tmp_path / 'rec', 'slowing', 'robot', episodes=1, frames=46,
                             period_ns=lambda i: 33_333_333 if i < 30 else 66_666_667)
    with caplog.at_level(logging.WARNING, logger='lam_models.data.dataset'):
        assert cli(['dataset', 'build', str(steady), str(slowing), '--out',
                    str(tmp_path / 'data.h5'), '--camera-topic', CAMERA]) == 0
    named = [r.getMessage() for r in caplog.records if 'unevenly spaced' in r.getMessage()]
    assert len(named) == 1 and 'slowing' in named[0], named
    with Dataset(tmp_path / 'data.h5') as ds:
        built = [ds.read_episode(name) for name in ds.episode_names]
    assert uneven_rows(built[0]) == 0.0 and uneven_rows(built[1]) > 0.3


def test_build_stores_a_robot_demos_effector_path_by_forward_kinematics(tmp_path, caplog):
    # what lam-ros dataset build stores for look-first waypoints: where the gripper went
    robot = record_session(tmp_path / 'rec', 'robot', 'robot', episodes=1)
    human = record_session(tmp_path / 'rec', 'human', 'human', episodes=1)
    out = tmp_path / 'data.h5'
    build_dataset([robot, human], out, camera_topic=CAMERA, effector_path=recorded_effector_path,
                  rate_hz=None)
    recorded = read_session(robot, camera_topic=CAMERA)[0]
    spec = kinematics.robot_spec('wx250s')
    with Dataset(out) as ds:
        path = ds.read_episode('episode_000000').effector_positions
        assert ds.read_episode('episode_000001').effector_positions is None    # a hand: no FK
    assert path.shape == (len(recorded), 3)
    for q, where in zip(recorded.joint_positions, path):
        np.testing.assert_allclose(where, spec.fk(q[:6])[:3, 3], atol=1e-6)
    # joint states that lack an arm joint: a warning naming the bag and the joint, no path
    names = [name.replace('elbow', 'joint_3') for name in recorded.metadata['joint_names']]
    renamed = replace(recorded, metadata={**recorded.metadata, 'joint_names': names})
    with caplog.at_level(logging.WARNING):
        assert recorded_effector_path(renamed) is None
    assert recorded.metadata['bag_dir'] in caplog.text and "['elbow']" in caplog.text


def test_write_dataset_round_trips_sim_episodes_and_refuses_an_existing_file(tmp_path):
    episodes = [sim_like_episode('robot', 6, 1), sim_like_episode('human', 4, 2),
                sim_like_episode('robot', 3, 4)]
    out = tmp_path / 'sim.h5'
    assert write_dataset(episodes, out) == 3
    with Dataset(out) as ds:
        for name, original in zip(ds.episode_names, episodes):
            assert_same_episode(ds.read_episode(name), original)
        assert ds.episode_attrs('episode_000000')['source'] == 'lam_ros.sim seed=1'
        assert ds.episode_attrs('episode_000001')['success'] == -1
        assert ds.names('robot', task='push') == ['episode_000000', 'episode_000002']
        np.testing.assert_array_equal(ds.array('episode_000002', 'actions'), episodes[2].actions)
        assert ds.array('episode_000001', 'actions') is None
    with pytest.raises(DatasetError, match=rf'{out} exists already; pass overwrite=True'):
        write_dataset(episodes[:1], out)
    assert write_dataset(episodes[:1], out, overwrite=True) == 1
    with Dataset(out) as ds:
        assert len(ds) == 1


def test_episodes_read_at_a_models_size_keep_their_cameras_shape(tmp_path):
    """A lab's 640x480 demos do not fit in memory at full size: they are resized as read."""
    episodes = [sim_like_episode('robot', 6, 1), sim_like_episode('human', 4, 2)]
    out = tmp_path / 'sim.h5'
    write_dataset(episodes, out)
    resized = read_episodes(out, image_size=4)
    for back, original in zip(resized, episodes):
        np.testing.assert_array_equal(back.frames, resize_frames(original.frames, 4))
        assert back.metadata[SOURCE_FRAME_SHAPE] == [8, 10]
        assert source_frame_shape(back) == source_frame_shape(original) == (8, 10)
    windows = PolicyWindows.from_dataset(out, WindowShape(image_size=4))
    assert windows.frames.shape[1:3] == (4, 4)
    assert (windows.source_frame_size, windows.source_frame_aspect) == (8, 10 / 8)


def test_an_interrupted_write_leaves_no_file_and_keeps_the_old_one(tmp_path):
    out = tmp_path / 'data.h5'

    def failing():
        yield sim_like_episode('robot', 3, 1)
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        write_dataset(failing(), out)
    assert list(tmp_path.iterdir()) == []
    write_dataset([sim_like_episode('robot', 3, 1)], out)
    before = out.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        write_dataset(failing(), out, overwrite=True)
    assert out.read_bytes() == before and sorted(tmp_path.iterdir()) == [out]


def test_an_episode_that_cannot_be_stored_is_refused_by_name(tmp_path):
    bad = sim_like_episode('robot', 3, 1)
    bad.metadata['tags'] = {'a set'}
    with pytest.raises(DatasetError, match=r'data.h5: episode_000001 \(lam_ros.sim seed=1\): '
                                           'Episode.metadata cannot be stored as JSON'):
        write_dataset([sim_like_episode('robot', 3, 2), bad], tmp_path / 'data.h5')
    flat = sim_like_episode('robot', 3, 1)
    flat.actions = flat.actions[:, 0]
    with pytest.raises(DatasetError, match=r'episode_000000 .*actions must be \(T, D\), got '
                                           r'shape \(3,\)'):
        write_dataset([flat], tmp_path / 'data.h5')
    assert list(tmp_path.iterdir()) == []


def test_a_bad_session_is_a_clear_error_and_no_output(tmp_path, caplog):
    out = tmp_path / 'data.h5'
    robot = record_session(tmp_path / 'rec', 'robot', 'robot')
    with pytest.raises(BagFormatError, match=rf'session directory {tmp_path}/nope does not '
                                             'exist'):
        build_dataset([robot, tmp_path / 'nope'], out, camera_topic=CAMERA)
    assert not out.exists() and not out.with_name('data.h5.tmp').exists()

    mcap = robot / 'episode_000000' / 'episode_000000.mcap'
    mcap.write_bytes(mcap.read_bytes()[:-100])  # truncated, as by a bad copy
    with caplog.at_level(logging.WARNING):
        assert build_dataset([robot], out, camera_topic=CAMERA) == 1
    assert f'skipping {mcap.parent}: cannot be read: {mcap}: no MCAP footer' in caplog.text
    with Dataset(out) as ds:
        assert ds.read_episode('episode_000000').task == 'task1'

    second = robot / 'episode_000001' / 'episode_000001.mcap'
    second.write_bytes(second.read_bytes()[:-100])
    with pytest.raises(DatasetError, match=rf'{tmp_path}/again.h5: no episodes to write'):
        build_dataset([robot], tmp_path / 'again.h5', camera_topic=CAMERA)
    assert not (tmp_path / 'again.h5').exists()


def write_labels(path: Path, name: str, model: str, values: np.ndarray,
                 valid: np.ndarray) -> None:
    """Labels as ``lam-ros label`` stores them (the schema of plan_session3.md)."""
    with h5py.File(path, 'a') as f:
        group = f[f'episodes/{name}'].create_group(f'pseudo_actions/{model}')
        group['values'], group['valid'] = values, valid
        f['pseudo_actions'].create_group(model).attrs.update(
            checkpoint='runs/como.safetensors', checkpoint_sha256='ab' * 32,
            z_dim=values.shape[1], frame_gap=1)


def test_reader_errors_name_the_file_and_the_group(tmp_path):
    text = tmp_path / 'notes.h5'
    text.write_text('not hdf5')
    with pytest.raises(DatasetError, match=rf'{text} is not a readable HDF5 file'):
        Dataset(text)
    with pytest.raises(DatasetError, match=rf'{tmp_path}/missing.h5 does not exist'):
        Dataset(tmp_path / 'missing.h5')
    other = tmp_path / 'other.h5'
    with h5py.File(other, 'w') as f:
        f.attrs['format'] = 'robomimic'
    with pytest.raises(DatasetError, match=rf"{other}: format attribute is 'robomimic', "
                                           "expected 'lam_ros.dataset'"):
        Dataset(other)
    with h5py.File(other, 'w') as f:
        f.attrs.update(format='lam_ros.dataset', format_version=1)
    with pytest.raises(DatasetError, match=rf'{other}: no /episodes group'):
        Dataset(other)

    path = tmp_path / 'data.h5'
    write_dataset([sim_like_episode('robot', 4, 1), sim_like_episode('human', 4, 3)], path)
    with h5py.File(path, 'a') as f:
        del f['episodes/episode_000000/timestamps']
        f['episodes/episode_000000/timestamps'] = np.zeros(3)
        del f['episodes/episode_000001/frames']
    with Dataset(path) as ds:
        with pytest.raises(DatasetError, match=rf'{path}: /episodes/episode_000000/timestamps '
                                               r'has shape \(3,\), expected 4 rows'):
            ds.read_episode('episode_000000')
        with pytest.raises(DatasetError, match=rf'{path}: /episodes/episode_000001 has no '
                                               'frames dataset'):
            ds.read_episode('episode_000001')
        with pytest.raises(DatasetError, match=rf'{path}: no episode episodes/episode_000009'):
            ds.read_episode('episode_000009')


def test_pseudo_actions_read_back_with_their_mask(tmp_path):
    path = tmp_path / 'data.h5'
    write_dataset([sim_like_episode('human', 5, 3)], path)
    values = np.arange(15, dtype=np.float32).reshape(5, 3)
    valid = np.array([True] * 4 + [False])
    write_labels(path, 'episode_000000', 'como', values, valid)
    with Dataset(path) as ds:
        episode = ds.read_episode('episode_000000', pseudo_actions='como')
        np.testing.assert_array_equal(episode.pseudo_actions, values)
        np.testing.assert_array_equal(episode.metadata['pseudo_valid'], valid)
        assert ds.read_episode('episode_000000').pseudo_actions is None
        assert ds.pseudo_action_models == ['como']
        assert ds.pseudo_action_attrs('como')['z_dim'] == 3
        with pytest.raises(DatasetError, match=r"has no pseudo_actions/clam \(labelled with: "
                                               r"\['como'\]\)"):
            ds.read_episode('episode_000000', pseudo_actions='clam')


def test_cli_show_draws_frames_and_both_actions_and_reports_bad_input(tmp_path, capsys):
    path = tmp_path / 'data.h5'
    write_dataset([sim_like_episode('robot', 12, 1)], path)
    write_labels(path, 'episode_000000', 'como', np.random.default_rng(0).normal(
        size=(12, 16)).astype(np.float32), np.arange(12) < 11)
    png = tmp_path / 'strip.png'
    assert cli(['dataset', 'show', str(path), '--episode', '0', '--pseudo-actions', 'como',
                '--out', str(png)]) == 0
    image = matplotlib.image.imread(png)
    assert image.shape[1] > 8 * 100 and image.shape[0] > 300  # 8 frames wide, 3 rows high

    assert cli(['dataset', 'show', str(path), '--episode', '3', '--out', str(png)]) == 2
    assert f'{path}: episode 3 out of range (0..0)' in capsys.readouterr().err
    assert cli(['dataset', 'build', str(tmp_path / 'nope'), '--out', str(tmp_path / 'x.h5')]) == 2
    assert 'nope does not exist' in capsys.readouterr().err
    assert not (tmp_path / 'x.h5').exists()
