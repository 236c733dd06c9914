# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Closed-loop evaluation: it tells a working policy from a broken one, and keeps its horizon."""
from __future__ import annotations

from argparse import Namespace
from dataclasses import dataclass
import importlib.util
import json
import os
from pathlib import Path
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lam_models.data.windows import PolicyWindows, WindowShape
from lam_ros.interfaces.seeds import HELD_OUT_SEED_START
from lam_ros.sim import WidowXEnv, generate_episode
from lam_ros.sim.evaluate import (
    EvalReport,
    NonFiniteAction,
    evaluate_policy,
    wilson_interval,
)

SEEDS = [HELD_OUT_SEED_START + i for i in range(3)]
REPO = Path(__file__).resolve().parent.parent


@dataclass
class StandInConfig:
    """The part of ``PolicyConfig`` the evaluator reads."""

    image_size: int = 32
    obs_horizon: int = 2
    action_horizon: int = 16
    action_exec: int = 8
    state_dim: int = 8


class ExpertReplay:
    """Replays the scripted expert's recorded actions of the same seed.

    Which episode and step it is at is found from the state alone (nearest recorded
    joint positions), so the evaluator's seeds and replanning are all it relies on.
    """

    def __init__(self, task: str, seeds, config: StandInConfig = StandInConfig(),
                 spawn_region: str = 'full') -> None:
        self.config = config
        self.episodes = [generate_episode(task, seed, image_size=32, spawn_region=spawn_region)
                         for seed in seeds]

    def predict_chunk(self, images, state, state_valid):
        assert images.dtype == torch.uint8 and state.dtype == torch.float32
        assert bool(state_valid.all())
        chunks = []
        for current in state[:, -1].numpy():
            ep, t = min(((ep, t) for ep in self.episodes for t in range(len(ep))),
                        key=lambda pair: np.abs(pair[0].joint_positions[pair[1]] - current).max())
            index = np.minimum(t + np.arange(self.config.action_horizon), len(ep) - 1)
            chunks.append(ep.actions[index])
        return torch.from_numpy(np.stack(chunks))


class Constant:
    """Returns the same action every step (zeros: the arm holds, the gripper closes)."""

    def __init__(self, action=np.zeros(7), config: StandInConfig = StandInConfig()) -> None:
        self.config, self.action, self.calls = config, np.asarray(action, np.float32), []

    def predict_chunk(self, images, state, state_valid):
        self.calls.append((images.clone(), state.clone()))
        chunk = np.broadcast_to(self.action, (len(images), self.config.action_horizon,
                                              len(self.action)))
        return torch.from_numpy(chunk.copy())


@pytest.mark.parametrize('successes, n, low, high', [
    (0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0),
    (8, 10, 0.4902, 0.9433), (1, 50, 0.0035, 0.1050), (0, 0, 0.0, 1.0)])
def test_wilson_interval_matches_known_values(successes, n, low, high):
    assert wilson_interval(successes, n) == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_is_exact_at_the_ends_and_holds_the_rate():
    for n in range(1, 120):
        assert wilson_interval(0, n)[0] == 0.0 and wilson_interval(n, n)[1] == 1.0
        for k in range(n + 1):
            low, high = wilson_interval(k, n)
            assert 0.0 <= low <= k / n <= high <= 1.0


def test_harness_tells_an_expert_from_a_policy_that_does_nothing():
    expert = evaluate_policy(ExpertReplay('push', SEEDS), ['push'], SEEDS, progress=False)
    idle = evaluate_policy(Constant(), ['push'], SEEDS, progress=False)
    assert expert.tasks['push'].successes == len(SEEDS)
    assert idle.tasks['push'].successes == 0
    assert [e.end for e in idle.tasks['push'].episodes] == ['timeout'] * len(SEEDS)
    assert all(e.steps == WidowXEnv('push', camera=None).max_steps
               for e in idle.tasks['push'].episodes)
    assert expert.tasks['push'].mean_steps < idle.tasks['push'].mean_steps
    assert 'push' in expert.table() and '3/3' in expert.table()


