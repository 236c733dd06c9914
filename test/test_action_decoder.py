# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A latent -> action decoder fit on robot demos' latents (``lam_models.latent.action_decoder``).

On the toy world, whose actions are the square's displacement in pixels. The frozen latent
is the frame difference's first moments: a square moving by d shifts them by its mass times
d, so the latent carries the motion with no training, and the tests test the decoder.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from support.latent_world import make_toy_episodes
import torch

from lam_models.data.episode import ACTION_COLUMNS, LOOK_TARGETS, gripper_events
from lam_models.data.task_priors import TaskPriors
from lam_models.latent import action_decoder
from lam_models.latent.action_decoder import (
    decoded_agreement,
    decoded_waypoint_error,
    fit_action_decoder,
)
from lam_models.latent.base import LatentActionModel, LatentConfig
from lam_models.latent.labeling import decoded_episode, label_frames

MOVING = [0, 1]   # the toy's dx, dy (the other motion columns are zero, the grip flips)


class DifferenceMoments(LatentActionModel):
    """z = sum over pixels of (o_{t+1} - o_t) * (column, row), per colour channel."""

    name = 'difference_moments'

    def __init__(self) -> None:
        super().__init__(LatentConfig(image_size=32, z_dim=6))
        rows, columns = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing='ij')
        self.register_buffer('grid', torch.stack([columns, rows]))

    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        difference = (window[:, -1] - window[:, -2])[:, None]       # (B, 1, 3, H, W)
        return (difference * self.grid[None, :, None]).sum((3, 4)).flatten(1)

    def predict_window(self, window: torch.Tensor) -> torch.Tensor:
        return window[:, -2]


@pytest.fixture(scope='module')
def fitted():
    robot = make_toy_episodes(24, 'robot', length=16)
    model = DifferenceMoments()
    return model, robot, fit_action_decoder(model, robot, steps=600)


def test_the_decoder_reads_unseen_robot_motion_and_a_decoder_of_shuffled_actions_does_not(
        fitted):
    model, robot, decoder = fitted
    held_out = make_toy_episodes(8, 'robot', first_seed=100, length=16)
    agreement = decoded_agreement(model, held_out, decoder)
    assert (agreement.r2[MOVING] > 0.5).all(), agreement.r2
    rng = np.random.default_rng(0)
    shuffled = [replace(ep, actions=ep.actions[rng.permutation(len(ep))]) for ep in robot]
    chance = decoded_agreement(model, held_out, fit_action_decoder(model, shuffled, steps=600))
    assert (chance.r2[MOVING] < 0.2).all(), chance.r2
    assert np.isnan(agreement.r2[2:6]).all()   # no motion on those axes: nothing to score


def test_the_hidden_motion_of_a_human_video_is_what_its_agreement_scores(fitted):
    model, _, decoder = fitted
    human = make_toy_episodes(8, 'human', first_seed=200, length=16)
    agreement = decoded_agreement(model, human, decoder)
    assert agreement.r2.shape == (7,) and np.isfinite(agreement.r2[MOVING]).all()
    assert 'x ' in agreement.row(['x', 'y', 'z', 'roll', 'pitch', 'yaw', 'gripper'])


def test_a_latent_far_outside_the_robots_range_decodes_to_a_bounded_action(fitted):
    model, robot, decoder = fitted
    values, valid = label_frames(model, robot[0].frames)
    direction = torch.where(torch.from_numpy(values[valid]) >= 0, 1.0, -1.0)
    shifted = decoder.decode_action(1e6 * direction).numpy()
    np.testing.assert_allclose(decoder.decode_action(1e9 * direction).numpy(), shifted)  # clipped
    actions = np.concatenate([ep.actions for ep in robot])
    assert np.isfinite(shifted).all()
    assert (np.abs(shifted - actions.mean(0)) <= 20 * actions.std(0) + 1e-3).all(), (
        np.abs(shifted - actions.mean(0)).max(0) / (actions.std(0) + 1e-9))


def test_decoded_episode_uses_a_fitted_decoder_for_a_model_without_its_own(fitted):
    model, _, decoder = fitted
    human = make_toy_episodes(1, 'human', first_seed=300, length=12)[0]
    columns = [True, True, False, False, False, False, False]
    with pytest.raises(ValueError, match='difference_moments has no action decoder'):
        decoded_episode(model, human, columns)
    decoded = decoded_episode(model, human, columns, decoder)
    values, valid = label_frames(model, human.frames)
    expected = decoder.decode_action(torch.from_numpy(values[valid])).numpy()
    np.testing.assert_allclose(decoded.actions[valid], expected, atol=1e-6)
    assert decoded.metadata[ACTION_COLUMNS] == columns and decoded.hidden_motion is None


