# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The toy world of the latent-model tests (``support.latent_world``) is what it claims."""
import numpy as np
import pytest
from support.latent_world import make_toy_episode


def test_toy_world_actions_are_the_true_displacement():
    episode = make_toy_episode(3)
    robot_pixels = (episode.frames == (150, 150, 160)).all(-1)
    centres = np.array([np.argwhere(mask).mean(0) for mask in robot_pixels])  # (y, x)
    moved = centres[1:] - centres[:-1]
    np.testing.assert_allclose(moved[:, ::-1], episode.actions[:-1, :2], atol=1.01)


@pytest.mark.parametrize('embodiment', ['robot', 'human'])
def test_toy_world_is_deterministic_and_hides_human_actions(embodiment):
    first, second = make_toy_episode(5, embodiment), make_toy_episode(5, embodiment)
    np.testing.assert_array_equal(first.frames, second.frames)
    assert (first.actions is None) == (embodiment == 'human')
    assert (first.hidden_motion is None) == (embodiment == 'robot')