def test_close_error_tells_a_grasp_on_the_block_from_one_beside_it():
    """The expert closes on the block (< 1 cm); closing at the start pose is cm away from it."""
    expert = evaluate_policy(ExpertReplay('pick_place', SEEDS), ['pick_place'], SEEDS,
                             progress=False)
    at_start = evaluate_policy(Constant(), ['pick_place'], SEEDS, progress=False)
    pushing = evaluate_policy(Constant(), ['push', 'pick_place'], SEEDS[:1], progress=False)
    assert all(e.close_error_cm < 1.0 for e in expert.tasks['pick_place'].episodes)
    assert all(e.close_error_cm > 1.5 for e in at_start.tasks['pick_place'].episodes)
    assert expert.tasks['pick_place'].median_close_error_cm < 1.0
    assert at_start.tasks['pick_place'].median_close_error_cm > 5.0
    assert pushing.tasks['push'].episodes[0].close_error_cm is None   # push never grasps
    assert 'close cm' in expert.table()
    assert json.loads(json.dumps(expert.to_dict()))['tasks']['pick_place'][
        'median_close_error_cm'] < 1.0
    # push has no close error: '-' in the table, null in strict JSON, never NaN
    report = json.loads(json.dumps(pushing.to_dict(), allow_nan=False))
    assert report['tasks']['push']['median_close_error_cm'] is None
    assert 'nan' not in pushing.table() and pushing.table().splitlines()[1].endswith('-')


def test_narrow_evaluation_places_the_object_where_narrow_demos_did():
    narrow = ExpertReplay('push', SEEDS, spawn_region='narrow')
    inside = evaluate_policy(narrow, ['push'], SEEDS, spawn_region='narrow', progress=False)
    outside = evaluate_policy(narrow, ['push'], SEEDS, progress=False)   # whole workspace
    assert inside.tasks['push'].successes == len(SEEDS)
    assert outside.tasks['push'].successes < len(SEEDS)
    assert inside.settings['spawn_region'] == 'narrow'
    with pytest.raises(ValueError, match="spawn_region 'moon'"):
        evaluate_policy(narrow, ['push'], SEEDS[:1], spawn_region='moon', progress=False)


def test_fixed_look_evaluation_shows_the_frames_fixed_look_demos_recorded():
    """One lab, one robot: with randomize=False every seed looks like the fixed-look demos."""
    looks = {}
    for randomize in (False, True):
        seen = Constant(config=StandInConfig(image_size=32))
        report = evaluate_policy(seen, ['push'], SEEDS[:2], progress=False, max_steps=1,
                                 randomize=randomize)
        looks[randomize] = [images[0, -1].numpy() for images, _ in seen.calls]
        assert report.settings['randomize'] is randomize
    for seed, fixed, randomized in zip(SEEDS, looks[False], looks[True]):
        demo = generate_episode('push', seed, image_size=32, randomize=False, max_steps=1)
        np.testing.assert_array_equal(fixed, demo.frames[0])
        assert np.abs(randomized.astype(int) - demo.frames[0]).mean() > 5


class Logged:
    """Wraps a policy; logs its calls and every env step (action and resulting state)."""

    def __init__(self, policy, monkeypatch, nan_from_call: int | None = None) -> None:
        self.policy, self.config, self.log = policy, policy.config, []
        self.nan_from_call = nan_from_call
        step = WidowXEnv.step

        def logged_step(env, action):
            result = step(env, action)
            self.log.append(('step', np.asarray(action).copy(), env.sim.joint_positions(),
                             result[0]['image']))
            return result
        monkeypatch.setattr(WidowXEnv, 'step', logged_step)

    def predict_chunk(self, images, state, state_valid):
        calls = sum(entry[0] == 'predict' for entry in self.log)
        self.log.append(('predict', images.clone(), state.clone()))
        chunk = self.policy.predict_chunk(images, state, state_valid).clone()
        chunk[:, :, 0] = torch.arange(chunk.shape[1]) * 1e-3   # mark each action's index
        if self.nan_from_call is not None and calls >= self.nan_from_call:
            chunk[:, 1] = float('nan')
        return chunk


