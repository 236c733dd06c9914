# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The labeler node: live labels equal the dataset labeller's, over Fast DDS and in the graph."""
from __future__ import annotations

import json
import os
import subprocess
import threading

from builtin_interfaces.msg import Time
from conftest import REPO, python_executable, spin_until
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Image
from std_msgs.msg import String
from support.latent_world import make_toy_episode
import torch

from lam_models.data.images import array_to_image_fields, image_to_array
from lam_models.latent import make_latent_model
from lam_models.latent.base import save_checkpoint
from lam_models.latent.labeling import checkpoint_sha256, label_frames
from lam_ros.app.cli import run_graph
from lam_ros.app.graph import describe
from lam_ros.app.runtime import ConfigError, overrides
from lam_ros.interfaces import topics
from lam_ros.nodes.labeler_node import Frame, LabelerNode, LiveLabeler, decode

CAMERA = 'cam'


def small_model(seed: int = 0, name: str = 'como', **config):
    torch.manual_seed(seed)
    return make_latent_model(name, image_size=32, width=16, z_dim=8, **config)


def checkpoint(tmp_path, **config) -> str:
    save_checkpoint(tmp_path / 'como', small_model(**config))
    return str(tmp_path / 'como.safetensors')


def frames_of(pixels: np.ndarray, first: int = 0, after_gap_at: int | None = None) -> list[Frame]:
    return [Frame(p, first + t, 'cam_optical', after_gap=t == after_gap_at)
            for t, p in enumerate(pixels)]


# -- the core, without ROS -------------------------------------------------------------------
@pytest.mark.parametrize('name, config', [('como', {'frame_gap': 2}), ('clam', {})])
def test_live_labels_are_the_dataset_labels_whatever_the_batches(name, config):
    model = small_model(name=name, **config)
    pixels = make_toy_episode(3, length=13, size=48).frames       # resized to 32 like a dataset
    expected, valid = label_frames(model, pixels)
    core, frames, got = LiveLabeler(model), frames_of(pixels), []
    for chunk in (frames[:1], frames[1:2], frames[2:7], frames[7:]):   # as the queue hands them
        got += core.label(chunk)
    assert [stamp for stamp, _, _ in got] == list(np.flatnonzero(valid))   # stamp of o_t
    np.testing.assert_allclose(np.stack([z for _, _, z in got]), expected[valid], atol=1e-5)
    assert {frame_id for _, frame_id, _ in got} == {'cam_optical'}
    assert len(core.stream.kept) == model.config.context_frames * model.config.frame_gap


def test_the_stream_restarts_after_lost_frames_and_when_time_runs_backwards():
    model = small_model()
    pixels = make_toy_episode(1, length=8).frames
    core = LiveLabeler(model)
    stamps = [stamp for stamp, _, _ in core.label(frames_of(pixels, after_gap_at=4))]
    assert stamps == [0, 1, 2, 4, 5, 6]        # no pair (3, 4) across the gap
    again = [stamp for stamp, _, _ in core.label(frames_of(pixels[:3]))]   # stamps 0.. again
    assert again == [0, 1]
    expected, _ = label_frames(model, pixels[4:])
    late = LiveLabeler(model).label(frames_of(pixels, after_gap_at=4))[3:]
    np.testing.assert_allclose(np.stack([z for _, _, z in late]), expected[:3], atol=1e-5)


def test_a_frame_that_does_not_decode_is_a_gap_for_the_next_frame():
    model = small_model()
    pixels = make_toy_episode(1, length=9).frames
    messages = []
    for t, frame in enumerate(pixels):
        msg = Image(**array_to_image_fields(frame, 'rgb8'))
        msg.header.stamp, msg.header.frame_id = Time(sec=t), 'cam_optical'
        messages.append(msg)
    messages[4].data = messages[4].data[:-10]              # truncated on the way
    frames = [decode(msg) for msg in messages]
    assert frames[4].pixels is None and frames[4].error and not frames[3].error
    core = LiveLabeler(model)
    got = core.label(frames[:5]) + core.label(frames[5:])  # the broken frame ends a batch
    assert [stamp.sec for stamp, _, _ in got] == [0, 1, 2, 5, 6, 7]   # no pair (3, 5)
    expected, _ = label_frames(model, pixels[5:])
    np.testing.assert_allclose(np.stack([z for _, _, z in got[3:]]), expected[:3], atol=1e-5)


