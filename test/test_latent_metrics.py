# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
from dataclasses import fields
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
from support.latent_world import make_toy_episode, make_toy_episodes
import torch
import torch.nn.functional as F

from lam_models.latent.base import (
    LatentActionModel,
    LatentConfig,
    available_models,
    make_latent_model,
)
from lam_models.latent.figures import latent_clouds, save_latent_figure
from lam_models.latent.metrics import (
    LatentReport,
    PixelDifferenceBaseline,
    evaluate_latent_model,
    s_pcfc,
)

ROBOT_GREY = torch.tensor([150, 150, 160]) / 255.0


class TargetFrameOnly(PixelDifferenceBaseline):
    """A latent that only describes the target frame: the failure S-PCFC detects."""

    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        return window[:, -1].flatten(1)


class Constant(PixelDifferenceBaseline):
    """A collapsed latent (the old VQ): the same z for every window."""

    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        return torch.ones(len(window), 4)


class RestingOffset(PixelDifferenceBaseline):
    """Frame difference plus a large constant: a resting z that is far from zero."""

    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        return super().encode_window(window) + 1.0


class EffectorMotion(PixelDifferenceBaseline):
    """Oracle: the toy robot's centroid displacement (dx, dy) plus 6 noise dims, z_dim 8."""

    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        def centroid(frames: torch.Tensor) -> torch.Tensor:
            mask = ((frames - ROBOT_GREY[:, None, None]).abs().amax(1) < 0.01).float()
            yy, xx = torch.meshgrid(*(torch.arange(n, dtype=torch.float32)
                                      for n in mask.shape[1:]), indexing='ij')
            count = mask.sum((1, 2)).clamp(min=1)
            sums = torch.stack([(mask * xx).sum((1, 2)), (mask * yy).sum((1, 2))], 1)
            return sums / count[:, None]

        motion = centroid(window[:, -1]) - centroid(window[:, -2])
        noise = torch.randn(len(window), 6, generator=torch.Generator().manual_seed(len(window)))
        return torch.cat([motion, noise], 1)


def resting(seed: int, rest_from: int = 12) -> object:
    """A toy episode whose effector stops at ``rest_from`` (frames repeat, motion zero)."""
    episode = make_toy_episode(seed, length=24)
    episode.frames[rest_from:] = episode.frames[rest_from]
    episode.actions[rest_from - 1:, :6] = 0.0
    episode.actions[rest_from - 1:, 6] = episode.actions[rest_from - 2, 6]
    return episode


def test_s_pcfc_flags_state_latents_but_not_frame_differences():
    episodes = make_toy_episodes(2, length=10)
    assert s_pcfc(TargetFrameOnly(image_size=32), episodes) == pytest.approx(1.0, abs=1e-5)
    assert s_pcfc(PixelDifferenceBaseline(image_size=32), episodes) < 0.5


def test_s_pcfc_of_a_constant_latent_is_not_reported_as_consistent():
    """Uncentred, a collapsed z scored cos = 1 (and a zero z 0); centred it has no motion: nan."""
    assert math.isnan(s_pcfc(Constant(image_size=32), make_toy_episodes(2, length=10)))


def test_s_pcfc_is_centred_and_ignores_static_windows():
    """A resting z far from zero made every static window (and the mean) score ~1."""
    episodes = [resting(seed) for seed in range(3)]
    assert s_pcfc(RestingOffset(image_size=32), episodes) < 0.5


class ContextSpy(LatentActionModel):
    """A 3-frame-context model recording every window it is given."""

    name = 'context_spy'

    def __init__(self) -> None:
        super().__init__(LatentConfig(image_size=32, context_frames=3, z_dim=4))
        self.seen: list[torch.Tensor] = []

    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        self.seen.append(window)
        return F.adaptive_avg_pool2d((window[:, -1] - window[:, -2]).mean(1, keepdim=True),
                                     2).flatten(1)

    def predict_window(self, window: torch.Tensor) -> torch.Tensor:
        self.seen.append(window)
        return window[:, -2]


def test_context_models_get_real_previous_frames_everywhere():
    """The old metrics encoded pairs with o_t repeated as context, a window never trained on."""
    spy = ContextSpy()
    episodes = make_toy_episodes(4, length=12)
    evaluate_latent_model(spy, episodes[:2], episodes[2:3], episodes[3:])
    windows = torch.cat([w.flatten(2) for w in spy.seen])
    assert windows.shape[1] == 4
    repeated = (windows[:, 1] == windows[:, 2]).all(1)
    assert repeated.float().mean() < 0.25  # only at episode starts (and static toy frames)