def test_receding_horizon_executes_the_first_action_exec_actions_then_replans(monkeypatch):
    config = StandInConfig(obs_horizon=3, action_horizon=6, action_exec=4)
    policy = Logged(Constant(config=config), monkeypatch)
    evaluate_policy(policy, ['push'], SEEDS[:1], max_steps=10, progress=False)
    kinds = ''.join('P' if entry[0] == 'predict' else 's' for entry in policy.log)
    assert kinds == 'PssssPssssPss'
    executed = [round(float(entry[1][0]) * 1e3) for entry in policy.log if entry[0] == 'step']
    assert executed == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    first, second = policy.log[0], policy.log[5]
    assert first[1].shape == (1, 3, 32, 32, 3)
    assert torch.equal(first[1][0, 0], first[1][0, 2]) and torch.equal(first[2][0, 0],
                                                                        first[2][0, 2])
    # at a replan, the newest observation is the state after the last executed action
    for back in (1, 2):
        step = policy.log[5 - back]
        assert np.array_equal(second[2][0, -back].numpy(), step[2].astype(np.float32))
        assert np.array_equal(second[1][0, -back].numpy(), step[3])
    assert not np.array_equal(policy.log[4][3], policy.log[3][3])   # the arm has moved


def test_a_non_finite_action_ends_the_episode_without_reaching_the_sim(monkeypatch):
    config = StandInConfig(action_exec=3)
    policy = Logged(Constant(config=config), monkeypatch, nan_from_call=1)
    with pytest.warns(NonFiniteAction, match='non-finite'):
        report = evaluate_policy(policy, ['push'], SEEDS[:1], progress=False)
    record = report.tasks['push'].episodes[0]
    assert (record.end, record.success, record.steps) == ('non_finite', False, 3)
    steps = [entry for entry in policy.log if entry[0] == 'step']
    assert len(steps) == 3 and all(np.isfinite(entry[1]).all() for entry in steps)
    assert report.to_dict()['tasks']['push']['non_finite'] == 1


def test_a_policy_that_does_not_fit_the_arm_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match='7-D state; the wx250s has 8 joint positions'):
        evaluate_policy(Constant(config=StandInConfig(state_dim=7)), ['push'], SEEDS[:1],
                        progress=False)
    with pytest.raises(ValueError, match=r'returned shape \(1, 16, 6\); expected \(1, >= '):
        evaluate_policy(Constant(np.zeros(6)), ['push'], SEEDS[:1], progress=False)


def test_a_sampling_policy_gets_noise_seeded_by_its_episodes():
    class Sampling(Constant):
        seeds: list[int] = []

        def predict_chunk(self, images, state, state_valid, generator=None):
            self.seeds.append(generator.initial_seed())
            return super().predict_chunk(images, state, state_valid)

    policy = Sampling()
    evaluate_policy(policy, ['push'], SEEDS[:2], max_steps=16, progress=False)
    assert policy.seeds == [SEEDS[0], SEEDS[0], SEEDS[1], SEEDS[1]]   # 2 calls per episode


def test_batched_envs_give_the_same_episodes_as_one_env():
    policy = ExpertReplay('push', SEEDS)
    one = evaluate_policy(policy, ['push'], SEEDS, progress=False)
    batched = evaluate_policy(policy, ['push'], SEEDS, num_envs=2, progress=False)
    summary = [[(e.seed, e.success, e.steps) for e in r.tasks['push'].episodes]
               for r in (one, batched)]
    assert summary[0] == summary[1]


