# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""LeRobot v3.0 export read back: parquet rows, info.json/episodes consistency, video, stats."""
from __future__ import annotations

import dataclasses
import json
import logging
import os

import av
import numpy as np
import pyarrow.parquet as pq
import pytest

from lam_models.data import lerobot
from lam_models.data.dataset import Dataset, DatasetError, write_dataset
from lam_models.data.episode import Episode
from lam_models.data.lerobot import export_lerobot

KEY = 'observation.images.ego'
FPS = 10
# info.json keys of LeRobot's create_empty_dataset_info (src/lerobot/datasets/utils.py)
INFO_KEYS = {'codebase_version', 'robot_type', 'total_episodes', 'total_frames', 'total_tasks',
             'chunks_size', 'data_files_size_in_mb', 'video_files_size_in_mb', 'fps', 'splits',
             'data_path', 'video_path', 'features'}


def smooth_frames(length: int, shade: int, height: int = 32, width: int = 48) -> np.ndarray:
    """Moving gradients: video-codable, and each episode's frames tell it apart (blue)."""
    yy, xx = np.mgrid[:height, :width]
    return np.stack([np.stack([(xx * 4 + t * 6) % 256, (yy * 6) % 256,
                               np.full_like(xx, shade)], -1)
                     for t in range(length)]).astype(np.uint8)


def episode(embodiment: str, length: int, seed: int, task: str = 'push') -> Episode:
    rng = np.random.default_rng(seed)
    robot = embodiment == 'robot'
    return Episode(
        frames=smooth_frames(length, 40 * seed), timestamps=1.5 + np.arange(length) / FPS,
        embodiment=embodiment,
        actions=rng.normal(size=(length, 7)).astype(np.float32) if robot else None,
        joint_positions=rng.normal(size=(length, 8)).astype(np.float32) if robot else None,
        task=task, instruction=f'{task} the block', success=True,
        metadata={'source': 'lam_ros.sim', 'seed': seed, 'camera': 'ego', 'robot_model': 'wx250s',
                  'joint_names': [f'j{i}' for i in range(8)]})


@pytest.fixture
def exported(tmp_path, caplog):
    episodes = [episode('robot', 12, 1), episode('human', 7, 2), episode('robot', 9, 3, 'pick'),
                episode('robot', 10, 4)]
    write_dataset(episodes, tmp_path / 'data.h5')
    with caplog.at_level(logging.INFO, logger='lam_models'):
        result = export_lerobot(tmp_path / 'data.h5', tmp_path / 'lerobot')
    robots = [e for e in episodes if e.embodiment == 'robot']
    return result, robots, caplog.text


def test_layout_info_and_parquet_rows_match_the_frames(exported):
    result, robots, log_text = exported
    root, total = result.root, sum(len(e) for e in robots)
    assert (result.episodes, result.frames, result.fps, result.skipped_human) == (3, total, FPS, 1)
    assert '1 human episodes left out (no actions' in log_text
    for path in ('meta/info.json', 'meta/stats.json', 'meta/tasks.parquet',
                 'meta/episodes/chunk-000/file-000.parquet', 'data/chunk-000/file-000.parquet',
                 f'videos/{KEY}/chunk-000/file-000.mp4'):
        assert (root / path).is_file(), path
    assert not root.with_name('lerobot.tmp').exists()

    info = json.loads((root / 'meta/info.json').read_text())
    assert set(info) == INFO_KEYS and info['codebase_version'] == 'v3.0'
    assert (info['fps'], info['total_episodes'], info['total_frames'], info['total_tasks']) == \
        (FPS, 3, total, 2)
    assert info['splits'] == {'train': '0:3'} and info['robot_type'] == 'wx250s'
    features = info['features']
    assert list(features) == [KEY, 'observation.state', 'action', 'timestamp', 'frame_index',
                              'episode_index', 'index', 'task_index']
    assert features[KEY]['dtype'] == 'video' and features[KEY]['shape'] == [32, 48, 3]
    assert features[KEY]['names'] == ['height', 'width', 'channels']
    assert features[KEY]['info'] == {
        'video.height': 32, 'video.width': 48, 'video.codec': 'h264', 'video.pix_fmt': 'yuv420p',
        'video.is_depth_map': False, 'video.fps': FPS, 'video.channels': 3, 'has_audio': False}
    assert features['observation.state'] == {'dtype': 'float32', 'shape': [8],
                                             'names': [f'j{i}' for i in range(8)]}
    assert features['action']['shape'] == [7] and features['timestamp']['dtype'] == 'float32'

    data = pq.read_table(root / info['data_path'].format(chunk_index=0, file_index=0))
    assert data.num_rows == total and data.column_names == list(features)[1:]
    np.testing.assert_array_equal(np.stack(data['action'].to_numpy(zero_copy_only=False)),
                                  np.concatenate([e.actions for e in robots]))
    np.testing.assert_array_equal(
        np.stack(data['observation.state'].to_numpy(zero_copy_only=False)),
        np.concatenate([e.joint_positions for e in robots]))
    np.testing.assert_array_equal(data['index'].to_numpy(), np.arange(total))
    np.testing.assert_array_equal(data['episode_index'].to_numpy(),
                                  np.repeat([0, 1, 2], [12, 9, 10]))
    np.testing.assert_array_equal(data['frame_index'].to_numpy()[12:21], np.arange(9))
    np.testing.assert_allclose(data['timestamp'].to_numpy()[12:21], np.arange(9) / FPS, rtol=1e-6)
    np.testing.assert_array_equal(data['task_index'].to_numpy(), np.repeat([0, 1, 0], [12, 9, 10]))

    tasks = pq.read_table(root / 'meta/tasks.parquet')
    assert tasks.to_pydict() == {'task_index': [0, 1], 'task': ['push the block', 'pick the block']}
    assert json.loads(tasks.schema.metadata[b'pandas'])['index_columns'] == ['task']

    episodes = pq.read_table(root / 'meta/episodes/chunk-000/file-000.parquet').to_pydict()
    assert episodes['episode_index'] == [0, 1, 2] and episodes['length'] == [12, 9, 10]
    assert episodes['tasks'] == [['push the block'], ['pick the block'], ['push the block']]
    assert episodes['dataset_from_index'] == [0, 12, 21]
    assert episodes['dataset_to_index'] == [12, 21, 31]
    assert episodes[f'videos/{KEY}/from_timestamp'] == [0.0, 1.2, 2.1]
    assert episodes[f'videos/{KEY}/to_timestamp'] == [1.2, 2.1, 3.1]
    for column in ('data/chunk_index', 'data/file_index', f'videos/{KEY}/chunk_index',
                   f'videos/{KEY}/file_index', 'meta/episodes/chunk_index'):
        assert episodes[column] == [0, 0, 0], column


