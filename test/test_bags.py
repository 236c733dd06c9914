# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Image conversion and the episode bag reader: exact data, clear errors."""
from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from lam_models.data.bags import (
    BagCorruptError,
    BagFormatError,
    EpisodeMetadata,
    list_episodes,
    read_episode,
    read_session,
)
from lam_models.data.images import array_to_image_fields, image_to_array, image_to_rgb
from lam_ros.recording import EpisodeWriter, RecordingSession, TopicSpec
from lam_ros.recording.synthetic import ACTION_NAMES, CdrFactory

CAMERA, DEPTH, ACTION = '/cam/color', '/cam/depth', '/lam/action'
T0 = 1_700_000_000_000_000_000


def padded_message(pixels: np.ndarray, encoding: str, pad: int, bigendian: bool = False):
    """An Image-like object whose rows carry ``pad`` junk bytes."""
    fields = array_to_image_fields(pixels, encoding)
    step = fields['step']
    body = pixels.astype(pixels.dtype.newbyteorder('>' if bigendian else '<')).tobytes()
    rows = np.frombuffer(body, np.uint8).reshape(fields['height'], step)
    junk = np.full((fields['height'], pad), 0xAB, np.uint8)
    data = np.concatenate([rows, junk], axis=1).tobytes()
    return SimpleNamespace(**{**fields, 'step': step + pad, 'data': data,
                              'is_bigendian': int(bigendian)})


@pytest.mark.parametrize('encoding,dtype,shape', [
    ('rgb8', np.uint8, (5, 7, 3)), ('bgr8', np.uint8, (5, 7, 3)), ('mono8', np.uint8, (5, 7)),
    ('16UC1', np.uint16, (5, 7)), ('32FC1', np.float32, (5, 7))])
@pytest.mark.parametrize('pad', [0, 3])
def test_image_round_trip_with_row_padding(encoding, dtype, shape, pad):
    rng = np.random.default_rng(0)
    pixels = (rng.normal(size=shape) * 1000).astype(dtype) if dtype == np.float32 \
        else rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    back = image_to_array(padded_message(pixels, encoding, pad))
    assert back.dtype == dtype and back.flags.writeable
    np.testing.assert_array_equal(back, pixels)


def test_image_big_endian_depth_and_color_order():
    depth = np.array([[1, 256], [4095, 65535]], np.uint16)
    np.testing.assert_array_equal(image_to_array(padded_message(depth, '16UC1', 2, True)), depth)
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    bgr = padded_message(np.ascontiguousarray(rgb[..., ::-1]), 'bgr8', 0)
    np.testing.assert_array_equal(image_to_rgb(bgr), rgb)
    mono = padded_message(rgb[..., 0].copy(), 'mono8', 1)
    np.testing.assert_array_equal(image_to_rgb(mono), np.repeat(rgb[..., :1], 3, axis=-1))


def test_image_errors_name_encoding_and_shape():
    pixels = np.zeros((2, 3, 3), np.uint8)
    bad = SimpleNamespace(**{**array_to_image_fields(pixels, 'rgb8'), 'encoding': 'yuv422'})
    with pytest.raises(ValueError, match='yuv422'):
        image_to_array(bad)
    short = SimpleNamespace(**{**array_to_image_fields(pixels, 'rgb8'), 'data': b'\x00' * 5})
    with pytest.raises(ValueError, match=r"5 bytes.*'rgb8'"):
        image_to_array(short)
    with pytest.raises(ValueError, match=r"'16UC1'.*\(2, 3, 3\) uint8"):
        array_to_image_fields(pixels, '16UC1')
    depth = padded_message(np.zeros((2, 3), np.uint16), '16UC1', 0)
    with pytest.raises(ValueError, match="'16UC1' is not a color image"):
        image_to_rgb(depth)