def test_videos_chart_and_report_are_written(tmp_path):
    import av

    policy = ExpertReplay('push', SEEDS[:2])
    report = evaluate_policy(policy, ['push'], SEEDS[:2], video_dir=tmp_path / 'videos',
                             videos_per_task=1, progress=False)
    paths = report.write(tmp_path)
    first, second = report.tasks['push'].episodes
    assert second.video is None and first.video.endswith('_success.mp4')
    with av.open(first.video) as container:
        frames = [frame.to_ndarray(format='rgb24') for frame in container.decode(video=0)]
    assert len(frames) == first.steps + 1            # the reset frame, then one per step
    assert frames[0].shape == (256, 256, 3)          # 32 px frames shown 8x
    assert paths['png'].read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    saved = json.loads(paths['json'].read_text())
    assert saved['tasks']['push']['successes'] == 2
    assert saved['tasks']['push']['records'][0]['seed'] == SEEDS[0]
    assert saved['settings']['seeds'] == SEEDS[:2]
    again = EvalReport.read(paths['json'])   # what a rerun reads instead of rolling out
    assert again.to_dict() == json.loads(paths['json'].read_text())
    assert again.tasks['push'].successes == 2 and again.tasks['push'].interval == (
        report.tasks['push'].interval)
    paths['json'].write_text('{"format": "lam_ros.eval/0"}')
    with pytest.raises(ValueError, match='report.json: not an evaluation report'):
        EvalReport.read(paths['json'])


def test_cli_prints_the_table_and_refuses_what_is_not_a_policy(tmp_path, monkeypatch, capsys):
    from lam_ros.app import cli
    from lam_ros.sim import evaluate

    assert cli._main(['eval', '--checkpoint', str(tmp_path / 'missing.safetensors')]) == 2
    assert 'missing.safetensors: no such checkpoint' in capsys.readouterr().err
    checkpoint = tmp_path / 'policy.safetensors'
    checkpoint.write_bytes(b'not a checkpoint')
    assert cli._main(['eval', '--checkpoint', str(checkpoint)]) == 2
    assert str(checkpoint) in capsys.readouterr().err

    monkeypatch.setattr(evaluate, 'load_policy_checkpoint', lambda path: Constant())
    assert cli._main(['eval', '--checkpoint', str(checkpoint), '--tasks', 'push',
                      '--episodes', '1', '--out', str(tmp_path / 'out'), '--fixed-look']) == 0
    printed = capsys.readouterr().out
    assert 'push' in printed and '0/1' in printed and 'report.json' in printed
    assert json.loads((tmp_path / 'out' / 'report.json').read_text())['settings'][
        'randomize'] is False
    assert (tmp_path / 'out' / 'success.png').exists()
    assert len(list((tmp_path / 'out' / 'videos').glob('push_seed100000_fail.mp4'))) == 1


def cotrain_bench(monkeypatch):
    """bench/cotrain.py as a module (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location('cotrain', REPO / 'bench' / 'cotrain.py')
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, 'cotrain', bench)   # its dataclasses look it up
    spec.loader.exec_module(bench)
    return bench


def test_the_cotrain_bench_rolls_a_checkpoint_out_once_per_set_of_scenes(tmp_path, monkeypatch):
    """A rerun reads back the report; other scenes or a retrained checkpoint roll out again."""
    bench = cotrain_bench(monkeypatch)
    checkpoint = tmp_path / 'checkpoint.safetensors'
    checkpoint.write_bytes(b'weights')
    os.utime(checkpoint, (1.0, 1.0))   # written long before any report
    seeds = range(SEEDS[0], SEEDS[0] + 2)
    policy = ExpertReplay('push', seeds)
    first = bench.rollouts(policy, tmp_path, 'eval', ['push'], seeds, randomize=False,
                           progress=False)
    assert (tmp_path / 'eval' / 'report.json').exists() and first.tasks['push'].successes == 2

    def rolled_out(*args, **kwargs):
        raise AssertionError('rolled out again')

    monkeypatch.setattr(bench, 'evaluate_policy', rolled_out)
    again = bench.rollouts(policy, tmp_path, 'eval', ['push'], seeds, randomize=False)
    assert again.to_dict() == first.to_dict()
    for other in ({'seeds': range(SEEDS[0], SEEDS[0] + 1)}, {'spawn_region': 'narrow'},
                  {'randomize': True}):
        with pytest.raises(AssertionError, match='rolled out again'):
            bench.rollouts(policy, tmp_path, 'eval', ['push'],
                           **{'seeds': seeds, 'randomize': False, **other})
    report = tmp_path / 'eval' / 'report.json'
    text = report.read_text()
    report.write_text(text[:len(text) // 2])   # cut short by a killed run: roll out again
    with pytest.raises(AssertionError, match='rolled out again'):
        bench.rollouts(policy, tmp_path, 'eval', ['push'], seeds, randomize=False)
    report.write_text(text)
    os.utime(checkpoint)   # retrained since
    with pytest.raises(AssertionError, match='rolled out again'):
        bench.rollouts(policy, tmp_path, 'eval', ['push'], seeds, randomize=False)


def test_the_cotrain_bench_gives_a_latent_knob_only_to_rows_with_pseudo_actions(monkeypatch):
    """--set latent_weight=0.1 leaves the bounds rows' config, so their cached runs match."""
    bench = cotrain_bench(monkeypatch)
    overrides = {'latent_weight': 0.1, 'state_noise': 0.5}
    for source in ('robot', 'robot_5k', 'oracle', 'oracle_look', 'oracle_decoded', 'clam_decoded',
                   'como_decoded', 'look_targets'):
        assert bench.row_overrides(source, overrides) == {'state_noise': 0.5}, source
    for source in ('como', 'stamo', 'clam', 'vq', 'pixel_diff'):
        assert bench.row_overrides(source, overrides) == overrides, source
    assert (bench.row_label('+human como', bench.row_overrides('como', overrides))
            == '+human como latent_weight=0.1 state_noise=0.5')   # the table names its knobs


