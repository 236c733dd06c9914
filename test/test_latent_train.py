# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
from dataclasses import asdict
import os
from pathlib import Path
import subprocess
import sys

import pytest
from support.latent_world import make_toy_episodes
import torch

from lam_models.data.dataset import write_dataset
from lam_models.data.pairs import FrameWindows
from lam_models.latent import CheckpointError, available_models, load_latent_model
from lam_models.latent.base import model_class, read_checkpoint, save_checkpoint
from lam_models.latent.train import (
    CONFIG_DIR,
    TrainConfig,
    _batch_rows,
    register_hydra_configs,
    train_latent_model,
)

REPO = Path(__file__).resolve().parents[1]
SMALL = {'image_size': 32, 'width': 16}


def quick(out_dir, steps, **overrides):
    return TrainConfig(out_dir=str(out_dir), steps=steps, batch_size=8, save_every=5,
                       figure=False, progress=False, **overrides)


def test_hydra_config_takes_every_default_from_the_dataclasses():
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    register_hydra_configs()
    with initialize_config_dir(version_base='1.3', config_dir=str(CONFIG_DIR)):
        for name in available_models():
            knobs = {'z_dim': 32, **({'token_dim': 16} if name == 'stamo' else {})}
            cfg = compose('train', overrides=[f'model={name}', 'data=cache', 'train.steps=5',
                                              *(f'model.{k}={v}' for k, v in knobs.items())])
            values = OmegaConf.to_container(cfg, resolve=True)
            config_class = model_class(name).config_class
            assert values['model'] == {'name': name, **asdict(config_class(**knobs))}
            assert values['train'] == {**asdict(TrainConfig(steps=5)),
                                       'out_dir': f'runs/latent/{name}'}


def test_frames_larger_than_the_model_size_train_after_one_resize(tmp_path):
    episodes = make_toy_episodes(2, length=6, size=64)
    model = train_latent_model('vq', SMALL, episodes, quick(tmp_path, 2))  # image_size 32
    assert model.config.image_size == 32


def test_training_samples_both_embodiments_of_a_mixed_list():
    episodes = make_toy_episodes(3, length=8) + make_toy_episodes(3, 'human', length=8)
    windows = FrameWindows(episodes)
    rows = _batch_rows(0, len(windows), 16, seed=0, rank=0, world_size=1)
    assert set(windows.embodiment[rows]) == {'robot', 'human'}
    human = windows.embodiment == 'human'
    assert not windows.has_target[human].any() and windows.has_target[~human].all()


def test_a_human_video_at_another_frame_rate_is_refused_naming_it():
    """Built with --rate-hz 0 (30 fps) beside 10 Hz demos, its frame gap is a third the motion."""
    from dataclasses import replace

    import numpy as np
    episodes = make_toy_episodes(3)
    fast = replace(episodes[2], timestamps=np.arange(len(episodes[2])) / 30)
    with pytest.raises(ValueError, match=r'^episode 2: frames at 30 Hz, the others at 10 Hz'):
        FrameWindows([*episodes[:2], fast])


@pytest.mark.parametrize('name', ['como', 'clam', 'vq', 'stamo'])
def test_mixed_robot_and_human_episodes_train(tmp_path, name):
    episodes = make_toy_episodes(2, length=8) + make_toy_episodes(2, 'human', length=8)
    extra = {'dit_dim': 32, 'dit_depth': 1} if name == 'stamo' else {}
    model = train_latent_model(name, {**SMALL, **extra}, episodes,
                               quick(tmp_path, 3, labelled_fraction=0.5))
    assert model.config.image_size == 32


def test_clam_trains_on_human_video_alone(tmp_path):
    model = train_latent_model('clam', SMALL, make_toy_episodes(2, 'human', length=8),
                               quick(tmp_path, 2))
    assert model.config.context_frames == 2


def test_resume_continues_from_saved_step_like_an_uninterrupted_run(tmp_path, monkeypatch):
    # StaMo draws torch noise and flow times every step: resume must replay step k's draws
    episodes = make_toy_episodes(3, length=10)
    stamo = {**SMALL, 'dit_dim': 32, 'dit_depth': 1}
    straight = train_latent_model('stamo', stamo, episodes, quick(tmp_path / 'a', 6))
    train_latent_model('stamo', stamo, episodes, quick(tmp_path / 'b', 3))
    assert read_checkpoint(tmp_path / 'b' / 'checkpoint.safetensors')['step'] == 3
    batches = []
    batch = FrameWindows.batch
    monkeypatch.setattr(FrameWindows, 'batch',
                        lambda *args, **kwargs: batches.append(1) or batch(*args, **kwargs))
    resumed = train_latent_model('stamo', stamo, episodes, quick(tmp_path / 'b', 6))
    assert len(batches) == 3   # steps 3..5 only
    assert read_checkpoint(tmp_path / 'b' / 'checkpoint.safetensors')['step'] == 6
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name   # bit for bit: every step draws from (seed, step)


def test_resume_with_an_incompatible_config_names_the_field(tmp_path):
    episodes = make_toy_episodes(2, length=8)
    train_latent_model('como', SMALL, episodes, quick(tmp_path, 2))
    with pytest.raises(CheckpointError,
                       match=r'checkpoint.safetensors.*z_dim: checkpoint=128 config=4'):
        train_latent_model('como', {**SMALL, 'z_dim': 4}, episodes, quick(tmp_path, 4))
    with pytest.raises(CheckpointError, match="checkpoint is model 'como'"):
        train_latent_model('vq', SMALL, episodes, quick(tmp_path, 4))
    model = load_latent_model(tmp_path / 'checkpoint.safetensors')
    save_checkpoint(tmp_path / 'checkpoint.safetensors', model)   # weights only, an export
    with pytest.raises(CheckpointError, match=r'checkpoint.safetensors: an exported latent '
                                              r'model, not a training state'):
        train_latent_model('como', SMALL, episodes, quick(tmp_path, 4))


def test_torchrun_two_processes_write_a_resumable_checkpoint(tmp_path):
    write_dataset(make_toy_episodes(4, length=12), tmp_path / 'data.h5')
    out_dir = tmp_path / 'run'
    environment = {**os.environ, 'PYTHONPATH': str(REPO), 'OMP_NUM_THREADS': '1'}

    def torchrun(steps):
        command = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
                   '--nproc_per_node=2',
                   '-m', 'lam_models.latent.train', 'model=vq',
                   f'data={tmp_path / "data.h5"}', f'train.out_dir={out_dir}',
                   f'train.steps={steps}', 'train.batch_size=8', 'train.save_every=100',
                   'train.progress=false', 'model.image_size=32', 'model.width=16']
        result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]

    torchrun(12)
    payload = read_checkpoint(out_dir / 'checkpoint.safetensors')
    assert payload['step'] == 12 and payload['world_size'] == 2
    first = payload['state_dict']['codebook.weight'].clone()
    torchrun(20)
    payload = read_checkpoint(out_dir / 'checkpoint.safetensors')
    assert payload['step'] == 20
    assert not torch.equal(payload['state_dict']['codebook.weight'], first)
    assert load_latent_model(out_dir / 'checkpoint.safetensors').config.image_size == 32
    assert (out_dir / 'latents.png').stat().st_size > 0
