# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The policy trainer: every policy type trains on a tiny HDF5 dataset, saves, reloads, resumes."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from lam_models.data.dataset import write_dataset
from lam_models.data.windows import PolicyWindows, WindowShape
from lam_models.policies import available_policies, load_policy
from lam_models.policies.train import CHECKPOINT_NAME, PolicyTrainConfig, train_policy
from lam_ros.sim import generate_episode

SHAPE = WindowShape(obs_horizon=2, action_horizon=8, image_size=32)
SMALL = {'action_exec': 4, 'width': 16, 'keypoints': 8}


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
    policy = train_policy(name, SMALL, cotrain, config)
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
    from lam_models.policies.base import read_policy_checkpoint
    assert read_policy_checkpoint(tmp_path / CHECKPOINT_NAME)['step'] == 6
    with pytest.raises(ValueError, match='robot_fraction'):
        PolicyTrainConfig(robot_fraction=2.0)


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