def test_a_cotrain_run_is_named_by_every_knob_off_its_default(monkeypatch):
    """Else a rerun with another mix reads back the default mix's policy as its own."""
    bench = cotrain_bench(monkeypatch)
    args = bench.argparse.Namespace(no_proprio=True, batch_size=bench.DEFAULT_BATCH,
                                    robot_fraction=bench.DEFAULT_ROBOT_FRACTION, look_first=0.5)
    assert bench.run_knobs(args, {}, human=True) == '_noproprio_look0.5'   # cached names hold
    args.robot_fraction, args.batch_size = 0.3, 32
    assert bench.run_knobs(args, {'state_noise': 0.5}, human=True) == \
        '_state_noise0.5_noproprio_batch32_robot0.3_look0.5'
    assert bench.run_knobs(args, {}, human=False) == '_noproprio_batch32_look0.5'   # robot only


def test_a_cotrain_run_is_named_by_the_human_videos_it_trained_on(tmp_path, monkeypatch):
    """Robot-only reads back whatever --human-videos says; a latent model sees --latent-videos."""
    bench = cotrain_bench(monkeypatch)
    out_dirs = []
    monkeypatch.setattr(bench, 'train_policy', lambda name, overrides, windows, config: (
        out_dirs.append(Path(config.out_dir).name), config)[1])
    monkeypatch.setattr(bench, 'rollouts', lambda *a, **_: SimpleNamespace(
        tasks={'push': SimpleNamespace(successes=1, n=2)}, episodes=2))
    args = Namespace(image_size=32, no_proprio=True, decoded_look=False, policy_overrides={},
                     tasks='push', eval_episodes=2, narrow_episodes=0, out=str(tmp_path),
                     policy_steps=10, batch_size=8, robot_fraction=0.5, look_first=None,
                     robot_look='fixed', human_look='lab', avatar=False, robot_demos=1,
                     num_envs=1, train_seeds=[0], latent_steps=bench.LATENT_STEPS)
    for videos, human_rows in ((2000, []), (3000, []), (3000, [0])):
        monkeypatch.setattr(bench, 'PolicyWindows',
                            lambda *a, rows=human_rows: SimpleNamespace(human_rows=rows))
        bench.train_and_evaluate('row', 'robot', 'diffusion', [],
                                 Namespace(**vars(args), human_videos=videos))
    assert out_dirs == ['diffusion_row_push_K1_fixed_32px_s10_noproprio_batch8'] * 2 + [
        'diffusion_row_push_K1_H3000_fixed_humanlab_32px_s10_noproprio_batch8']
    human = [generate_episode('push', seed, 'human', 'ego', 32) for seed in range(3)]
    trained = {}
    monkeypatch.setattr(bench, 'train_latent_model', lambda name, config, episodes, train: (
        trained.update(out_dir=Path(train.out_dir).name, episodes=episodes)))
    bench.latent_labeller('como', [], human, Namespace(**vars(args), human_videos=3,
                                                       latent_videos=2))
    assert trained['out_dir'] == 'como_push_K1_H2_fixed_humanlab_32px_latent4500'
    assert trained['episodes'] == human[:2]   # the third, like a new recording, unseen
    assert bench.after_first_per_task(human, 2) == human[2:]   # what the decoder is checked on
