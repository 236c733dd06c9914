# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Damaged bags: every read returns the recorded data exactly or raises a clear error."""
from __future__ import annotations

from pathlib import Path
import shutil
import zlib

from mcap.reader import make_reader
from mcap.records import Chunk, DataEnd
from mcap.stream_reader import StreamReader
import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from lam_models.data.bags import (
    BagCorruptError,
    BagFormatError,
    EpisodeMetadata,
    read_episode,
    read_topic_stamps,
)
from lam_ros.recording import EpisodeWriter
from lam_ros.recording.recover import recover_partial
from lam_ros.recording.synthetic import ACTION_NAMES, CdrFactory

CAMERA, ACTION, JOINTS = '/cam/color', '/lam/action', '/wx250s/joint_states'
T0 = 1_700_000_000_000_000_000
FRAMES = 150  # 48x64 rgb: ~1.4 MB, so two 1 MiB chunks


def record(bag_dir: Path, close: bool = True) -> None:
    """An episode of camera frames, actions and joint states; ``close=False``: as if killed."""
    cdr = CdrFactory()
    writer = EpisodeWriter(bag_dir, EpisodeMetadata(task='stack', instruction='stack it'),
                           cdr.typestore)
    writer.add_topic(CAMERA, 'sensor_msgs/msg/Image', 30.0)
    writer.add_topic(ACTION, 'sensor_msgs/msg/JointState', 30.0)
    writer.add_topic(JOINTS, 'sensor_msgs/msg/JointState', 30.0)
    rng = np.random.default_rng(0)
    for i in range(FRAMES):
        stamp = T0 + i * 33_000_000
        writer.write(CAMERA, stamp, cdr.image(rng.integers(0, 256, (48, 64, 3), np.uint8),
                                              'rgb8', stamp))
        writer.write(ACTION, stamp + 1, cdr.joint_state(ACTION_NAMES, rng.normal(size=7),
                                                        stamp + 1))
        writer.write(JOINTS, stamp + 2, cdr.joint_state(ACTION_NAMES, rng.normal(size=7),
                                                        stamp + 2))
    if close:
        writer.close(success=True)
    else:
        writer.sync()
        writer.abort()


def same(a, b) -> bool:
    arrays = ('frames', 'timestamps', 'actions', 'joint_positions')
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in arrays) and all(
        getattr(a, k) == getattr(b, k)
        for k in ('task', 'instruction', 'success', 'embodiment', 'metadata'))


@pytest.fixture(scope='module')
def bags(tmp_path_factory) -> dict[str, Path]:
    """A closed bag, and one rebuilt by recover_partial (no summary)."""
    root = tmp_path_factory.mktemp('bags')
    record(root / 'closed')
    partial = root / 'session' / 'episode_000000.partial'
    record(partial / 'episode_000000', close=False)
    return {'closed': root / 'closed', 'recovered': recover_partial(partial)}


@pytest.mark.parametrize('kind', ['closed', 'recovered'])
def test_written_bags_carry_crcs_that_mcap_and_rosbags_accept(bags, kind):
    mcap = next(bags[kind].glob('*.mcap'))
    with mcap.open('rb') as f:  # the reference reader, checking chunk and data-section CRCs
        messages = list(make_reader(f, validate_crcs=True).iter_messages())
    with mcap.open('rb') as f:
        records = list(StreamReader(f, emit_chunks=True, validate_crcs=True).records)
    chunks = [r for r in records if isinstance(r, Chunk)]
    data_end = [r for r in records if isinstance(r, DataEnd)]
    assert chunks and all(c.uncompressed_crc == zlib.crc32(c.data) != 0 for c in chunks)
    assert data_end[0].data_section_crc != 0
    with Reader(bags[kind]) as reader:
        assert reader.message_count == len(messages) > 0
    assert len(read_episode(bags[kind], camera_topic=CAMERA)) == \
        sum(m[1].topic == CAMERA for m in messages)


def flip(path: Path, rng: np.random.Generator, low: int = 0, high: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    at = int(rng.integers(low, high or len(data)))
    data[at] ^= int(rng.integers(1, 256))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize('kind', ['closed', 'recovered'])
def test_flipped_bytes_give_the_original_episode_or_a_clear_error(bags, kind, tmp_path):
    original = read_episode(bags[kind], camera_topic=CAMERA)
    mcap_name = next(bags[kind].glob('*.mcap')).name
    size = (bags[kind] / mcap_name).stat().st_size
    rng = np.random.default_rng(7)
    # Anywhere in the file (mostly image bytes), then its first and last KiB (headers,
    # summary, footer), then metadata.yaml; a few trials flip several bytes.
    regions = [('mcap', 0, None)] * 40 + [('mcap', 0, 1024)] * 15 + \
        [('mcap', size - 1024, None)] * 25 + [('yaml', 0, None)] * 20
    outcomes = {'same': 0, 'refused': 0, 'silently wrong': []}
    for trial, (target, low, high) in enumerate(regions):
        bag = tmp_path / f'trial{trial}'
        shutil.copytree(bags[kind], bag)
        path = bag / (mcap_name if target == 'mcap' else 'metadata.yaml')
        for _ in range(3 if trial % 10 == 9 else 1):
            flip(path, rng, low, high)
        try:
            episode = read_episode(bag, camera_topic=CAMERA)
        except BagFormatError as exc:
            message = str(exc)
            assert str(bag) in message and '\n' not in message, message
            outcomes['refused'] += 1
        else:
            episode.metadata['bag_dir'] = str(bags[kind])
            if same(episode, original):
                outcomes['same'] += 1
            else:
                outcomes['silently wrong'].append(trial)
        shutil.rmtree(bag)
    assert outcomes['silently wrong'] == [], outcomes
    assert outcomes['refused'] >= len(regions) // 2, outcomes


def test_crc_errors_name_the_file_and_the_topics_of_the_chunk(bags, tmp_path):
    bag = tmp_path / 'bag'
    shutil.copytree(bags['closed'], bag)
    mcap = next(bag.glob('*.mcap'))
    data = bytearray(mcap.read_bytes())
    data[5000] ^= 0x01  # inside the first chunk's image bytes
    mcap.write_bytes(bytes(data))
    pattern = (rf'{mcap}: chunk 0 at byte \d+ \(topics {CAMERA}, {ACTION}, {JOINTS}\) '
               r'fails its CRC check \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\): '
               'corrupted file')
    with pytest.raises(BagCorruptError, match=pattern):
        read_episode(bag, camera_topic=CAMERA)
    with pytest.raises(BagCorruptError, match=pattern):
        read_topic_stamps(bag)

    shutil.copytree(bags['closed'], tmp_path / 'meta')
    meta = tmp_path / 'meta' / 'metadata.yaml'
    meta.write_text(meta.read_text().replace('stack it', 'stack IT'))
    with pytest.raises(BagCorruptError, match=r'meta/metadata.yaml: lam_episode fails its CRC'):
        read_episode(tmp_path / 'meta', camera_topic=CAMERA)
