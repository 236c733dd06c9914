# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Probes of lam_models.latent.metrics: CV ridge, robust features, grouped targets, gripper."""
import numpy as np
import pytest

from lam_models.data.episode import Episode
from lam_models.latent.metrics import (
    GRIPPER_CLASSES,
    Probe,
    ProbeScores,
    WindowTargets,
    chance_accuracy,
    cross_fitted_scores,
    group_folds,
    linear_probe_mse,
    window_targets,
)


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


def test_cross_validated_ridge_does_not_overfit_many_noise_features():
    """A fixed weak ridge (1e-3 N) fits 150 noise dims on 240 rows and scores far above 1."""
    rng = np.random.default_rng(2)
    y = rng.normal(size=(400, 2))
    z = np.c_[0.3 * y[:, :1] + rng.normal(size=(400, 1)), rng.normal(size=(400, 150))]
    groups = np.repeat(np.arange(8), 30)
    score = linear_probe_mse(z[:240], y[:240], z[240:], y[240:], groups)
    assert score < 1.05


def test_shifted_input_cannot_explode_the_probe():
    """Fit features include a near-constant one (std 1e-9); the scored set is shifted."""
    rng = np.random.default_rng(3)
    y = rng.normal(size=(400, 2))
    z = np.c_[y @ rng.normal(size=(2, 4)) + 0.1 * rng.normal(size=(400, 4)),
              1e-9 * rng.normal(size=400)]
    shifted = z[200:] + np.r_[np.full(4, 50.0), 1.0]
    assert linear_probe_mse(z[:200], y[:200], shifted, y[200:]) < 20.0  # was 1.4e12


def test_group_folds_keep_episodes_whole():
    groups = np.repeat(np.arange(7), 5)
    folds = group_folds(groups)
    assert len(folds) == 5
    for fit_rows, val_rows in folds:
        assert not set(groups[fit_rows]) & set(groups[val_rows])
    assert sorted(np.concatenate([v for _, v in folds])) == list(range(35))
    assert group_folds(np.zeros(10, int)) == []


def _episode(actions: np.ndarray) -> Episode:
    frames = np.zeros((len(actions), 8, 8, 3), np.uint8)
    return Episode(frames=frames, timestamps=np.arange(len(actions)) * 0.1,
                   actions=actions.astype(np.float32))


def test_gripper_is_a_change_and_roll_pitch_are_not_targets():
    actions = np.zeros((20, 7))
    actions[:, :6] = np.arange(20)[:, None] * [1, 2, 3, 40, 50, 6]
    actions[:, 6] = 1.0
    actions[10:15, 6] = 0.0      # closes after frame 10, opens again after frame 15
    targets = window_targets([_episode(actions)], gap=2)
    assert targets.motion.shape == (18, 4)
    assert targets.motion[3].tolist() == pytest.approx([7, 14, 21, 42])  # dx,dy,dz,dyaw of 3,4
    changes = {t: GRIPPER_CLASSES[c] for t, c in enumerate(targets.gripper) if c != 1}
    assert changes == {9: 'closing', 10: 'closing', 14: 'opening', 15: 'opening'}


def _random_targets(rng: np.random.Generator, episodes: int = 12, length: int = 40
                    ) -> WindowTargets:
    rows = episodes * length
    gripper = rng.choice(3, size=rows, p=[0.15, 0.7, 0.15])
    return WindowTargets(rng.normal(size=(rows, 4)), gripper, np.repeat(np.arange(episodes),
                                                                          length))


def test_exact_motion_latent_scores_zero_per_group():
    """Roll/pitch noise and an absolute gripper used to be averaged in (0.23 for a perfect z)."""
    rng = np.random.default_rng(4)
    targets = _random_targets(rng)
    fit, held = np.arange(320), np.arange(320, 480)
    z = np.c_[targets.motion, np.eye(3)[targets.gripper]]
    for kind in ('ridge', 'mlp'):
        probe = Probe(kind, z[fit], targets.subset(fit))
        scores = ProbeScores.of(probe.predict(z[held]), targets.subset(held))
        limit = 1e-3 if kind == 'ridge' else 0.1
        assert scores.translation < limit and scores.rotation < limit, (kind, scores)
        assert scores.gripper_acc > 0.95, (kind, scores)


def test_gripper_accuracy_of_a_random_latent_is_chance():
    rng = np.random.default_rng(5)
    targets = _random_targets(rng)
    z = rng.normal(size=(len(targets.gripper), 8))
    fit, held = np.arange(320), np.arange(320, 480)
    assert chance_accuracy(targets.subset(held)) == pytest.approx(1 / 3)
    for kind in ('ridge', 'mlp'):
        scores = ProbeScores.of(Probe(kind, z[fit], targets.subset(fit)).predict(z[held]),
                                targets.subset(held))
        assert abs(scores.gripper_acc - 1 / 3) < 0.12, (kind, scores)
        assert scores.translation > 0.9


def test_within_human_and_cross_embodiment_are_different_numbers():
    """The latent carries the human motion away from the robot one: within good, cross bad."""
    rng = np.random.default_rng(6)
    robot, human = _random_targets(rng), _random_targets(rng, episodes=6)
    z_robot = rng.normal(size=(len(robot.motion), 6))
    z_human = np.c_[human.motion, rng.normal(size=(len(human.motion), 2))]
    within = cross_fitted_scores('ridge', z_human, human)
    cross = ProbeScores.of(Probe('ridge', z_robot, robot).predict(z_human), human)
    assert within.translation < 0.05
    assert cross.translation > 0.9