def write_bag(bag_dir: Path, embodiment: str = 'robot', with_action: bool = True,
              depth_as_camera: bool = False, n_frames: int = 4) -> np.ndarray:
    """A small episode bag straight from EpisodeWriter; returns the color frames."""
    cdr = CdrFactory()
    writer = EpisodeWriter(bag_dir, EpisodeMetadata(embodiment=embodiment, task='t'),
                           cdr.typestore)
    writer.add_topic(CAMERA, 'sensor_msgs/msg/Image', 30.0)
    writer.add_topic(DEPTH, 'sensor_msgs/msg/Image', 30.0)
    if with_action:
        writer.add_topic(ACTION, 'sensor_msgs/msg/JointState')
    frames = np.random.default_rng(1).integers(0, 256, (n_frames, 6, 8, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        stamp = T0 + i * 33_000_000
        depth = cdr.image(np.full((6, 8), i, np.uint16), '16UC1', stamp)
        writer.write(CAMERA, stamp, depth if depth_as_camera else cdr.image(frame, 'rgb8', stamp))
        writer.write(DEPTH, stamp, depth)
        if with_action and i >= 1:  # the first action arrives after the first frame
            writer.write(ACTION, stamp + 1, cdr.joint_state(ACTION_NAMES, [i] * 7, stamp + 1))
    writer.close(success=False)
    return frames


def test_action_decided_on_each_frame_and_human_episode(tmp_path, caplog):
    frames = write_bag(tmp_path / 'robot')
    episode = read_episode(tmp_path / 'robot', camera_topic=CAMERA)
    np.testing.assert_array_equal(episode.frames, frames)
    # Action i is stamped 1 ns after frame i, so it is the one decided on frame i
    # (frame 0 had none: it takes the first action).
    np.testing.assert_array_equal(episode.actions[:, 0], [1, 1, 2, 3])
    assert episode.joint_positions is None and episode.success is False
    # a recorder told another robot_name records no joint states: said, not silent
    assert 'robot episode without a joint_states topic' in caplog.text
    by_command = read_episode(tmp_path / 'robot', camera_topic=CAMERA, rows='commands')
    np.testing.assert_array_equal(by_command.actions[:, 0], [1, 2, 3])   # one row each
    np.testing.assert_array_equal(by_command.frames, frames[1:])

    write_bag(tmp_path / 'human', embodiment='human', with_action=False)
    human = read_episode(tmp_path / 'human', camera_topic=CAMERA)
    assert human.embodiment == 'human' and human.actions is None and len(human) == 4


def test_reader_errors_name_the_file_topic_and_field(tmp_path):
    write_bag(tmp_path / 'ok')
    with pytest.raises(BagFormatError, match=r'ok: camera topic /nope not in bag'):
        read_episode(tmp_path / 'ok', camera_topic='/nope')
    with pytest.raises(BagFormatError, match=r"topic /cam/depth has type \['sensor_msgs/msg/"
                                             r"Image'\], expected sensor_msgs/msg/JointState"):
        read_episode(tmp_path / 'ok', camera_topic=CAMERA, action_topic=DEPTH)
    with pytest.raises(BagFormatError, match=r'topic /cam/depth has type.*expected '
                                             r'sensor_msgs/msg/JointState'):
        read_episode(tmp_path / 'ok', camera_topic=CAMERA, joint_state_topic=DEPTH)
    with pytest.raises(BagFormatError, match='joint state topic /js not in bag'):
        read_episode(tmp_path / 'ok', camera_topic=CAMERA, joint_state_topic='/js')

    write_bag(tmp_path / 'depthcam', depth_as_camera=True)
    with pytest.raises(BagFormatError, match=r'topic /cam/color field encoding.*16UC1'):
        read_episode(tmp_path / 'depthcam', camera_topic=CAMERA)

    write_bag(tmp_path / 'noaction', with_action=False)
    with pytest.raises(BagFormatError, match='robot episode has no action topic /lam/action'):
        read_episode(tmp_path / 'noaction', camera_topic=CAMERA)

    (tmp_path / 'ok' / 'metadata.yaml').write_text('rosbag2_bagfile_information: [unclosed')
    with pytest.raises(BagFormatError, match=r'ok/metadata.yaml is unreadable'):
        read_episode(tmp_path / 'ok', camera_topic=CAMERA)
    (tmp_path / 'ok' / 'metadata.yaml').write_text('rosbag2_bagfile_information: {}\n')
    with pytest.raises(BagFormatError, match=r"custom_data has no 'lam_episode'"):
        read_episode(tmp_path / 'ok', camera_topic=CAMERA)
    with pytest.raises(BagFormatError, match=r'missing/metadata.yaml does not exist'):
        read_episode(tmp_path / 'missing')


def test_list_episodes_orders_and_read_session_warns_on_partial(tmp_path, caplog):
    session = RecordingSession(tmp_path, 's', 'wx250s', embodiment='human',
                               topics=[TopicSpec(CAMERA, 'sensor_msgs/msg/Image', 30.0)])
    cdr = CdrFactory(session.typestore)
    for value in range(3):
        session.start_episode(task=f'task{value}')
        session.write(CAMERA, T0, cdr.image(np.full((2, 2, 3), value, np.uint8), 'rgb8', T0))
        session.stop_episode()
    session.start_episode()  # left recording: a .partial dir, as after a crash
    assert [p.name for p in list_episodes(session.session_dir)] == \
        ['episode_000000', 'episode_000001', 'episode_000002']
    with caplog.at_level(logging.WARNING):
        episodes = read_session(session.session_dir, camera_topic=CAMERA)
    assert [int(e.frames[0, 0, 0, 0]) for e in episodes] == [0, 1, 2]
    assert 'episode_000003.partial' in caplog.text
    session.discard_episode()
    with pytest.raises(BagFormatError, match='session directory .*/nothing does not exist'):
        list_episodes(tmp_path / 'nothing')


def test_read_session_names_the_path_and_what_it_expected(tmp_path):
    session = RecordingSession(tmp_path, 's', 'wx250s', embodiment='human',
                               topics=[TopicSpec(CAMERA, 'sensor_msgs/msg/Image', 30.0)])
    with pytest.raises(BagFormatError, match=rf'^{tmp_path} is not a session directory \(no '
                                             r'session.yaml, no episode_\* bags\); did you mean '
                                             r'one of its subdirectories s\?$'):
        read_session(tmp_path, camera_topic=CAMERA)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(BagFormatError, match=r'empty is not a session directory .* and it holds '
                                             'no session either'):
        read_session(tmp_path / 'empty', camera_topic=CAMERA)
    with pytest.raises(BagFormatError, match=r'session directory .*/missing does not exist '
                                             r'\(expected a session directory with session.yaml'):
        read_session(tmp_path / 'missing', camera_topic=CAMERA)
    assert read_session(session.session_dir, camera_topic=CAMERA) == []  # a session, no episodes


def test_read_session_skips_a_damaged_episode_with_a_warning_unless_strict(tmp_path, caplog):
    session = RecordingSession(tmp_path, 's', 'wx250s', embodiment='human',
                               topics=[TopicSpec(CAMERA, 'sensor_msgs/msg/Image', 30.0)])
    cdr = CdrFactory(session.typestore)
    for value in range(3):
        session.start_episode()
        session.write(CAMERA, T0, cdr.image(np.full((2, 2, 3), value, np.uint8), 'rgb8', T0))
        session.stop_episode()
    mcap = session.session_dir / 'episode_000001' / 'episode_000001.mcap'
    mcap.write_bytes(mcap.read_bytes()[:-100])  # truncated, as by a bad copy
    with caplog.at_level(logging.WARNING):
        episodes = read_session(session.session_dir, camera_topic=CAMERA)
    assert [int(e.frames[0, 0, 0, 0]) for e in episodes] == [0, 2]
    assert f'skipping {mcap.parent}: cannot be read: {mcap}: no MCAP footer' in caplog.text
    with pytest.raises(BagCorruptError, match=rf'{mcap}: no MCAP footer at the end'):
        read_session(session.session_dir, strict=True, camera_topic=CAMERA)
