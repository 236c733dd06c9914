# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The policy trainer: every policy type trains on a tiny HDF5 dataset, saves, reloads, resumes."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from lam_models.checkpoints import CheckpointError
from lam_models.data.dataset import read_episodes, write_dataset
from lam_models.data.episode import GRIPPER_OPEN_ABOVE, Episode
from lam_models.data.windows import PolicyWindows, WindowShape
from lam_models.policies import Policy, available_policies, load_policy, make_policy
from lam_models.policies.base import read_policy_checkpoint, save_policy
from lam_models.policies.train import (
    CHECKPOINT_NAME,
    PolicyTrainConfig,
    _learning_rate,
    look_first_steps,
    train_policy,
)
from lam_ros.control import kinematics
from lam_ros.sim import generate_episode

SHAPE = WindowShape(obs_horizon=2, action_horizon=8, image_size=32)
SMALL = {'action_exec': 4, 'width': 16, 'keypoints': 8}
TINY = {'diffusion': {'obs_dim': 32, 'unet_dim': 16, 'latent_hidden': 32},   # 2 CPU cores
        'autoregressive': {'dim': 32, 'depth': 2, 'num_heads': 2},
        'clam_route': {'obs_dim': 32, 'hidden': 32}}


@pytest.fixture(scope='module')
def windows(tmp_path_factory):
    robot = [generate_episode('push', seed, 'robot', image_size=32) for seed in (0, 1)]
    human = generate_episode('push', 2, 'human', image_size=32)
    rng = np.random.default_rng(0)
    labelled = [replace(ep, metadata={**ep.metadata, 'pseudo_valid': np.ones(len(ep), bool)},
                        pseudo_actions=rng.normal(size=(len(ep), 4)).astype(np.float32))
                for ep in [*robot, human]]
    path = tmp_path_factory.mktemp('data') / 'tiny.h5'
    write_dataset([*robot, human], path)
    return PolicyWindows(labelled, SHAPE), path


@pytest.mark.parametrize('name', available_policies())
def test_each_policy_trains_saves_reloads_and_predicts_identically(windows, tmp_path, name):
    cotrain, _ = windows
    config = PolicyTrainConfig(out_dir=str(tmp_path), pseudo_actions='label', steps=6,
                               batch_size=8, save_every=3, log_every=2, progress=False)
    policy = train_policy(name, {**SMALL, **TINY[name]}, cotrain, config)
    assert policy.config.latent_dim == 4 and policy.config.action_space.startswith('ee_delta')
    loaded = load_policy(tmp_path / CHECKPOINT_NAME)
    batch = cotrain.batch(np.arange(3))
    generator = [torch.Generator().manual_seed(0) for _ in range(2)]
    ours = policy.predict_chunk(batch['images'], batch['state'], batch['state_valid'],
                                generator=generator[0])
    theirs = loaded.predict_chunk(batch['images'], batch['state'], batch['state_valid'],
                                  generator=generator[1])
    assert ours.shape == (3, 8, 7) and torch.isfinite(ours).all()
    assert torch.equal(ours, theirs)
    assert (tmp_path / 'loss.png').stat().st_size > 0
    assert list((tmp_path / 'tensorboard').glob('events.out.tfevents.*'))


@pytest.mark.parametrize('name', available_policies())
def test_a_policy_trained_without_proprio_sees_no_state_in_training_or_at_rollout(windows,
                                                                                tmp_path, name):
    cotrain, path = windows
    with pytest.raises(ValueError, match='train.proprio is false'):
        train_policy(name, {**SMALL, **TINY[name]}, cotrain, PolicyTrainConfig(
            out_dir=str(tmp_path / 'refused'), steps=2, proprio=False, progress=False))
    rng = np.random.default_rng(0)
    blind = PolicyWindows([   # the fixture's episodes and labels, without their joints
        replace(ep, pseudo_actions=rng.normal(size=(len(ep), 4)).astype(np.float32),
                metadata={**ep.metadata, 'pseudo_valid': np.ones(len(ep), bool)})
        for ep in read_episodes(path)], SHAPE, proprio=False)
    assert blind.state_dim == 0 and not blind.has_state.any() and blind.state_names == []
    assert blind.batch(np.arange(3))['state'].shape == (3, SHAPE.obs_horizon, 0)
    policy = train_policy(name, {**SMALL, **TINY[name]}, blind, PolicyTrainConfig(
        out_dir=str(tmp_path), pseudo_actions='label', steps=4, batch_size=8, proprio=False,
        progress=False))
    assert policy.config.state_dim == 0
    # a rollout passes the arm's joints as valid (lam-ros eval, the controller): ignored
    batch = cotrain.batch(np.arange(3))
    given = [(batch['state'], torch.ones(3, dtype=torch.bool)),
             (torch.randn_like(batch['state']), torch.ones(3, dtype=torch.bool)),
             (batch['state'][..., :0], torch.zeros(3, dtype=torch.bool))]
    chunks = [policy.predict_chunk(batch['images'], state, valid,
                                   generator=torch.Generator().manual_seed(0))
              for state, valid in given]
    assert all(torch.equal(chunks[0], chunk) for chunk in chunks[1:])