def test_a_stamp_step_above_one_and_a_half_median_periods_is_a_gap():
    model = small_model()
    pixels = make_toy_episode(2, length=12).frames
    period = 1 / 30
    stamps = [t * period for t in range(6)] + [t * period for t in range(8, 14)]  # 6, 7 lost
    frames = [Frame(p, stamp, 'cam_optical') for p, stamp in zip(pixels, stamps)]
    got = [stamp for stamp, _, _ in LiveLabeler(model).label(frames)]
    assert got == stamps[:5] + stamps[6:11]                # no pair (5, 8)
    expected, _ = label_frames(model, pixels[6:])
    late = LiveLabeler(model).label(frames)[5:]
    np.testing.assert_allclose(np.stack([z for _, _, z in late]), expected[:5], atol=1e-5)
    # jitter below 1.5 periods is no gap, nor is a long first step (no period known yet)
    jittery = np.cumsum([0, 5, 1, 1.4, 0.7, 1, 1.45, 0.6, 1, 1.3, 1, 1]) * period
    frames = [Frame(p, stamp, 'cam_optical') for p, stamp in zip(pixels, jittery)]
    assert len(LiveLabeler(model).label(frames)) == 11


# -- the node -------------------------------------------------------------------------------
def test_the_node_refuses_a_missing_or_broken_checkpoint_naming_it(rclpy_context, tmp_path):
    with pytest.raises(ConfigError, match=r"node 'labeler': parameter checkpoint is required"):
        LabelerNode(context=rclpy_context)
    with pytest.raises(ConfigError, match=rf'parameter checkpoint: {tmp_path}/none.json: '
                                          'checkpoint file does not exist'):
        LabelerNode(context=rclpy_context, parameter_overrides=overrides(
            {'checkpoint': str(tmp_path / 'none.safetensors')}))
    path = checkpoint(tmp_path)
    with open(path, 'r+b') as f:
        f.seek(100)
        f.write(b'\xff\xff')
    with pytest.raises(ConfigError, match=rf'{path}: sha256 .* does not match'):
        LabelerNode(context=rclpy_context, parameter_overrides=overrides({'checkpoint': path}))


def test_ros2_run_labeler_exits_with_one_line_naming_the_file(ros_env, tmp_path):
    env = {**ros_env, 'PYTHONPATH': os.pathsep.join([str(REPO), ros_env.get('PYTHONPATH', '')])}
    result = subprocess.run(
        [python_executable(), '-m', 'lam_ros.app.cli', 'run', 'labeler', '--ros-args', '-p',
         f'checkpoint:={tmp_path}/x.safetensors'], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"lam_ros: error: node 'labeler': parameter checkpoint: {tmp_path}/x.json: checkpoint "
        'file does not exist']