def test_video_decodes_to_every_frame_in_order(exported):
    result, robots, _ = exported
    path = result.root / f'videos/{KEY}/chunk-000/file-000.mp4'
    with av.open(str(path)) as container:
        decoded = [(frame.time, frame.to_ndarray(format='rgb24'))
                   for frame in container.decode(video=0)]
    expected = np.concatenate([e.frames for e in robots])
    assert len(decoded) == len(expected)
    assert decoded[0][1].shape == (32, 48, 3)
    pixels = np.stack([image for _, image in decoded]).astype(float)
    assert np.abs(pixels - expected).mean() < 3.0  # h264 at crf 18 on smooth gradients
    # Episode 1 starts at its from_timestamp (12 / fps): LeRobot seeks there.
    time, image = min(decoded, key=lambda d: abs(d[0] - 1.2))
    assert time == pytest.approx(1.2)
    assert abs(image[..., 2].mean() - robots[1].frames[0, ..., 2].mean()) < 3


def test_stats_agree_with_numpy(exported):
    result, robots, _ = exported
    stats = json.loads((result.root / 'meta/stats.json').read_text())
    actions = np.concatenate([e.actions for e in robots]).astype(np.float64)
    for stat, value in (('min', actions.min(0)), ('max', actions.max(0)),
                        ('mean', actions.mean(0)), ('std', actions.std(0))):
        np.testing.assert_allclose(stats['action'][stat], value, rtol=1e-6, atol=1e-9,
                                   err_msg=stat)
    assert stats['action']['count'] == [len(actions)]
    frames = np.concatenate([e.frames for e in robots]).reshape(-1, 3) / 255.0
    np.testing.assert_allclose(np.asarray(stats[KEY]['mean'])[:, 0, 0], frames.mean(0),
                               rtol=1e-9)
    np.testing.assert_allclose(np.asarray(stats[KEY]['std'])[:, 0, 0], frames.std(0), rtol=1e-6)
    for stat in ('min', 'max'):
        np.testing.assert_allclose(np.asarray(stats[KEY][stat])[:, 0, 0],
                                   getattr(frames, stat)(0), err_msg=stat)
    assert np.asarray(stats[KEY]['max']).shape == (3, 1, 1)
    assert set(stats) == {KEY, 'observation.state', 'action', 'timestamp', 'frame_index',
                          'episode_index', 'index', 'task_index'}

    episodes = pq.read_table(result.root / 'meta/episodes/chunk-000/file-000.parquet')
    np.testing.assert_allclose(episodes['stats/action/mean'].to_pylist()[2],
                               robots[2].actions.mean(0), rtol=1e-6)
    assert episodes['stats/frame_index/max'].to_pylist() == [[11.0], [8.0], [9.0]]