def test_train_human_acts_reaches_the_windows_and_a_mismatch_is_refused(windows, tmp_path):
    _, path = windows
    episodes = read_episodes(path)
    space = episodes[0].metadata['action_space']
    oracle = [replace(ep, actions=ep.hidden_motion, metadata={**ep.metadata,
                                                               'action_space': space})
              if ep.embodiment == 'human' else ep for ep in episodes]
    oracle_path = tmp_path / 'oracle.h5'
    write_dataset(oracle, oracle_path)
    looking = PolicyWindows.from_dataset(oracle_path, SHAPE, human_acts=False)
    acting = PolicyWindows.from_dataset(oracle_path, SHAPE)
    human = ~looking.is_robot
    assert acting.has_actions[human].all() and not looking.has_actions[human].any()
    assert looking.human_acts is False
    with pytest.raises(ValueError, match=r'train.human_acts is True, yet the windows were built '
                                         r'with human_acts=False'):
        train_policy('diffusion', {**SMALL, **TINY['diffusion']}, looking, PolicyTrainConfig(
            out_dir=str(tmp_path / 'refused'), steps=2, progress=False))


def test_resume_continues_from_the_saved_step_and_robot_only_has_no_latent_head(windows,
                                                                              tmp_path):
    _, path = windows
    robot_only = PolicyWindows.from_dataset(path, SHAPE)
    config = PolicyTrainConfig(out_dir=str(tmp_path), steps=4, batch_size=8, save_every=2,
                               progress=False)
    first = train_policy('autoregressive', SMALL, robot_only, config)
    assert first.config.latent_dim == 0
    resumed = train_policy('autoregressive', SMALL, robot_only, config)   # nothing left to do
    for ours, theirs in zip(first.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(ours, theirs)
    train_policy('autoregressive', SMALL, robot_only, replace(config, steps=6))
    assert read_policy_checkpoint(tmp_path / CHECKPOINT_NAME)['step'] == 6
    with pytest.raises(ValueError, match='robot_fraction'):
        PolicyTrainConfig(robot_fraction=2.0)


class Interrupted(Exception):
    """Stands for a run killed mid-training."""


def count_samples(monkeypatch, windows, stop_after=None):
    """Count ``windows.sample`` calls; the one after ``stop_after`` kills the run."""
    calls = []

    def sample(*args, **kwargs):
        if len(calls) == stop_after:
            raise Interrupted
        calls.append(1)
        return PolicyWindows.sample(windows, *args, **kwargs)

    monkeypatch.setattr(windows, 'sample', sample)
    return calls


@pytest.mark.parametrize('name', ['autoregressive', 'diffusion'])
def test_a_run_killed_after_a_checkpoint_resumes_bit_for_bit(windows, tmp_path, monkeypatch,
                                                             name):
    # Random draws of every kind: diffusion noise and timesteps, random shifts, state
    # dropout, input noise. The schedule depends on train.steps, so the first run is
    # killed at step 2 (after its checkpoint) rather than run with steps=2.
    cotrain, _ = windows
    config = {**SMALL, **TINY[name], 'state_dropout': 0.3}   # shift_pixels, input_noise: on

    def train(out_dir):
        return train_policy(name, config, cotrain, PolicyTrainConfig(
            out_dir=str(out_dir), pseudo_actions='label', steps=4, batch_size=8, save_every=2,
            warmup_steps=2, progress=False))

    straight = train(tmp_path / 'straight')
    count_samples(monkeypatch, cotrain, stop_after=2)
    with pytest.raises(Interrupted):
        train(tmp_path / 'killed')
    assert read_policy_checkpoint(tmp_path / 'killed' / CHECKPOINT_NAME)['step'] == 2
    calls = count_samples(monkeypatch, cotrain)
    resumed = train(tmp_path / 'killed')
    assert len(calls) == 2   # steps 2 and 3 only
    for (key, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), key
    ours, theirs = (read_policy_checkpoint(tmp_path / run / CHECKPOINT_NAME)['optimizer']
                    for run in ('straight', 'killed'))
    for index, state in ours['state'].items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(
                theirs['state'][index][key])), (index, key)


