# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The collect graph on the simulated WidowX, in one process, through real rclpy nodes."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from lam_models.data.bags import read_episode_metadata, read_session, read_topic_stamps
from lam_ros.app.cli import run_graph
from lam_ros.app.graph import describe
from lam_ros.app.runtime import ConfigError
from lam_ros.interfaces import topics

CAMERA = topics.camera_topics('camera')['color']
JOINT_STATES = topics.arm_topics('wx250s')['joint_states']


def run_collect(output_dir, *assignments: str, stop_after_s: float | None = None) -> int:
    stop = threading.Event()
    if stop_after_s is not None:
        threading.Timer(stop_after_s, stop.set).start()
    return run_graph('collect', [f'output_dir:={output_dir}', *assignments], stop=stop)


def stamps_by_topic(bag_dir) -> dict[str, np.ndarray]:
    """Receive times (s) of every message, per topic."""
    return {topic: stamps.receive_ns / 1e9
            for topic, stamps in read_topic_stamps(bag_dir, headers=False).items()}


@pytest.mark.parametrize('graph', ['collect', 'deploy'])
def test_policy_camera_is_ego_in_sim_and_picks_the_realsense_on_hardware(graph):
    sim = {spec.name: spec for spec in describe(graph, {})}['sim']
    assert sim.parameters['policy_camera'] == 'ego' and sim.parameters['cameras'] == ['camera']
    chosen = describe(graph, {'policy_camera': 'third_person'})[0]
    assert chosen.parameters['policy_camera'] == 'third_person'
    hardware = {'use_sim': 'false', 'cameras': 'wrist,head', 'serials': '111,222',
                **({'checkpoint': 'policy'} if graph == 'deploy' else {})}
    nodes = describe(graph, {**hardware, 'policy_camera': 'head'})
    serials = {s.name: s.parameters['serial'] for s in nodes if s.executable == 'camera'}
    assert serials == {'wrist': '111', 'head': '222'}     # serials stay with their camera
    watcher = 'recorder' if graph == 'collect' else 'controller'
    if graph == 'collect':   # drops counted against the RealSense's own 30 fps
        assert {s.name: s for s in nodes}['recorder'].parameters['camera_rate_hz'] == 30.0
        assert 'camera_rate_hz' not in sim.parameters
    assert {s.name: s for s in nodes}[watcher].parameters['cameras'] == ['head', 'wrist']
    default = {s.name: s for s in describe(graph, hardware)}[watcher]
    assert default.parameters['cameras'] == ['wrist', 'head']
    with pytest.raises(ConfigError, match="policy_camera:='head' is not one of cameras"):
        describe(graph, {'use_sim': 'false', 'policy_camera': 'head'})
    if graph == 'collect':   # the keyboard teleop run apart, in a terminal of its own
        assert 'teleop' not in {s.name for s in describe(graph, {**hardware, 'teleop': 'none'})}
        assert 'teleop' in {s.name for s in nodes}
    with pytest.raises(ConfigError, match=r'0 serial\(s\) for 2 camera\(s\)'):
        describe(graph, {'use_sim': 'false', 'cameras': 'wrist,head'})   # both: one device
    with pytest.raises(ConfigError, match='in sim one of'):
        describe(graph, {'policy_camera': 'head'})
    if graph == 'deploy':   # on the arm the policy waits for the operator's release
        assert {s.name: s for s in nodes}['arm'].parameters['start_estopped'] is True
        assert {s.name: s.parameters.get('enable_depth') for s in nodes} == {
            'wrist': False, 'head': False, 'arm': None, 'controller': None}
        assert 'start_estopped' not in {s.name: s for s in describe(graph, {})}['arm'].parameters
        # no checkpoint: the controller would relay /sim/expert_action from any sim around
        with pytest.raises(ConfigError, match=r'use_sim:=false\) needs checkpoint:='):
            describe(graph, {**hardware, 'checkpoint': ''})


def test_collect_graph_runs_in_process_and_shuts_down_cleanly(tmp_path, ros_env):
    assert run_collect(tmp_path, 'session:=s', stop_after_s=4.0) == 0
    # Stopped mid-episode: the episode in progress is kept, marked incomplete.
    episodes = sorted((tmp_path / 's').glob('episode_*'))
    assert episodes and not any(p.name.endswith('.partial') for p in episodes)
    assert read_episode_metadata(episodes[-1]).complete is False


@pytest.fixture(scope='module')
def sessions(tmp_path_factory):
    """5 robot and 5 human episodes recorded by the scripted operator through the nodes."""
    output_dir = tmp_path_factory.mktemp('collect')
    mp = pytest.MonkeyPatch()
    from conftest import unique_domain_id
    mp.setenv('ROS_DOMAIN_ID', str(unique_domain_id()))
    mp.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    mp.setenv('ROS_LOG_DIR', str(output_dir / 'ros_log'))
    try:
        for mode in ('robot', 'human'):
            assert run_collect(output_dir, f'mode:={mode}', f'session:={mode}',
                               'episodes:=5') == 0
    finally:
        mp.undo()
    return output_dir