class ZeroReference(PixelDifferenceBaseline):
    def collapse_reference(self, o_t: torch.Tensor) -> torch.Tensor:
        """black: a reference that renders nothing."""
        return torch.zeros_like(o_t)


def test_collapse_ratio_uses_the_models_reference():
    episodes = make_toy_episodes(3, length=10)
    plain = evaluate_latent_model(PixelDifferenceBaseline(image_size=32), episodes[:2],
                                  episodes[2:])
    assert plain.collapse_ratio == pytest.approx(1.0)
    assert plain.collapse_reference == 'copy o_t'
    assert math.isnan(plain.human_cross_ridge.translation)
    black = evaluate_latent_model(ZeroReference(image_size=32), episodes[:2], episodes[2:])
    assert black.collapse_reference == 'black'
    frames = torch.from_numpy(episodes[2].frames[1:]).float() / 255
    assert black.reference_error == pytest.approx(float((frames ** 2).mean()), rel=1e-4)
    assert black.collapse_ratio < 0.5


def test_pixel_difference_is_compared_at_the_models_dimension():
    baseline = PixelDifferenceBaseline(image_size=32, z_dim=8)
    with pytest.raises(RuntimeError, match='fit_pca'):
        baseline.encode_window(torch.zeros(2, 2, 3, 32, 32))
    fit, held_out = make_toy_episodes(10), make_toy_episodes(4, first_seed=100)
    pixel = evaluate_latent_model(baseline, fit, held_out)
    oracle = evaluate_latent_model(EffectorMotion(image_size=32), fit, held_out)
    assert pixel.z_dim == oracle.z_dim == 8
    assert oracle.robot_ridge.translation < 0.3
    assert oracle.robot_ridge.translation < 0.5 * pixel.robot_ridge.translation
    assert oracle.robot_mlp.translation < 0.5 * pixel.robot_mlp.translation


def test_human_episodes_give_within_and_cross_numbers():
    fit, held_out = make_toy_episodes(8), make_toy_episodes(3, first_seed=100)
    humans = make_toy_episodes(5, 'human', first_seed=200)
    report = evaluate_latent_model(PixelDifferenceBaseline(image_size=32), fit, held_out, humans)
    for scores in (report.human_within_ridge, report.human_cross_ridge,
                   report.human_within_mlp, report.human_cross_mlp):
        assert np.isfinite(scores.translation) and np.isfinite(scores.gripper_acc)
        assert math.isnan(scores.rotation)  # the toy world never turns: nothing to score
    assert report.human_within_ridge.translation != report.human_cross_ridge.translation
    assert report.human_cross_ridge.translation < 5.0  # shifted inputs stay bounded


def test_report_rows_list_every_field_with_a_format():
    report = LatentReport(z_dim=8, collapse_reference='copy o_t')
    listed = {column.key.split('.')[0] for column in LatentReport.columns()}
    assert listed == {f.name for f in fields(LatentReport)}
    rows = report.rows()
    assert len(rows) == len(LatentReport.columns()) == len(report.as_table_row())
    assert ('z', '8') in rows and ('robot ridge trans', 'nan') in rows


def test_figure_puts_robot_and_human_in_the_robot_pca(tmp_path):
    robot = make_toy_episodes(3, length=12)
    humans = make_toy_episodes(2, 'human', first_seed=50, length=12)
    model = PixelDifferenceBaseline(image_size=32)
    robot_cloud, human_cloud = latent_clouds(model, robot, humans)
    assert robot_cloud.points.mean(0) == pytest.approx([0, 0], abs=1e-9)
    assert robot_cloud.moving.any() and len(human_cloud.points) == 2 * 11
    path = save_latent_figure(model, robot, tmp_path / 'fig.png', human_episodes=humans)
    image = plt.imread(path)
    assert image.ndim == 3 and image.shape[1] > 2 * image.shape[0]  # panels side by side


@pytest.mark.parametrize('name', available_models())
def test_every_model_is_evaluated_through_its_window_interface(name):
    """Untrained, so fast: shapes, real context (CLAM), and StaMo's own collapse reference."""
    episodes = make_toy_episodes(4, length=12)
    humans = make_toy_episodes(2, 'human', first_seed=9, length=12)
    model = make_latent_model(name, image_size=32, width=16)
    report = evaluate_latent_model(model, episodes[:2], episodes[2:], humans,
                                   max_reconstructions=16)
    assert report.z_dim == model.config.z_dim
    assert np.isfinite(report.robot_ridge.translation) and np.isfinite(report.collapse_ratio)
    assert np.isfinite(report.human_cross_mlp.translation)
    expected = 'decode(s(o_t))' if name == 'stamo' else 'copy o_t'
    assert report.collapse_reference == expected