def record_stages(monkeypatch) -> list[bool]:
    """Each training step's stage, in order: True while looking first."""
    stages = []
    forward = Policy.forward

    def spy(self, batch, look=False):
        stages.append(look)
        return forward(self, batch, look)

    monkeypatch.setattr(Policy, 'forward', spy)
    return stages


def test_look_first_steps_draw_first_frames_only_then_acting_draws_the_mix(windows, tmp_path,
                                                                          monkeypatch):
    cotrain, _ = windows
    looks = []

    def sample_look(batch_size, rng, robot_fraction, pseudo):
        batch = PolicyWindows.sample_look(cotrain, batch_size, rng, robot_fraction, pseudo)
        looks.append(batch)
        return batch

    monkeypatch.setattr(cotrain, 'sample_look', sample_look)
    acts = count_samples(monkeypatch, cotrain)
    stages = record_stages(monkeypatch)
    train_policy('diffusion', {**SMALL, **TINY['diffusion']}, cotrain, PolicyTrainConfig(
        out_dir=str(tmp_path), pseudo_actions='label', steps=6, look_first=0.5, batch_size=8,
        progress=False))
    assert len(looks) == 3 and len(acts) == 3 and stages == [True] * 3 + [False] * 3
    for batch in looks:     # half robot (waypoints), half human (pseudo-actions)
        assert batch['is_robot'].sum() == 4
        assert torch.equal(batch['waypoint_mask'][:, 0], batch['is_robot'])
        assert batch['pseudo_mask'][:, 0].all()
    # first frames: t < obs_horizon (2), of the 2 robot episodes and of the human one
    robot_look, human_look = cotrain.look_rows(pseudo=True)
    assert set(cotrain.time_of[robot_look]) == {0, 1} and len(robot_look) == 4
    assert set(cotrain.time_of[human_look]) == {0, 1}
    with pytest.raises(ValueError, match=r'look_first must be in \[0, 1\)'):
        PolicyTrainConfig(look_first=1.0)


def test_a_run_resumed_with_more_steps_keeps_its_look_stage_and_acts_on(windows, tmp_path,
                                                                      monkeypatch):
    # 6 steps looking half: 3 look. Resumed to 16, round(0.5 * 16) = 8 would look again at
    # steps 6 and 7, after three steps of acting.
    cotrain, _ = windows
    stages = record_stages(monkeypatch)
    config = PolicyTrainConfig(out_dir=str(tmp_path), pseudo_actions='label', steps=6,
                               look_first=0.5, batch_size=8, progress=False)
    train_policy('diffusion', {**SMALL, **TINY['diffusion']}, cotrain, config)
    train_policy('diffusion', {**SMALL, **TINY['diffusion']}, cotrain, replace(config, steps=16))
    assert stages == [True] * 3 + [False] * 13
    assert read_policy_checkpoint(tmp_path / CHECKPOINT_NAME)['look_steps'] == 3


def test_the_learning_rate_holds_while_looking_and_restarts_its_schedule_to_act():
    config = PolicyTrainConfig(steps=30, look_first=1 / 3, warmup_steps=2, lr=1.0)
    looking = [_learning_rate(step, config, look=10) for step in range(10)]
    acting = [_learning_rate(step, config, look=10) for step in range(10, 30)]
    assert looking == [0.5] + [1.0] * 9 and acting[:2] == [0.5, 1.0]
    assert acting[-1] == pytest.approx(0.1, abs=0.01) and acting == sorted(acting[:2]) + \
        sorted(acting[2:], reverse=True)
    skipped = [_learning_rate(step, config, look=0) for step in range(30)]
    assert skipped[:2] == [0.5, 1.0] and skipped[2:] == sorted(skipped[2:], reverse=True)
    with pytest.raises(ValueError, match='leaves no step to act'):
        PolicyTrainConfig(steps=10, look_first=0.96)


def test_look_first_is_skipped_where_first_frames_teach_nothing(windows):
    cotrain, _ = windows
    joint = PolicyWindows(cotrain_episodes_as_joint_space(cotrain), SHAPE)
    config = PolicyTrainConfig(steps=9, look_first=1 / 3, robot_fraction=0.25)

    def policy(name):
        return make_policy(name, **SMALL, **TINY[name], image_size=32, action_horizon=8,
                           latent_dim=4)
    # ee_delta demos: look; human first frames only for a latent head on the observation
    assert look_first_steps(policy('diffusion'), cotrain, config) == (3, 0.25)
    assert look_first_steps(policy('autoregressive'), cotrain, config) == (3, 1.0)
    # joint-space demos: nothing but pseudo-labelled human frames to look at
    assert look_first_steps(policy('clam_route'), joint, config) == (3, 0.25)
    assert look_first_steps(policy('autoregressive'), joint, config) == (0, 1.0)