@pytest.mark.parametrize('mode', ['robot', 'human'])
def test_scripted_session_records_five_successful_episodes(sessions, mode):
    episodes = read_session(sessions / mode, camera_topic=CAMERA)
    assert len(episodes) == 5
    for index, episode in enumerate(episodes):
        assert episode.embodiment == mode and episode.metadata['episode_index'] == index
        assert episode.success, f'{mode} episode {index} failed its task'
        assert episode.task == 'pick_place' and 'bowl' in episode.instruction
        assert episode.frames.shape[1:] == (128, 128, 3) and len(episode) >= 20
        if mode == 'robot':
            assert episode.actions.shape == (len(episode), 7)
            assert episode.joint_positions.shape[0] == len(episode)
        else:
            assert episode.actions is None and 'joint_states' not in str(episode.metadata)


def test_message_counts_match_configured_rates_within_two_percent(sessions):
    for bag_dir in sorted((sessions / 'robot').glob('episode_*')):
        rates = read_episode_metadata(bag_dir).rates_hz
        stamps = stamps_by_topic(bag_dir)
        for topic in (CAMERA, JOINT_STATES):
            # The middle 80%: an episode that starts while the sim loop catches up after a
            # stall (a loaded CI machine) would count the catch-up burst at its edge.
            times = stamps[topic]
            times = times[len(times) // 10: len(times) - len(times) // 10]
            achieved = (len(times) - 1) / (times[-1] - times[0])
            assert achieved == pytest.approx(rates[topic], rel=0.02), (bag_dir, topic)


def test_actions_align_with_the_frames_they_were_decided_on(sessions):
    for bag_dir in sorted((sessions / 'robot').glob('episode_*')):
        stamps = stamps_by_topic(bag_dir)
        frames, actions = stamps[CAMERA], stamps[topics.ACTION]
        # Each action follows its frame by at most one 10 Hz control period (two separate
        # timers: phase is arbitrary, so allow scheduling jitter on a loaded machine).
        lag = actions[:, None] - frames[None, :]
        lag[lag < 0] = np.inf
        lag = lag.min(axis=1)[1:]
        assert np.median(lag) < 0.1 and np.quantile(lag, 0.9) < 0.12, (bag_dir, lag.round(3))
        assert abs(len(actions) - len(frames)) <= 2


def test_build_label_load_and_train_from_the_graphs_sessions(sessions, tmp_path):
    """Issue 11's path end to end: ROS-graph bags -> HDF5 -> pseudo-actions -> policy windows."""
    from lam_models.data.dataset import build_dataset, read_episodes
    from lam_models.data.windows import PolicyWindows, WindowShape
    from lam_models.latent import make_latent_model
    from lam_models.latent.base import save_checkpoint
    from lam_models.latent.label_dataset import label_dataset, load_labeler
    from lam_models.policies.train import PolicyTrainConfig, train_policy

    dataset = tmp_path / 'dataset.h5'
    sources = [sessions / 'robot', sessions / 'human']
    assert build_dataset(sources, dataset, camera_topic=CAMERA) == 10
    bags = [ep for source in sources   # one row per command, as the build reads them
            for ep in read_session(source, camera_topic=CAMERA, rows='commands')]
    stored = read_episodes(dataset)
    for bag, episode in zip(bags, stored, strict=True):   # the file reads back exactly
        assert np.array_equal(bag.frames, episode.frames)
        assert np.array_equal(bag.timestamps, episode.timestamps)
        for key in ('actions', 'joint_positions'):
            ours, theirs = getattr(bag, key), getattr(episode, key)
            assert (ours is None and theirs is None) or np.array_equal(ours, theirs)

    save_checkpoint(tmp_path / 'como', make_latent_model('como', z_dim=8, width=16))
    label_dataset(dataset, *load_labeler(tmp_path / 'como'), progress=False)
    labelled = read_episodes(dataset, pseudo_actions='como')
    assert all(ep.pseudo_actions.shape == (len(ep), 8) for ep in labelled)
    assert all(ep.metadata['pseudo_valid'].tolist() == [True] * (len(ep) - 1) + [False]
               for ep in labelled)

    shape = WindowShape(obs_horizon=2, action_horizon=8, image_size=32)
    windows = PolicyWindows.from_dataset(dataset, shape, pseudo_actions='como')
    assert windows.state_names[:6] == ['waist', 'shoulder', 'elbow', 'forearm_roll',
                                       'wrist_angle', 'wrist_rotate']
    assert windows.action_space.startswith('joint_position') and windows.source_frame_size == 128
    batch = windows.sample(16, np.random.default_rng(0), robot_fraction=0.5)
    assert int(batch['is_robot'].sum()) == 8 and batch['images'].shape == (16, 2, 32, 32, 3)
    policy = train_policy('autoregressive', {'width': 16, 'keypoints': 8, 'action_exec': 4},
                          windows, PolicyTrainConfig(out_dir=str(tmp_path / 'policy'),
                                                     pseudo_actions='como', steps=2,
                                                     batch_size=8, progress=False))
    assert policy.config.latent_dim == 8 and policy.config.state_names == windows.state_names