def test_the_oracle_decoded_bound_keeps_only_the_decoded_columns_and_no_waypoints(monkeypatch):
    """A perfect decoder's rows: the hidden motion as actions, the other columns not real."""
    bench = cotrain_bench(monkeypatch)
    human = generate_episode('pick_place', 7, 'human', 'ego', 32)
    columns = [False, True, True, False, False, False, False]
    oracle, = bench.as_oracle_decoded([human], columns)
    np.testing.assert_array_equal(oracle.actions, human.hidden_motion)
    assert oracle.metadata['action_columns'] == columns and oracle.effector_positions is None
    robot = generate_episode('pick_place', 8, 'robot', 'ego', 32)
    windows = PolicyWindows([robot, oracle], WindowShape(image_size=32), False, True)
    assert not windows.waypoint_valid[windows.episode_of == 1].any()   # nothing to look at
    assert windows.waypoint_valid[windows.episode_of == 0].all()       # the robot's own
    # With the path and the grip real (--decoded-look), the summed path gives waypoints on
    # every frame, and without human actions they are all the human rows train.
    path_and_grip = [True, True, True, False, False, False, True]
    looking, = bench.as_oracle_decoded([human], path_and_grip)
    windows = PolicyWindows([robot, looking], WindowShape(image_size=32), False, False)
    assert windows.waypoint_valid[windows.episode_of == 1].all()
    assert windows.has_actions.tolist() == [True, False]   # no action head from the video
    assert np.isin(windows.human_rows, np.flatnonzero(windows.episode_of == 1)).all()
    assert len(windows.human_rows) == (windows.episode_of == 1).sum()


def test_decoded_look_keeps_decoded_rows_and_their_bound_off_the_action_head(monkeypatch):
    bench = cotrain_bench(monkeypatch)
    for source in ('como_decoded', 'clam_decoded', 'oracle_decoded'):
        assert bench.row_human_acts(source, decoded_look=False), source
        assert not bench.row_human_acts(source, decoded_look=True), source
    for source in ('oracle', 'como', 'look_targets'):
        assert bench.row_human_acts(source, decoded_look=True), source
    assert not bench.row_human_acts('oracle_look', decoded_look=False)


def test_oracle_event_points_are_where_the_hand_was_at_its_grasp_and_release(monkeypatch):
    """The bound of --decoded-hold look: a decoded path anchored where the hand truly was."""
    from lam_models.data.episode import LOOK_TARGETS, gripper_events
    bench = cotrain_bench(monkeypatch)
    human = generate_episode('pick_place', 7, 'human', 'ego', 32)
    events = gripper_events(human.hidden_motion)
    anchored, = bench.with_event_points([human], [], Namespace(decoded_hold='oracle'))
    np.testing.assert_allclose(anchored.metadata[LOOK_TARGETS],
                               human.effector_positions[events[:2]])
    assert bench.with_event_points([human], [], Namespace(decoded_hold='priors'))[0] is human


def scored_rows(bench, **successes):
    """One diffusion row per source, ``successes`` of 200 pick_place rollouts, in order."""
    return [bench.Row(source, source, 'diffusion', {'pick_place': (k, 200)}, 0.0)
            for source, k in successes.items()]


