# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Actions, determinism, tasks and experts of the simulated WidowX world."""
import numpy as np
import pytest

from lam_models.data.episode import Episode
from lam_ros.sim import TASKS, WidowXEnv, generate_episode
from lam_ros.sim.actions import ActionOutOfRange


@pytest.fixture(scope='module')
def env():
    env = WidowXEnv('pick_place', camera='third_person', image_size=32)
    yield env
    env.close()


def test_same_seed_gives_the_same_trajectory_and_frames():
    first = generate_episode('stack', seed=3, image_size=32)
    second = generate_episode('stack', seed=3, image_size=32)
    other = generate_episode('stack', seed=4, image_size=32)
    assert np.array_equal(first.frames, second.frames)
    assert np.array_equal(first.actions, second.actions)
    assert np.array_equal(first.joint_positions, second.joint_positions)
    assert not np.array_equal(first.frames[0], other.frames[0])


def test_nan_action_raises(env):
    env.reset(seed=0)
    with pytest.raises(ValueError, match='NaN'):
        env.step(np.array([np.nan, 0, 0, 0, 0, 0, 1]))


def test_wrong_shape_action_raises(env):
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r'shape \(7,\)'):
        env.step(np.zeros(6))


def test_out_of_range_action_is_clipped_with_a_warning(env):
    env.reset(seed=0)
    before = env.effector_state()[:3]
    with pytest.warns(ActionOutOfRange, match='clipped'):
        _, _, _, _, info = env.step(np.array([5.0, 0, 0, 0, 0, 0, 3.0]))
    assert info['executed_action'][0] == pytest.approx(0.05)
    assert info['executed_action'][6] == pytest.approx(1.0)
    moved = env.effector_state()[0] - before[0]
    assert 0.0 < moved <= 0.05 + 1e-3


def test_joint_action_mode_clips_to_joint_limits():
    env = WidowXEnv('push', action_mode='joint', camera=None)
    env.reset(seed=0)
    with pytest.warns(ActionOutOfRange):
        _, _, _, _, info = env.step(np.array([0.0, -3.0, 0.5, 0.0, 0.8, 0.0, 0.5]))
    assert info['executed_action'][1] == pytest.approx(env.sim.joint_limits['shoulder'].lower)
    assert env.sim.joint_positions()[1] >= env.sim.joint_limits['shoulder'].lower - 0.01


def test_observations_fit_the_spaces(env):
    obs, _ = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    obs, *_ = env.step(env.action_space.sample())
    assert obs['image'].shape == (32, 32, 3) and obs['image'].dtype == np.uint8


@pytest.mark.parametrize('task', sorted(TASKS))
@pytest.mark.parametrize('embodiment', ['robot', 'human'])
def test_expert_solves_task_that_is_unsolved_at_reset(task, embodiment):
    env = WidowXEnv(task, embodiment=embodiment, camera=None)
    _, info = env.reset(seed=11)
    assert not info['success']
    start = env.effector_state()[:3]
    episode = generate_episode(task, seed=11, embodiment=embodiment, image_size=32)
    assert isinstance(episode, Episode)
    assert episode.success
    path = episode.effector_positions                   # the effector's own, per frame
    assert path.shape == (len(episode), 3) and np.allclose(path[0], start, atol=1e-6)
    assert np.linalg.norm(np.diff(path, axis=0), axis=1).sum() > 0.1
    assert episode.instruction == TASKS[task].instruction
    if embodiment == 'robot':
        assert episode.actions.shape == (len(episode), 7) and episode.hidden_motion is None
        assert episode.joint_positions.shape == (len(episode), 8)
    else:
        assert episode.actions is None and episode.hidden_motion.shape == (len(episode), 7)
        assert np.all(episode.hidden_motion[:, 3:5] == 0)  # the hand cannot roll or pitch


def test_robot_actions_reproduce_the_episode_open_loop():
    episode = generate_episode('push', seed=5, image_size=32)   # ego view, randomized look
    env = WidowXEnv('push', image_size=32)
    obs, _ = env.reset(seed=5)
    for action in episode.actions[:-1]:
        obs, *_ = env.step(action)
    assert np.array_equal(obs['image'], episode.frames[-1])


def test_dart_noise_perturbs_what_is_executed_and_records_the_experts_command():
    clean = generate_episode('pick_place', seed=5, image_size=32)
    noisy = generate_episode('pick_place', seed=5, image_size=32, action_noise=0.01)
    # the same expert in the same start state commands the same first step ...
    assert np.array_equal(noisy.actions[0], clean.actions[0])
    # ... but what ran was perturbed, so the arm went elsewhere and the recorded commands
    # do not replay the episode (they are the expert's, not the executed motion)
    assert not np.allclose(noisy.joint_positions[1], clean.joint_positions[1], atol=1e-4)
    env = WidowXEnv('pick_place', image_size=32)
    env.reset(seed=5)
    for action in noisy.actions[:-1]:
        obs, *_ = env.step(action)
    assert not np.array_equal(obs['image'], noisy.frames[-1])
    assert noisy.metadata['action_noise'] == 0.01
    with pytest.raises(ValueError, match='action_noise'):
        generate_episode('pick_place', seed=5, embodiment='human', action_noise=0.01)
    with pytest.raises(ValueError, match='action_noise'):
        generate_episode('pick_place', seed=5, action_noise=-0.01)


@pytest.mark.parametrize('task', sorted(TASKS))
def test_narrow_spawn_region_bounds_the_moved_object_and_full_does_not(task):
    from lam_ros.sim.tasks import SPAWN_REGIONS
    (x_low, x_high), (y_low, y_high) = SPAWN_REGIONS['narrow']
    ys = {}
    for region in ('narrow', 'full'):
        env = WidowXEnv(task, camera=None, spawn_region=region)
        ys[region] = []
        for seed in range(12):
            env.reset(seed=seed)
            x, y, _ = env.sim.object_position(env.task.moved_object)
            ys[region].append(y)
            if region == 'narrow':
                assert x_low - 0.01 <= x <= x_high + 0.01 and y_low - 0.01 <= y <= y_high + 0.01
    assert max(ys['full']) > y_high + 0.03   # the whole reach: the narrow bound is real
    with pytest.raises(ValueError, match='spawn_region'):
        WidowXEnv(task, camera=None, spawn_region='left')


def test_the_deploy_evaluator_budgets_each_task_like_the_simulator():
    from lam_ros.app.deploy_eval import TASK_STEPS  # a copy: that module must not load MuJoCo
    assert TASK_STEPS == {name: task.max_steps for name, task in TASKS.items()}