def test_a_decoder_needs_robot_actions(fitted):
    model, _, _ = fitted
    with pytest.raises(ValueError, match='needs robot episodes with actions'):
        fit_action_decoder(model, make_toy_episodes(2, 'human', length=8))
    with pytest.raises(ValueError, match='needs robot episodes with actions'):
        fit_action_decoder(model, [])
    with pytest.raises(ValueError, match='no robot episode is longer than the latent'):
        fit_action_decoder(model, make_toy_episodes(2, 'robot', length=1))


def test_waypoints_summed_from_decoded_motion_beat_a_guess_from_no_video(fitted, monkeypatch):
    model, _, decoder = fitted
    held_out = [replace(ep, effector_positions=np.cumsum(ep.actions[:, :3], 0) - ep.actions[:, :3])
                for ep in make_toy_episodes(8, 'robot', first_seed=400, length=16)]   # p_t
    monkeypatch.setattr(action_decoder, 'FAR_M', 3.0)   # the toy world is in pixels
    error = decoded_waypoint_error(model, held_out, decoder)
    assert (error.every_frame < 0.5 * error.guess_every_frame).all(), error
    assert (error.far_every_frame < 0.8 * error.guess_far_every_frame).all(), error
    assert 'cm median on every frame' in error.row() and 'steps off or more in' in error.row()
    with pytest.raises(ValueError, match='no true motion and effector path'):
        decoded_waypoint_error(model, make_toy_episodes(1, 'robot', length=8), decoder)


def test_decoded_episode_holds_its_actions_to_the_tasks_priors(fitted):
    model, _, decoder = fitted
    human = make_toy_episodes(1, 'human', first_seed=500, length=16)[0]
    columns = [True] * 7
    grip = decoded_episode(model, human, columns, decoder,
                           {'toy_move': TaskPriors(2)}).actions[:, -1]
    assert set(np.unique(grip)) <= {0.0, 1.0} and len(gripper_events(grip[:, None])) == 2
    with pytest.raises(ValueError, match="no task priors for 'toy_move'"):
        decoded_episode(model, human, columns, decoder, {'pick_place': TaskPriors(2)})


class FixedDecoder:
    """Decodes every latent to one step of a known reach: 1 cm a step, closing at step 5."""

    def decode_action(self, z: torch.Tensor) -> torch.Tensor:
        actions = torch.zeros(len(z), 7)
        actions[:, :3] = 0.01
        actions[:, 6] = (torch.arange(len(z)) < 5) | (torch.arange(len(z)) >= 10)
        return actions


def test_decoded_episode_anchors_the_path_at_the_videos_look_targets(fitted):
    model, _, _ = fitted
    human = make_toy_episodes(1, 'human', first_seed=600, length=16)[0]
    human.metadata[LOOK_TARGETS] = [[0.3, 0.1, 0.02], None]          # the grasp seen
    priors = {'toy_move': TaskPriors(2, (0.2, 0.0, 0.14), (0.03, 0.04))}
    actions = decoded_episode(model, human, [True] * 7, FixedDecoder(), priors).actions
    assert gripper_events(actions).tolist() == [5, 10]
    path = np.asarray(priors['toy_move'].start) + np.cumsum(actions[:, :3], 0)
    np.testing.assert_allclose(path[4], [0.3, 0.1, 0.02], atol=1e-6)    # at the grasp
    assert path[9, 2] == pytest.approx(0.04, abs=1e-6)                  # the release's height
    np.testing.assert_array_equal(actions[-1, :3], 0.0)   # the frame with no latent holds still


def test_a_gripper_change_is_off_when_decoded_too_far_from_the_true_one_or_missing():
    def grip(*events: int) -> np.ndarray:
        command = np.ones((30, 1))
        for start, end in zip(events[::2], [*events[1::2], 30]):
            command[start:end] = 0.0
        return command
    assert action_decoder._changes_off(grip(10, 20), grip(14, 25)).tolist() == [False, True]
    assert action_decoder._changes_off(grip(10, 20), grip(10)).tolist() == [False, True]
    assert action_decoder._changes_off(grip(10), grip(10)).tolist() == [False, False]