def test_frames_published_on_the_camera_come_back_as_stamped_labels(rclpy_context, tmp_path):
    path = checkpoint(tmp_path, frame_gap=2)
    model = small_model(frame_gap=2)
    pixels = make_toy_episode(4, length=12).frames
    expected, valid = label_frames(model, pixels)
    labeler = LabelerNode(context=rclpy_context, parameter_overrides=overrides(
        {'checkpoint': path, 'camera': CAMERA, 'device': 'cpu', 'rate_hz': 0.0}))
    camera = rclpy.create_node('camera_under_test', context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    received, status = [], []
    camera.create_subscription(Image, topics.PSEUDO_ACTION, received.append, 50)
    camera.create_subscription(String, '/labeler/status',
                               lambda m: status.append(json.loads(m.data)), 10)
    publisher = camera.create_publisher(Image, topics.camera_topics(CAMERA)['color'], 10)
    for node in (labeler, camera):
        executor.add_node(node)
    try:
        assert spin_until(executor, lambda: publisher.get_subscription_count() > 0, 10.0)
        for t, frame in enumerate(pixels):
            msg = Image(**array_to_image_fields(frame, 'rgb8'))
            msg.header.stamp = Time(sec=100, nanosec=t * 50_000_000)   # 20 Hz, all kept
            msg.header.frame_id = 'cam_optical'
            publisher.publish(msg)
            spin_until(executor, lambda: False, 0.03)      # a camera's pace, not a burst
        assert spin_until(executor, lambda: len(received) >= valid.sum(), 10.0), \
            f'{len(received)} of {valid.sum()} labels arrived'
        assert spin_until(executor, lambda: status, 5.0), 'no status from the labeler'
    finally:
        labeler.on_shutdown()
        labeler.destroy_node()
        camera.destroy_node()
    assert [m.header.stamp.nanosec // 50_000_000 for m in received] == list(np.flatnonzero(valid))
    assert {(m.encoding, m.height, m.width, m.header.frame_id) for m in received} == {
        ('32FC1', 1, 8, 'cam_optical')}
    values = np.stack([image_to_array(m)[0] for m in received])
    np.testing.assert_allclose(values, expected[valid], atol=1e-5)
    assert status[-1]['checkpoint_sha256'] == checkpoint_sha256(path)
    assert (status[-1]['model'], status[-1]['frame_gap'], status[-1]['pairs']) == (
        'como', 2, valid.sum())


# -- in the collect graph --------------------------------------------------------------------
def test_label_true_adds_the_labeler_on_the_policy_camera(tmp_path):
    nodes = {s.name: s for s in describe('collect', {'label': 'true',
                                                     'label_checkpoint': 'c.safetensors'})}
    assert nodes['labeler'].parameters == {'checkpoint': 'c.safetensors', 'camera': 'camera'}
    hardware = describe('collect', {'use_sim': 'false', 'cameras': 'wrist,head',
                                    'serials': '1,2', 'policy_camera': 'head', 'label': 'true',
                                    'label_checkpoint': 'c.safetensors'})
    assert {s.name: s for s in hardware}['labeler'].parameters['camera'] == 'head'
    assert 'labeler' not in {s.name for s in describe('collect', {})}
    with pytest.raises(ConfigError, match='label:=true needs label_checkpoint:='):
        describe('collect', {'label': 'true'})


def test_the_collect_graph_with_label_true_publishes_labels_of_the_sim_camera(rclpy_context,
                                                                                 tmp_path):
    path = checkpoint(tmp_path)
    stop = threading.Event()
    graph = threading.Thread(target=run_graph, args=('collect', [
        f'output_dir:={tmp_path}', 'mode:=human', 'label:=true', f'label_checkpoint:={path}'],
        stop))
    watcher = rclpy.create_node('label_watcher', context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(watcher)
    labels, frames = [], []
    watcher.create_subscription(Image, topics.PSEUDO_ACTION, labels.append, 10)
    watcher.create_subscription(Image, topics.camera_topics('camera')['color'],
                                lambda m: frames.append(m.header.stamp), 10)
    graph.start()
    try:
        assert spin_until(executor, lambda: len(labels) >= 5, timeout_s=40.0), \
            f'{len(labels)} labels in 40 s with label:=true'
    finally:
        stop.set()
        graph.join(timeout=20)
        watcher.destroy_node()
    assert not graph.is_alive()
    assert all(m.width == 8 and m.encoding == '32FC1' for m in labels)
    seen = {(s.sec, s.nanosec) for s in frames}
    stamps = [(m.header.stamp.sec, m.header.stamp.nanosec) for m in labels]
    assert set(s for s in stamps if s >= min(seen)) <= seen    # each is a camera frame's stamp


def test_a_30_fps_camera_is_labelled_at_the_10_hz_a_dataset_is_built_at():
    """Every frame of a RealSense paired n frames apart: a third of the dataset's motion."""
    model = small_model()
    pixels = make_toy_episode(4, length=20, size=48).frames
    jitter = np.random.default_rng(0).uniform(-0.004, 0.004, len(pixels))
    stamps = 100.0 + np.arange(len(pixels)) / 30 + jitter
    frames = [Frame(p, stamp, 'cam_optical') for p, stamp in zip(pixels, stamps)]
    expected, valid = label_frames(model, pixels[::3])        # lam-ros dataset build's rows
    core = LiveLabeler(model, rate_hz=10.0)
    got = core.label(frames[:2]) + core.label(frames[2:11]) + core.label(frames[11:])
    assert [stamp for stamp, _, _ in got] == list(stamps[::3][valid])
    np.testing.assert_allclose(np.stack([z for _, _, z in got]), expected[valid], atol=1e-5)
    every = LiveLabeler(model).label(frames)                   # rate_hz None (the node's 0)
    assert len(every) == len(pixels) - model.config.frame_gap


def test_a_camera_that_speeds_up_is_thinned_from_then_on():
    """A RealSense at 10 fps in dim light, then 30: the grid follows it, not its old point."""
    model = small_model()
    pixels = make_toy_episode(4, length=80, size=48).frames
    stamps = np.concatenate([np.arange(10) * 0.1, 0.9 + np.arange(1, 71) / 30])
    frames = [Frame(p, stamp, 'cam_optical') for p, stamp in zip(pixels, stamps)]
    got = np.array([stamp for stamp, _, _ in LiveLabeler(model, rate_hz=10.0).label(frames)])
    # the median period is 1/30 s from ~1.3 s on: every third frame from then, not every
    # frame until a grid left at 0.9 s caught up (until ~1.9 s)
    late = got[got > 1.4]
    assert len(late) >= 12 and np.allclose(np.diff(late), 0.1, atol=1e-6)
