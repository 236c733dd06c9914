# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest
from support.latent_world import make_toy_episodes
import torch

from lam_models.latent.metrics import (
    PixelDifferenceBaseline,
    evaluate_latent_model,
    linear_probe_mse,
    s_pcfc,
)
from lam_models.latent.train import TrainConfig, train_latent_model


def test_linear_probe_is_zero_for_linear_latents_and_one_for_noise():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(400, 3))
    mixing = rng.normal(size=(3, 5))
    z = y @ mixing
    assert linear_probe_mse(z[:300], y[:300], z[300:], y[300:]) < 1e-3
    noise = rng.normal(size=(400, 5))
    assert linear_probe_mse(noise[:300], y[:300], noise[300:], y[300:]) > 0.95


def test_linear_probe_ignores_constant_targets_and_rejects_all_constant():
    rng = np.random.default_rng(1)
    y = np.c_[rng.normal(size=200), np.zeros(200)]
    z = y[:, :1] * 2.0
    assert linear_probe_mse(z[:100], y[:100], z[100:], y[100:]) < 1e-3
    with pytest.raises(ValueError, match='constant'):
        linear_probe_mse(z, np.zeros((200, 2)), z, np.zeros((200, 2)))


class TargetFrameOnly(PixelDifferenceBaseline):
    """A latent that only describes the target frame: the failure S-PCFC detects."""

    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        return window[:, -1].flatten(1)


def test_s_pcfc_flags_state_latents_but_not_frame_differences():
    episodes = make_toy_episodes(2, length=10)
    assert s_pcfc(TargetFrameOnly(image_size=32), episodes) == pytest.approx(1.0, abs=1e-5)
    assert s_pcfc(PixelDifferenceBaseline(image_size=32), episodes) < 0.5


def test_copying_the_frame_has_collapse_ratio_one():
    episodes = make_toy_episodes(3, length=10)
    report = evaluate_latent_model(PixelDifferenceBaseline(image_size=32), episodes[:2],
                                   episodes[2:])
    assert report.collapse_ratio == pytest.approx(1.0)
    assert np.isnan(report.lp_mse_human)


def test_trained_como_beats_untrained_and_discrete_baseline_on_lp_mse(tmp_path):
    fit = make_toy_episodes(30)
    held_out = make_toy_episodes(8, first_seed=100)
    humans = make_toy_episodes(4, 'human', first_seed=200)
    small = {'image_size': 32, 'width': 32}
    train = TrainConfig(steps=300, batch_size=32, resume=False, figure=False, progress=False)

    def trained(name, steps):
        config = TrainConfig(**{**train.__dict__, 'steps': steps,
                                'out_dir': str(tmp_path / f'{name}{steps}')})
        return evaluate_latent_model(train_latent_model(name, small, fit, config),
                                     fit, held_out, humans)

    como, untrained, vq = trained('como', 300), trained('como', 0), trained('vq', 300)
    assert como.lp_mse < 0.85 * min(untrained.lp_mse, vq.lp_mse)
    assert como.s_pcfc < 0.8
    assert como.collapse_ratio < 0.9  # the latent helps predict o_{t+n}
    assert untrained.collapse_ratio == pytest.approx(1.0)  # zero-initialised residual head