def test_continuous_rows_are_compared_with_the_discrete_row_of_their_own_kind(monkeypatch,
                                                                              capsys):
    bench = cotrain_bench(monkeypatch)
    rows = scored_rows(bench, robot=40, oracle=80, como=50, vq=30, como_decoded=70,
                       vq_decoded=40)
    bench.summary(rows)
    lines = [line for line in capsys.readouterr().out.splitlines() if 'discrete' in line]
    assert lines == [
        'diffusion: continuous vs discrete: como 25% [20, 31] vs vq 15% [11, 21] '
        '(intervals overlap)',
        'diffusion: continuous vs discrete: como_decoded 35% [29, 42] vs vq_decoded '
        '20% [15, 26] (intervals disjoint)']
    bench.summary(scored_rows(bench, robot=40, oracle=80, como_decoded=70, vq=30))
    assert 'discrete' not in capsys.readouterr().out   # a decoded row is no latent row's rival


def test_a_row_below_robot_only_beyond_noise_is_disjoint_and_closes_none_of_the_gap(
        monkeypatch, capsys):
    bench = cotrain_bench(monkeypatch)
    bench.summary(scored_rows(bench, robot=40, oracle=80, vq_decoded=15))
    assert '(-12.5 points, intervals disjoint); closes none of the gap' in capsys.readouterr().out


def test_the_gain_is_measured_against_robot_only_k_wherever_it_sits_or_not_at_all(
        monkeypatch, capsys):
    """A run of ``--bounds`` shares out its rows: the 5K row is no robot-only baseline."""
    bench = cotrain_bench(monkeypatch)
    bench.summary(scored_rows(bench, robot_5k=60, oracle=80, como_decoded=70, robot=40))
    out = capsys.readouterr().out
    assert 'robot-only 20% (+15.0 points' in out
    assert out.splitlines()[-1].startswith('co-training gain: +15.0 points (robot-only 20%')
    bench.summary(scored_rows(bench, robot_5k=60, como_decoded=70))
    assert capsys.readouterr().out.splitlines() == [
        'co-training gain: no robot-only row in this run (--bounds)']
    bench.summary(scored_rows(bench, robot=40, como_decoded=70))
    assert capsys.readouterr().out.splitlines()[-1].endswith('[como_decoded], no oracle row)')


def test_a_training_seed_meets_its_own_scenes_whichever_seeds_run_beside_it(tmp_path,
                                                                             monkeypatch):
    """``--train-seeds 1`` alone rolls out the scenes seed 1 meets in ``0,1``: runs can share."""
    bench = cotrain_bench(monkeypatch)
    scenes = {}
    monkeypatch.setattr(bench, 'PolicyWindows', lambda *a: SimpleNamespace(human_rows=[]))
    monkeypatch.setattr(bench, 'train_policy', lambda name, overrides, windows, config: config)
    monkeypatch.setattr(bench, 'rollouts', lambda trained, run_dir, name, tasks, seeds, **_: (
        scenes.setdefault((trained.seed, name), []).append(seeds),
        SimpleNamespace(tasks={'push': SimpleNamespace(successes=1, n=len(seeds))},
                        episodes=len(seeds)))[1])
    args = Namespace(image_size=32, no_proprio=True, decoded_look=False, policy_overrides={},
                     tasks='push', eval_episodes=10, narrow_episodes=2, out=str(tmp_path),
                     policy_steps=10, batch_size=8, robot_fraction=0.5, look_first=None,
                     robot_look='fixed', human_look='lab', avatar=False, robot_demos=1,
                     human_videos=1, num_envs=1)
    for seeds in ([0, 1], [1]):
        bench.train_and_evaluate('robot K=1', 'robot', 'diffusion', [],
                                 Namespace(**vars(args), train_seeds=seeds))
    assert scenes[(0, 'eval')] == [range(HELD_OUT_SEED_START, HELD_OUT_SEED_START + 10)]
    assert scenes[(1, 'eval')] == [range(HELD_OUT_SEED_START + 10, HELD_OUT_SEED_START + 20)] * 2