def cotrain_episodes_as_joint_space(windows):
    """Robot episodes re-labelled as joint-position commands (no effector translation)."""
    episodes = []
    for index, start in enumerate(windows.starts):
        rows = np.arange(start, start + windows.lengths[index])
        robot = bool(windows.is_robot[index])
        episodes.append(Episode(
            frames=windows.frames[rows], timestamps=rows * 0.1,
            embodiment='robot' if robot else 'human',
            actions=windows.actions[rows] if robot else None,
            joint_positions=windows.state[rows] if robot else None,
            pseudo_actions=windows.pseudo_actions[rows],
            metadata={'action_space': 'joint_position [waist, ...]'} if robot else {}))
    return episodes


def test_lam_models_reads_the_gripper_as_the_arm_node_does():
    assert GRIPPER_OPEN_ABOVE == kinematics.GRIPPER_OPEN_ABOVE   # lam_models can't import it


def test_an_exported_policy_is_not_resumed(windows, tmp_path):
    cotrain, _ = windows
    config = PolicyTrainConfig(out_dir=str(tmp_path), steps=1, batch_size=8, progress=False)
    policy = train_policy('autoregressive', SMALL, cotrain, config)
    save_policy(tmp_path / CHECKPOINT_NAME, policy)   # weights only, no optimizer/step
    with pytest.raises(CheckpointError, match=r'checkpoint.safetensors: an exported policy, '
                                              r'not a training state'):
        train_policy('autoregressive', SMALL, cotrain, config)


def forget_config_field(checkpoint, key: str) -> None:
    """Make ``checkpoint`` look written before its config had ``key`` (digest kept valid)."""
    import json

    from lam_models.checkpoints import checkpoint_files, sidecar_digest
    sidecar_path = checkpoint_files(checkpoint)[1]
    sidecar = json.loads(sidecar_path.read_text())
    del sidecar['model_config'][key]
    sidecar['sidecar_sha256'] = sidecar_digest(sidecar)
    sidecar_path.write_text(json.dumps(sidecar))


def test_a_checkpoint_older_than_a_config_field_resumes_as_that_fields_default(windows,
                                                                            tmp_path):
    cotrain, _ = windows
    config = PolicyTrainConfig(out_dir=str(tmp_path), steps=1, batch_size=8, progress=False)
    train_policy('autoregressive', SMALL, cotrain, config)
    forget_config_field(tmp_path / CHECKPOINT_NAME, 'avatar')
    resumed = train_policy('autoregressive', SMALL, cotrain, replace(config, steps=2))
    assert resumed.config.avatar is False
    cotrain.avatar = True   # the same run asked to go on with avatar frames: another camera
    try:
        with pytest.raises(CheckpointError, match='avatar: checkpoint=False config=True'):
            train_policy('autoregressive', SMALL, cotrain, replace(config, steps=3))
    finally:
        cotrain.avatar = False


def test_the_data_rate_is_kept_and_an_older_checkpoint_without_it_resumes_with_the_datas(
        windows, tmp_path):
    """The rate says what the data was, not how the weights trained: not a config change."""
    cotrain, _ = windows
    assert cotrain.control_rate_hz == 10.0   # the simulator's 0.1 s rows
    config = PolicyTrainConfig(out_dir=str(tmp_path), steps=1, batch_size=8, progress=False)
    train_policy('autoregressive', SMALL, cotrain, config)
    assert load_policy(tmp_path / CHECKPOINT_NAME).config.control_rate_hz == 10.0
    forget_config_field(tmp_path / CHECKPOINT_NAME, 'control_rate_hz')
    resumed = train_policy('autoregressive', SMALL, cotrain, replace(config, steps=2))
    assert resumed.config.control_rate_hz == 10.0
    cotrain.control_rate_hz = 30.0   # the same run asked to go on with 30 Hz rows
    try:
        with pytest.raises(CheckpointError, match='control_rate_hz: checkpoint=10.0 config=30.0'):
            train_policy('autoregressive', SMALL, cotrain, replace(config, steps=3))
    finally:
        cotrain.control_rate_hz = 10.0


