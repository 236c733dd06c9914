# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Recording core: exact read-back, crash safety, resume, discard, live stats, disk full, lock."""
from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from rosbags.rosbag2 import Reader
import yaml

from lam_models.data.bags import make_typestore, read_episode, read_episode_metadata, read_session
from lam_models.data.images import image_to_array
from lam_ros.recording import (
    RecordingError,
    RecordingSession,
    SessionMismatchError,
    TopicSpec,
    recover,
    recover_partial,
)
from lam_ros.recording.session import LOCK_FILE, NoSpaceError, SessionLockedError
from lam_ros.recording.stats import rate_warnings
from lam_ros.recording.synthetic import ACTION_NAMES, ARM_JOINTS, CdrFactory

REPO = Path(__file__).resolve().parents[1]
COLOR, DEPTH = '/camera/camera/color/image_raw', '/camera/camera/aligned_depth_to_color/image_raw'
JOINTS, ACTION = '/wx250s/joint_states', '/lam/action'
GROUP, SINGLE = '/wx250s/commands/joint_group', '/wx250s/commands/joint_single'
TOPICS = [TopicSpec(COLOR, 'sensor_msgs/msg/Image', 30.0),
          TopicSpec(DEPTH, 'sensor_msgs/msg/Image', 30.0),
          TopicSpec(JOINTS, 'sensor_msgs/msg/JointState', 100.0),
          TopicSpec(ACTION, 'sensor_msgs/msg/JointState', 30.0),
          TopicSpec(GROUP, 'interbotix_xs_msgs/msg/JointGroupCommand'),
          TopicSpec(SINGLE, 'interbotix_xs_msgs/msg/JointSingleCommand')]
T0 = 1_700_000_000_123_456_789
FRAME_NS, JOINT_NS = 33_333_333, 10_000_000


def record_robot_episode(session: RecordingSession, n_frames: int, seed: int,
                         size: tuple[int, int] = (24, 32)) -> dict[str, np.ndarray]:
    """Write a synthetic robot episode in receive order; return what was sent."""
    cdr = CdrFactory(session.typestore)
    rng = np.random.default_rng(seed)
    sent = {'color': rng.integers(0, 256, (n_frames, *size, 3), dtype=np.uint8),
            'depth': rng.integers(0, 65536, (n_frames, *size), dtype=np.uint16),
            'action': rng.normal(size=(n_frames, len(ACTION_NAMES))),
            'frame_ns': T0 + np.arange(n_frames) * FRAME_NS,
            'joint_ns': T0 - 5_000_000 + np.arange(n_frames * 4) * JOINT_NS}
    sent['joints'] = rng.normal(size=(len(sent['joint_ns']), len(ARM_JOINTS)))
    events = [(int(t), 'joint', i) for i, t in enumerate(sent['joint_ns'])]
    events += [(int(t), 'frame', i) for i, t in enumerate(sent['frame_ns'])]
    for stamp, kind, i in sorted(events):
        receive = stamp + 2_000_000  # transport latency: bag time != header stamp
        if kind == 'joint':
            session.write(JOINTS, receive, cdr.joint_state(ARM_JOINTS, sent['joints'][i], stamp))
            continue
        session.write(COLOR, receive, cdr.image(sent['color'][i], 'rgb8', stamp))
        session.write(DEPTH, receive, cdr.image(sent['depth'][i], '16UC1', stamp))
        session.write(ACTION, receive, cdr.joint_state(ACTION_NAMES, sent['action'][i], stamp))
        session.write(GROUP, receive, cdr.group_command('arm', sent['action'][i, :6]))
        session.write(SINGLE, receive, cdr.single_command('gripper', sent['action'][i, 6]))
    return sent


def new_session(tmp_path: Path, **kwargs) -> RecordingSession:
    kwargs.setdefault('robot_model', 'wx250s')
    return RecordingSession(tmp_path, 'demo', topics=TOPICS, operator='ana', **kwargs)