def test_export_refuses_existing_output_and_a_dataset_without_robots(tmp_path, monkeypatch):
    write_dataset([episode('robot', 6, 1)], tmp_path / 'data.h5')
    out = tmp_path / 'lerobot'
    out.mkdir()
    with pytest.raises(DatasetError, match=rf'{out} exists already; pass overwrite=True'):
        export_lerobot(tmp_path / 'data.h5', out)
    monkeypatch.setattr(lerobot, 'video_codec', lambda: 'mpeg4')  # PyAV without libx264
    result = export_lerobot(tmp_path / 'data.h5', out, overwrite=True)
    assert result.codec == 'mpeg4'
    with av.open(str(out / f'videos/{KEY}/chunk-000/file-000.mp4')) as container:
        assert sum(1 for _ in container.decode(video=0)) == 6
    assert json.loads((out / 'meta/info.json').read_text())['features'][KEY]['info'][
        'video.codec'] == 'mpeg4'

    write_dataset([episode('human', 6, 2)], tmp_path / 'human.h5')
    with pytest.raises(DatasetError, match=r'human.h5: no robot episodes to export \(1 human\)'):
        export_lerobot(tmp_path / 'human.h5', tmp_path / 'none')
    assert not (tmp_path / 'none').exists() and not (tmp_path / 'none.tmp').exists()
    with Dataset(tmp_path / 'human.h5') as ds:  # the source is never touched
        assert ds.names('human') == ['episode_000000']


def _open_files_under(directory) -> list[str]:
    """Files this process holds open under ``directory`` (deleted ones too)."""
    fds = '/proc/self/fd'
    targets = []
    for fd in os.listdir(fds):
        try:
            targets.append(os.readlink(os.path.join(fds, fd)))
        except OSError:     # closed while listing (the listing's own descriptor)
            continue
    return [t for t in targets if t.startswith(str(directory))]


def test_an_export_failing_mid_way_leaves_no_tmp_directory_and_no_open_video(tmp_path):
    smaller = episode('robot', 6, 2)
    smaller = dataclasses.replace(smaller, frames=smaller.frames[:, :16, :24])
    write_dataset([episode('robot', 8, 1), smaller], tmp_path / 'data.h5')
    out = tmp_path / 'lerobot'
    # ``failed`` keeps the traceback, so the failed export's frames (and whatever writer they
    # hold) are still alive below: only an explicit close releases the video file.
    with pytest.raises(DatasetError, match=r'episode_000001 frames are \(16, 24\), the first '
                                           r"robot episode's \(32, 48\)") as failed:
        export_lerobot(tmp_path / 'data.h5', out)
    assert failed.value.__traceback__ is not None
    assert not out.exists() and not out.with_name('lerobot.tmp').exists()
    assert _open_files_under(tmp_path / 'lerobot.tmp') == []


def test_effector_paths_export_where_every_robot_has_one_and_avatar_frames_are_their_own_camera(
        tmp_path, caplog):
    def with_path(ep: Episode, avatar: bool = False) -> Episode:
        path = np.random.default_rng(len(ep)).normal(size=(len(ep), 3)).astype(np.float32)
        return dataclasses.replace(ep, effector_positions=path,
                                   metadata={**ep.metadata, 'avatar': avatar})
    robots = [with_path(episode('robot', 8, 1), True), with_path(episode('robot', 6, 2), True)]
    write_dataset(robots, tmp_path / 'avatar.h5')
    root = export_lerobot(tmp_path / 'avatar.h5', tmp_path / 'avatar').root
    features = json.loads((root / 'meta/info.json').read_text())['features']
    assert list(features)[:4] == ['observation.images.ego_avatar', 'observation.state',
                                  'observation.effector_position', 'action']
    data = pq.read_table(root / 'data/chunk-000/file-000.parquet')
    np.testing.assert_array_equal(
        np.stack(data['observation.effector_position'].to_numpy(zero_copy_only=False)),
        np.concatenate([ep.effector_positions for ep in robots]))
    assert (root / 'videos/observation.images.ego_avatar/chunk-000/file-000.mp4').is_file()

    write_dataset([robots[0], episode('robot', 6, 3)], tmp_path / 'mixed.h5')
    with pytest.raises(DatasetError, match='mixed.h5: episode_000001 is filmed without the '
                                           'avatar, episode_000000 with: two cameras'):
        export_lerobot(tmp_path / 'mixed.h5', tmp_path / 'mixed')
    write_dataset([with_path(episode('robot', 8, 1)), episode('robot', 6, 3)],
                  tmp_path / 'some.h5')
    with caplog.at_level(logging.WARNING, logger='lam_models'):
        root = export_lerobot(tmp_path / 'some.h5', tmp_path / 'some').root
    assert '1 of 2 robot episodes have no effector path (first: episode_000001)' in caplog.text
    features = json.loads((root / 'meta/info.json').read_text())['features']
    assert KEY in features and 'observation.effector_position' not in features