def test_the_checkpoint_keeps_where_the_robot_demos_began_even_without_proprio(windows,
                                                                                tmp_path):
    """The deploy controller moves the arm there first: the median first pose, by name."""
    _, path = windows
    episodes = read_episodes(path)
    images_only = PolicyWindows(episodes, SHAPE, proprio=False)
    robot = [ep for ep in episodes if ep.embodiment == 'robot']
    first = np.median([ep.joint_positions[0] for ep in robot], axis=0)
    assert list(images_only.start_pose) == robot[0].metadata['joint_names']
    np.testing.assert_allclose(list(images_only.start_pose.values()), first, rtol=1e-6)
    config = PolicyTrainConfig(out_dir=str(tmp_path), steps=1, batch_size=8, progress=False,
                               proprio=False)
    train_policy('diffusion', {**SMALL, **TINY['diffusion']}, images_only, config)
    loaded = load_policy(tmp_path / CHECKPOINT_NAME).config
    assert loaded.state_dim == 0 and loaded.start_pose == images_only.start_pose
    assert loaded.start_gripper == np.median([ep.actions[0, -1] for ep in robot])
    assert PolicyWindows([replace(ep, joint_positions=None) for ep in episodes],
                         SHAPE).start_pose == {}   # no joints recorded: unknown


def test_hydra_policy_group_takes_every_default_from_the_dataclasses():
    from dataclasses import asdict

    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from lam_models.policies.base import policy_class
    from lam_models.policies.train import CONFIG_DIR, register_hydra_configs
    register_hydra_configs()
    with initialize_config_dir(version_base='1.3', config_dir=str(CONFIG_DIR)):
        for name in available_policies():
            cfg = compose('train', overrides=[f'policy={name}', 'dataset=d.h5',
                                              'train.robot_fraction=0.25',
                                              'policy.latent_weight=2'])
            values = OmegaConf.to_container(cfg, resolve=True)
            assert values['policy'] == {'name': name, **asdict(
                policy_class(name).config_class(latent_weight=2.0))}
            assert values['train'] == {**asdict(PolicyTrainConfig(robot_fraction=0.25)),
                                       'out_dir': f'runs/policy/{name}'}


def test_the_hydra_entry_point_trains_on_a_dataset(windows, tmp_path, monkeypatch):
    from lam_models.policies.train import main
    _, path = windows
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr('sys.argv', [
        'train', 'policy=autoregressive', f'dataset={path}', f'train.out_dir={tmp_path}',
        'train.steps=1', 'train.batch_size=4', 'train.progress=false', 'policy.image_size=32',
        'policy.action_horizon=8', 'policy.dim=32', 'policy.depth=1', 'policy.num_heads=2',
        'policy.width=16', 'policy.keypoints=8', 'policy.action_exec=4'])
    main()
    config = read_policy_checkpoint(tmp_path / CHECKPOINT_NAME)['model_config']
    assert (config['obs_horizon'], config['action_horizon'], config['image_size']) == (2, 8, 32)


def test_a_policy_on_avatar_frames_says_so_and_evaluation_films_them(tmp_path, monkeypatch):
    from lam_ros.sim import WidowXEnv
    import lam_ros.sim.evaluate as evaluate
    from lam_ros.sim.evaluate import evaluate_policy
    episodes = [generate_episode('push', seed, 'robot', image_size=32, avatar=True)
                for seed in (0, 1)]
    with pytest.raises(ValueError, match=r"^episode 2 \(lam_ros.sim\): metadata 'avatar' is "
                                         r'False'):
        PolicyWindows([*episodes, generate_episode('push', 2, 'robot', image_size=32)], SHAPE)
    policy = train_policy('diffusion', {**SMALL, **TINY['diffusion']},
                          PolicyWindows(episodes, SHAPE),
                          PolicyTrainConfig(out_dir=str(tmp_path), steps=2, batch_size=4,
                                            look_first=0, progress=False))
    assert load_policy(tmp_path / CHECKPOINT_NAME).config.avatar is True
    built = []   # the rollouts' envs, which draw the avatar on reset (test_sim_ego)
    monkeypatch.setattr(evaluate, 'WidowXEnv',
                        lambda *a, **kw: built.append(kw['avatar']) or WidowXEnv(*a, **kw))
    report = evaluate_policy(policy, ['push'], [0], max_steps=2, progress=False)
    assert report.settings['avatar'] is True and built == [True]
    assert evaluate_policy(policy, ['push'], [0], max_steps=2, progress=False,
                           avatar=False).settings['avatar'] is False