def test_episode_reads_back_exactly(tmp_path):
    session = new_session(tmp_path)
    session.start_episode(task='pick_cube', instruction='put the red cube in the bowl')
    sent = record_robot_episode(session, n_frames=12, seed=0)
    bag_dir = session.stop_episode(success=True)
    assert bag_dir == tmp_path / 'demo' / 'episode_000000'

    info = yaml.safe_load((bag_dir / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert info['storage_identifier'] == 'mcap'
    assert info['relative_file_paths'] == ['episode_000000.mcap']
    counts = {t['topic_metadata']['name']: t['message_count']
              for t in info['topics_with_message_count']}
    assert counts == {COLOR: 12, DEPTH: 12, JOINTS: 48, ACTION: 12, GROUP: 12, SINGLE: 12}

    episode = read_episode(bag_dir, camera_topic=COLOR)
    np.testing.assert_array_equal(episode.frames, sent['color'])
    expected_times = np.array([(t // 10**9) + (t % 10**9) * 1e-9 for t in sent['frame_ns']])
    np.testing.assert_array_equal(episode.timestamps, expected_times)
    # Actions are stamped with their frame: nearest-previous gives them back one to one.
    np.testing.assert_array_equal(episode.actions, sent['action'].astype(np.float32))
    # Joint states at 100 Hz: the latest one stamped at or before each frame.
    for t, frame_ns in enumerate(sent['frame_ns']):
        latest = max(i for i, j in enumerate(sent['joint_ns']) if j <= frame_ns)
        np.testing.assert_array_equal(episode.joint_positions[t],
                                      sent['joints'][latest].astype(np.float32))
    assert episode.embodiment == 'robot' and episode.success is True
    assert episode.task == 'pick_cube' and episode.instruction == 'put the red cube in the bowl'
    meta = episode.metadata
    assert meta['complete'] is True and meta['robot_model'] == 'wx250s'
    assert meta['operator'] == 'ana' and meta['episode_index'] == 0
    assert meta['rates_hz'] == {COLOR: 30.0, DEPTH: 30.0, JOINTS: 100.0, ACTION: 30.0}
    assert meta['joint_names'] == list(ARM_JOINTS) and meta['action_names'] == list(ACTION_NAMES)
    assert meta['start_time_ns'] <= meta['stop_time_ns']

    typestore = make_typestore()
    with Reader(bag_dir) as reader:
        by_topic: dict[str, list] = {}
        for connection, receive_ns, raw in reader.messages():
            by_topic.setdefault(connection.topic, []).append(
                (receive_ns, typestore.deserialize_cdr(raw, connection.msgtype)))
    depth = np.stack([image_to_array(msg) for _, msg in by_topic[DEPTH]])
    np.testing.assert_array_equal(depth, sent['depth'])
    assert [ts for ts, _ in by_topic[COLOR]] == [int(t) + 2_000_000 for t in sent['frame_ns']]
    group = np.stack([msg.cmd for _, msg in by_topic[GROUP]])
    np.testing.assert_array_equal(group, sent['action'][:, :6].astype(np.float32))
    assert {msg.name for _, msg in by_topic[SINGLE]} == {'gripper'}


def test_discard_removes_only_the_current_episode(tmp_path):
    session = new_session(tmp_path)
    session.start_episode(task='a')
    record_robot_episode(session, 3, seed=1)
    first = session.stop_episode()
    first_bytes = (first / 'episode_000000.mcap').read_bytes()
    session.start_episode(task='b')
    record_robot_episode(session, 3, seed=2)
    session.discard_episode()
    assert sorted(p.name for p in session.session_dir.iterdir()) == \
        ['episode_000000', LOCK_FILE, 'session.yaml']
    assert (first / 'episode_000000.mcap').read_bytes() == first_bytes
    session.start_episode(task='c')  # re-record takes the discarded number
    record_robot_episode(session, 3, seed=3)
    assert session.stop_episode().name == 'episode_000001'
    assert [e.task for e in read_session(session.session_dir, camera_topic=COLOR)] == ['a', 'c']


def test_resume_continues_numbering_and_checks_the_manifest(tmp_path):
    session = new_session(tmp_path)
    for seed in range(2):
        session.start_episode()
        record_robot_episode(session, 2, seed=seed)
        session.stop_episode()
    session.close()  # else the second session is refused for the lock (tested below)
    with pytest.raises(RecordingError, match='exists already'):
        new_session(tmp_path)
    with pytest.raises(SessionMismatchError, match=r'session\.yaml: field robot_model'):
        new_session(tmp_path, robot_model='wx200', resume=True)
    with pytest.raises(SessionMismatchError, match='field embodiment'):
        new_session(tmp_path, embodiment='human', resume=True)
    resumed = new_session(tmp_path, resume=True)
    resumed.start_episode()
    record_robot_episode(resumed, 2, seed=5)
    assert resumed.stop_episode().name == 'episode_000002'


def test_finalize_incomplete_saves_and_read_session_skips_it(tmp_path, caplog):
    session = new_session(tmp_path)
    session.start_episode()
    record_robot_episode(session, 2, seed=0)
    session.stop_episode(success=False)
    session.start_episode()
    record_robot_episode(session, 4, seed=1)
    saved = session.finalize_incomplete()  # what the node does on SIGINT / SIGTERM
    assert saved.name == 'episode_000001' and session.finalize_incomplete() is None
    assert read_episode_metadata(saved).complete is False
    assert len(read_episode(saved, camera_topic=COLOR)) == 4  # data kept, just flagged
    with caplog.at_level(logging.WARNING):
        episodes = read_session(session.session_dir, camera_topic=COLOR)
    assert [e.success for e in episodes] == [False]
    assert 'episode_000001' in caplog.text and 'incomplete' in caplog.text


KILLED_RECORDER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {test_dir!r})
    from test_recording import new_session, record_robot_episode
    from pathlib import Path
    session = new_session(Path({tmp!r}))
    session.start_episode(task='saved')
    record_robot_episode(session, 3, seed=0)
    session.stop_episode(success=True)
    episode = session.start_episode(task='killed')
    record_robot_episode(session, 40, seed=1, size=(96, 128))  # ~2.4 MB: chunks hit the disk
    episode.sync()
    print('READY', flush=True)
    time.sleep(60)
""")


def test_sigkill_mid_episode_keeps_earlier_episodes_and_resume_skips_it(tmp_path, caplog):
    script = KILLED_RECORDER.format(test_dir=str(Path(__file__).parent), tmp=str(tmp_path))
    env = {**os.environ, 'PYTHONPATH': f'{REPO}{os.pathsep}{os.environ.get("PYTHONPATH", "")}'}
    proc = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE, env=env,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == 'READY'
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    session_dir = tmp_path / 'demo'
    partial = session_dir / 'episode_000001.partial'
    assert partial.is_dir() and not (session_dir / 'episode_000001').exists()
    assert read_episode(session_dir / 'episode_000000', camera_topic=COLOR).task == 'saved'

    with caplog.at_level(logging.WARNING):
        resumed = new_session(tmp_path, resume=True)
    assert resumed.incomplete == [partial] and 'episode_000001.partial' in caplog.text
    resumed.start_episode(task='after')
    record_robot_episode(resumed, 2, seed=2)
    assert resumed.stop_episode().name == 'episode_000002'
    assert [e.task for e in read_session(session_dir, camera_topic=COLOR)] == ['saved', 'after']

    recovered = recover_partial(partial)
    assert recovered == session_dir / 'episode_000001' and not partial.exists()
    episode = read_episode(recovered, camera_topic=COLOR)
    meta = read_episode_metadata(recovered)
    assert meta.task == 'killed' and meta.complete is False and 'recovered' in meta.notes
    sent = np.random.default_rng(1).integers(0, 256, (40, 96, 128, 3), dtype=np.uint8)
    assert 10 <= len(episode) < 40  # the flushed chunks, not the one in memory
    np.testing.assert_array_equal(episode.frames, sent[:len(episode)])


def test_live_stats_count_stamp_gaps_overflow_and_slow_streams(tmp_path):
    session = RecordingSession(tmp_path, 'stats', 'wx250s', topics=TOPICS[:3],
                               max_queue_messages=2)
    episode = session.start_episode()
    cdr = CdrFactory(session.typestore)
    pixels = np.zeros((4, 4, 3), np.uint8)
    for i in range(31):  # joint states at their configured 100 Hz for 0.3 s
        stamp = T0 + i * JOINT_NS
        assert session.write(JOINTS, stamp, cdr.joint_state(ARM_JOINTS, np.zeros(6), stamp))
        episode.sync()  # the queue holds only 2 messages
    frames = [0, 1, 2, 5, 6]  # 3 and 4 never published: two stamp-gap drops
    for i in frames[:-1]:
        stamp = T0 + i * FRAME_NS
        assert session.write(COLOR, stamp, cdr.image(pixels, 'rgb8', stamp))
        episode.sync()
    with episode._writer_lock:  # stall the disk: the writer thread blocks on its next item
        stamp = T0 + frames[-1] * FRAME_NS
        data = cdr.image(pixels, 'rgb8', stamp)
        session.write(COLOR, stamp, data)
        while episode._queue.qsize():
            pass
        accepted = [session.write(DEPTH, stamp + k, cdr.image(np.zeros((4, 4), np.uint16),
                                                              '16UC1', stamp + k))
                    for k in range(5)]
    assert accepted == [True, True, False, False, False]
    stats = {s.topic: s for s in session.stats()}
    assert stats[COLOR].stamp_gap_drops == 2 and stats[COLOR].overflow_drops == 0
    assert stats[DEPTH].overflow_drops == 3 and stats[DEPTH].count == 5
    assert stats[JOINTS].dropped == 0 and stats[JOINTS].achieved_hz == pytest.approx(100.0)
    # Judged over >= 0.1 s here; COLOR got 5 frames in 0.2 s (20 Hz < 0.9 * 30 Hz).
    warnings = rate_warnings(session.stats(), min_span_s=0.1)
    assert len(warnings) == 1 and warnings[0].startswith(COLOR)
    bag_dir = session.stop_episode()
    with Reader(bag_dir) as reader:
        assert {k: v.msgcount for k, v in reader.topics.items()} == \
            {COLOR: 5, DEPTH: 2, JOINTS: 31}


def test_bad_topic_errors_name_the_topic(tmp_path):
    session = new_session(tmp_path)
    episode = session.start_episode()
    with pytest.raises(RecordingError, match='/not/added'):
        session.write('/not/added', T0, b'\x00\x01\x00\x00')
    with pytest.raises(RecordingError, match='/weird.*my_msgs/msg/Weird'):
        episode.add_topic('/weird', 'my_msgs/msg/Weird')
    with pytest.raises(RecordingError, match='still recording'):
        session.start_episode()
    session.discard_episode()
    assert not session.is_recording and session.write(COLOR, T0, b'') is False


# -- disk full ------------------------------------------------------------------------------

class FullDisk:
    """Stands in for the bag's open file: every write fails with ENOSPC, like a full disk."""

    def __init__(self, file) -> None:
        self.file = file

    def write(self, data) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.file, name)


def fill_disk(episode) -> None:
    """From now on the episode's bag file behaves as if the disk were full."""
    storage = episode._writer.storage
    storage.bio = FullDisk(storage.bio)


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes: "byte-identical" for whole directories."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob('*'))
            if p.is_file()}


def write_frames(session: RecordingSession, first: int, count: int,
                 size: tuple[int, int] = (96, 128)) -> int:
    """Color frames ``first..`` (pixels = seeded by index) until ``count`` or the episode stops."""
    cdr = CdrFactory(session.typestore)
    for i in range(first, first + count):
        pixels = np.random.default_rng(i).integers(0, 256, (*size, 3), dtype=np.uint8)
        stamp = T0 + i * FRAME_NS
        session.write(COLOR, stamp, cdr.image(pixels, 'rgb8', stamp))
        if not session.is_recording:
            return i - first
    return count


def read_colors(bag_dir: Path) -> np.ndarray:
    """The color frames of a bag in write order (a salvaged one may lack joint states)."""
    typestore = make_typestore()
    with Reader(bag_dir) as reader:
        return np.stack([image_to_array(typestore.deserialize_cdr(raw, c.msgtype))
                         for c, _, raw in reader.messages() if c.topic == COLOR])


def test_write_error_stops_only_that_episode_and_start_waits_for_space(tmp_path, monkeypatch):
    failures = []
    session = new_session(tmp_path, on_failure=failures.append)
    session.start_episode(task='kept')
    record_robot_episode(session, 3, seed=0)
    earlier = snapshot(session.stop_episode())
    episode = session.start_episode(task='disk full')
    write_frames(session, 0, 60)  # ~2 chunks of 1 MiB reach the file
    episode.sync()
    fill_disk(episode)
    assert write_frames(session, 60, 100) < 100  # the next chunk fails; no exception here

    partial = session.session_dir / 'episode_000001.partial'
    assert not session.is_recording and partial.is_dir()
    assert failures == [session.failure]
    assert 'no space left on device' in session.failure and str(partial) in session.failure
    assert snapshot(session.session_dir / 'episode_000000') == earlier
    assert session.write(COLOR, T0, b'') is False  # later messages are ignored

    full = shutil.disk_usage(tmp_path)._replace(free=1000)
    monkeypatch.setattr(shutil, 'disk_usage', lambda path: full)
    with pytest.raises(NoSpaceError, match=rf'^{session.session_dir}: no space left on device'):
        session.start_episode()
    monkeypatch.undo()
    session.start_episode(task='after')
    record_robot_episode(session, 2, seed=2)
    assert session.stop_episode().name == 'episode_000002' and session.failure is None

    recovered = recover_partial(partial)
    frames = read_colors(recovered)
    assert 28 <= len(frames) <= 60 and read_episode_metadata(recovered).complete is False
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(
            frame, np.random.default_rng(i).integers(0, 256, (96, 128, 3), dtype=np.uint8))
    assert snapshot(session.session_dir / 'episode_000000') == earlier


def test_disk_full_while_closing_keeps_the_partial_and_recovery_never_shrinks_it(tmp_path,
                                                                                 monkeypatch):
    session = new_session(tmp_path)
    episode = session.start_episode()
    write_frames(session, 0, 5)  # one chunk, still in memory: written only by stop
    episode.sync()
    fill_disk(episode)
    with pytest.raises(RecordingError, match='episode_000000.partial: episode stopped: no '
                                             'space left on device'):
        session.stop_episode(success=True)
    partial = session.session_dir / 'episode_000000.partial'
    assert not session.is_recording and partial.is_dir()
    before = snapshot(partial)
    # The case that used to cut the file to its 93-byte header before finding no chunk.
    with pytest.raises(RecordingError, match='no complete chunk'):
        recover_partial(partial)
    assert snapshot(partial) == before


def test_recovery_on_a_full_disk_leaves_the_partial_unchanged(tmp_path, monkeypatch):
    session = new_session(tmp_path)
    episode = session.start_episode()
    write_frames(session, 0, 60)
    episode.sync()
    fill_disk(episode)
    write_frames(session, 60, 100)
    partial = session.session_dir / 'episode_000000.partial'
    before = snapshot(partial)

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(recover.os, 'fsync', no_space)  # the copy is written, not yet durable
    with pytest.raises(RecordingError, match=r'No space left on device.*is unchanged'):
        recover_partial(partial)
    assert snapshot(partial) == before
    monkeypatch.undo()
    assert len(read_colors(recover_partial(partial))) >= 28


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (root only; skipped elsewhere): really running out of space."""
    disk = tmp_path / 'disk'
    disk.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f'cannot mount a tmpfs: {mounted.stderr.strip()}')
    try:
        yield disk
    finally:
        subprocess.run(['umount', '-l', str(disk)], check=False)


def test_disk_full_on_a_real_filesystem(small_disk):
    filler = small_disk / 'filler'
    filler.write_bytes(bytes(2 * 2**20))  # deleted below: "space is back"
    session = RecordingSession(small_disk, 'demo', 'wx250s', topics=TOPICS,
                               min_free_bytes=2**19)
    session.start_episode(task='kept')
    record_robot_episode(session, 3, seed=0)
    earlier = snapshot(session.stop_episode())
    session.start_episode(task='disk full')
    deadline = time.monotonic() + 30
    first = 0
    while session.check_episode() is None and time.monotonic() < deadline:
        first += write_frames(session, first, 10)
    partial = small_disk / 'demo' / 'episode_000001.partial'
    assert 'no space left on device' in session.failure and partial.is_dir()
    assert snapshot(small_disk / 'demo' / 'episode_000000') == earlier
    with pytest.raises(NoSpaceError, match=rf'{small_disk}/demo: no space left on device'):
        session.start_episode()
    before = snapshot(partial)
    with pytest.raises(RecordingError, match='No space left on device.*is unchanged'):
        recover_partial(partial)
    assert snapshot(partial) == before

    filler.unlink()
    session.start_episode(task='after')
    record_robot_episode(session, 2, seed=2)
    assert session.stop_episode().name == 'episode_000002'
    assert len(read_colors(recover_partial(partial))) >= 28
    assert snapshot(small_disk / 'demo' / 'episode_000000') == earlier


# -- one recorder per session ---------------------------------------------------------------

LOCK_HOLDER = textwrap.dedent("""
    import sys, time
    from lam_ros.recording import RecordingSession
    session = RecordingSession({tmp!r}, 'demo', 'wx250s', resume=True)
    print('READY', flush=True)
    time.sleep(60)
""")


def test_a_session_directory_has_one_recorder_at_a_time(tmp_path):
    first = new_session(tmp_path)
    session_dir = tmp_path / 'demo'
    with pytest.raises(SessionLockedError, match=rf'^session {session_dir} is in use by another '
                                                 rf'recorder \(pid {os.getpid()}, lock '):
        new_session(tmp_path, resume=True)
    first.close()
    with new_session(tmp_path, resume=True) as second:
        assert second.next_index == 0

    env = {**os.environ, 'PYTHONPATH': f'{REPO}{os.pathsep}{os.environ.get("PYTHONPATH", "")}'}
    proc = subprocess.Popen([sys.executable, '-c', LOCK_HOLDER.format(tmp=str(tmp_path))],
                            stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout.readline().strip() == 'READY'
        with pytest.raises(SessionLockedError, match=rf'\(pid {proc.pid}, lock '):
            new_session(tmp_path, resume=True)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    new_session(tmp_path, resume=True).close()  # the kernel dropped the dead one's lock
