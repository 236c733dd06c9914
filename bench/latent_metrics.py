# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Does a latent mean the same motion for the hand and the gripper? Train, probe, compare.

    MUJOCO_GL=egl PYTHONPATH=. .venv/bin/python bench/latent_metrics.py [--steps N] [--quick]

Data (simulated, no ROS; cached under <out>/cache): robot and human episodes filmed from
one camera (``--camera``, the policy view), seeds disjoint between the splits:
robot fit (probes fit here), robot held-out, human train (video only) and human eval;
``--robot-video N`` adds N robot episodes as unlabelled video.
Every latent model trains on robot fit + robot video + human train video; actions reach
only CLAM's decoder (its labelled share of the robot episodes, ``labelled_fraction``).
The pixel-difference baseline is PCA'd to each model's z_dim (equal capacity). The
supervised reference is CoMo's encoder and IDM trained on the robot fit labels, probed
like the latents: what the bench's own labels teach that architecture (not a target).

Scores (``lam_models.latent.metrics``): held-out robot translation/rotation MSE/Var and
gripper-change accuracy (ridge with episode-wise CV, and an MLP); human *within* (probe fit
and scored on disjoint human episodes) and *cross-embodiment* (probe fit on robot latents,
scored on the hand's hidden motion); centred S-PCFC over moving windows; reconstruction vs
the model's own no-motion reference. Translation numbers carry a 95% bootstrap interval
over evaluation episodes. Training speed is measured as in ``bench/latent_speed.py``.
The last line is ``latent targets met: N of M`` (issue 10's targets, each counted once).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
import hashlib
import json
from pathlib import Path
import runpy
import sys
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from tqdm import tqdm
from typing_extensions import override

from lam_models.data.dataset import read_episodes, write_dataset
from lam_models.data.pairs import FrameWindows
from lam_models.latent import LatentConfig
from lam_models.latent.como import CoMoConfig, CoMoModel
from lam_models.latent.figures import save_latent_figure
from lam_models.latent.metrics import (
    LatentReport,
    PixelDifferenceBaseline,
    Probe,
    ProbePredictions,
    ProbeScores,
    encode_windows,
    evaluate_latent_model,
    model_windows,
    window_targets,
)
from lam_models.latent.train import TrainConfig, train_latent_model
from lam_ros.sim import generate_episode

CONTINUOUS = ('como', 'stamo', 'clam')
# Today's (before issue 10) training samples/s at 64 px on these machines, from
# bench/latent_speed.py: the speed target is 3x these.
BASELINE_SAMPLES_PER_S = {'como': 82.0, 'clam': 82.0}
SEEDS = {'robot_fit': 0, 'robot_eval': 5_000, 'human_train': 10_000, 'human_eval': 20_000,
         'robot_video': 30_000}


@dataclass
class Run:
    """One trained model (or baseline) and its report."""

    label: str
    kind: str            # model name, or 'pixel_diff'
    report: LatentReport
    train_s: float = 0.0
    codes_used: int | None = None


def simulate(split: str, count: int, embodiment: str, args: argparse.Namespace) -> list:
    """``count`` episodes round-robin over tasks, cached by everything that shapes them."""
    key = json.dumps([split, count, embodiment, args.tasks, args.camera, args.render_size],
                     sort_keys=True)
    path = Path(args.out) / 'cache' / f'{hashlib.sha1(key.encode()).hexdigest()[:12]}.h5'
    if path.is_file():
        return read_episodes(path)
    tasks = args.tasks.split(',')
    episodes = [generate_episode(tasks[i % len(tasks)], SEEDS[split] + i, embodiment,
                                 args.camera, args.render_size)
                for i in tqdm(range(count), desc=f'simulate {split}')]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_dataset(episodes, path)
    return episodes


class SupervisedIDM(CoMoModel):
    """Not a latent model: CoMo's encoder and IDM (z 32) trained on the robot fit labels.

    What the bench's own labels teach this architecture, probed like the latents: a latent
    that scores like it carries as much motion as those labels could put there.
    """

    @override
    def predict_window(self, window: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError('no decoder')


def train_supervised_idm(robot_fit: list, args: argparse.Namespace) -> SupervisedIDM:
    """Trained as encoder -> z -> linear head -> standardized motion over the gap (MSE)."""
    torch.manual_seed(0)
    model = SupervisedIDM(CoMoConfig(image_size=args.render_size, frame_gap=args.frame_gap,
                                     z_dim=32, contrastive_weight=0.0))
    windows = FrameWindows.for_model(model.config, robot_fit)
    model.set_normalization(windows.normalization_stats())
    motion = window_targets(robot_fit, args.frame_gap).motion
    motion = torch.from_numpy((motion - motion.mean(0)) / (motion.std(0) + 1e-8)).float()
    head = nn.Linear(model.config.z_dim, motion.shape[1])
    optimizer = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=1e-3,
                                  weight_decay=1e-4)
    rng = np.random.default_rng(0)
    model.train()
    for _ in tqdm(range(args.steps), desc='train supervised IDM', leave=False):
        rows = rng.integers(0, len(windows), args.batch_size)
        loss = F.mse_loss(head(model.encode_window(windows.batch(rows)['window'])),
                          motion[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


def translation_intervals(model, robot_fit: list, evaluations: dict[str, list],
                          rng: np.random.Generator, samples: int) -> dict[str, tuple]:
    """Ridge translation score and its 95% interval when evaluation episodes are resampled.

    The probe is fit once on ``robot_fit``; only the scored episodes are resampled.
    """
    gap = model.config.frame_gap
    probe = Probe('ridge', encode_windows(model, model_windows(model, robot_fit)),
                  window_targets(robot_fit, gap))
    intervals = {}
    for name, episodes in evaluations.items():
        targets = window_targets(episodes, gap)
        predicted = probe.predict(encode_windows(model, model_windows(model, episodes)))
        rows_of = [np.flatnonzero(targets.groups == g) for g in np.unique(targets.groups)]
        values = []
        for _ in range(samples):
            rows = np.concatenate([rows_of[i] for i in rng.integers(0, len(rows_of),
                                                                     len(rows_of))])
            values.append(ProbeScores.of(
                ProbePredictions(predicted.motion[rows], predicted.gripper[rows]),
                targets.subset(rows)).translation)
        score = ProbeScores.of(predicted, targets).translation
        intervals[name] = (score, *np.nanpercentile(values, [2.5, 97.5]))
    return intervals


def training_speed(names: list[str], image_size: int) -> dict[str, tuple[float, float, float]]:
    """(samples/s, GFLOP/sample, share of matmul GFLOP/s) per model, from latent_speed."""
    speed = runpy.run_path(str(Path(__file__).with_name('latent_speed.py')))
    args = argparse.Namespace(image_size=image_size, width=LatentConfig.width, batch_size=32,
                              repeats=5)
    limit = speed['matmul_gflops']('cpu')
    result = {}
    for name in names:
        measured = speed['measure_model'](name, 'cpu', args)
        achieved = measured.train_rate * measured.gflop_per_sample
        result[name] = (measured.train_rate, measured.gflop_per_sample, achieved / limit)
    return result


def print_table(runs: list[Run]) -> None:
    """Metrics as rows, models as columns: every field of the report, nothing left out."""
    columns = LatentReport.columns()
    width = max(16, *(len(r.label) + 2 for r in runs))
    name_width = max(len(c.header) for c in columns) + 2
    print(f'{"metric":<{name_width}}' + ''.join(f'{r.label:>{width}}' for r in runs))
    for column in columns:
        cells = ''.join(f'{column.fmt.format(r.report.value(column.key)):>{width}}'
                        for r in runs)
        print(f'{column.header:<{name_width}}{cells}')
    print(f'{"train s":<{name_width}}' + ''.join(f'{r.train_s:>{width}.0f}' for r in runs))
    print(f'{"VQ codes used":<{name_width}}' + ''.join(
        f'{"-" if r.codes_used is None else r.codes_used:>{width}}' for r in runs))
    for column in columns:
        print(f'  {column.header}: {column.doc}')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tasks', default='push,pick_place,stack')
    parser.add_argument('--camera', default='ego', help='one view for both embodiments')
    parser.add_argument('--render-size', type=int, default=LatentConfig.image_size)
    parser.add_argument('--robot-fit', type=int, default=48)
    parser.add_argument('--robot-eval', type=int, default=24)
    parser.add_argument('--robot-video', type=int, default=0,
                        help='more robot episodes, unlabelled video for the latent models only')
    parser.add_argument('--human-train', type=int, default=48)
    parser.add_argument('--human-eval', type=int, default=24)
    parser.add_argument('--steps', type=int, default=2500)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--como-z-dims', default='8,32,128')
    parser.add_argument('--frame-gap', type=int, default=LatentConfig.frame_gap,
                        help='n in (o_t, o_t+n) for every model and probe')
    parser.add_argument('--models', default='como,stamo,clam,vq')
    parser.add_argument('--supervised-reference', action=argparse.BooleanOptionalAction,
                        default=True, help="CoMo's encoder + IDM trained on the robot fit "
                        'labels: what those labels teach, beside the latents')
    parser.add_argument('--bootstrap', type=int, default=200)
    parser.add_argument('--quick', action='store_true', help='tiny run to check the plumbing')
    parser.add_argument('--out', default='runs/latent_bench')
    args = parser.parse_args()
    if args.quick:
        args.robot_fit = args.robot_eval = args.human_train = args.human_eval = 6
        args.steps, args.como_z_dims, args.bootstrap = 30, '8', 20
    out = Path(args.out)
    started = time.perf_counter()

    robot_fit = simulate('robot_fit', args.robot_fit, 'robot', args)
    robot_eval = simulate('robot_eval', args.robot_eval, 'robot', args)
    robot_video = simulate('robot_video', args.robot_video, 'robot', args) \
        if args.robot_video else []
    human_train = simulate('human_train', args.human_train, 'human', args)
    human_eval = simulate('human_eval', args.human_eval, 'human', args)
    print(f'{args.camera} view, {args.render_size}px: {len(robot_fit)} robot fit / '
          f'{len(robot_eval)} held-out, {len(robot_video)} more robot video, '
          f'{len(human_train)} human train / {len(human_eval)} eval episodes; latent models '
          f'train on robot fit + robot video + human train video')

    plan = [(f'como z{z}', 'como', {'z_dim': int(z)}) for z in args.como_z_dims.split(',')
            if 'como' in args.models.split(',')]
    plan += [(name, name, {}) for name in args.models.split(',') if name != 'como']
    runs: list[Run] = []
    models = {}
    for label, name, overrides in tqdm(plan, desc='train latent models'):
        clock = time.perf_counter()
        config = TrainConfig(out_dir=str(out / label.replace(' ', '_')), steps=args.steps,
                             batch_size=args.batch_size, resume=False, figure=False,
                             progress=False)
        model = train_latent_model(name, {'image_size': args.render_size,
                                          'frame_gap': args.frame_gap, **overrides},
                                   robot_fit + robot_video + human_train, config)
        seconds = time.perf_counter() - clock
        report = evaluate_latent_model(model, robot_fit, robot_eval, human_eval)
        codes = model.codes_used() if hasattr(model, 'codes_used') else None
        runs.append(Run(label, name, report, seconds, codes))
        models[label] = model
        save_latent_figure(model, robot_eval, out / f'{label.replace(" ", "_")}.png',
                           human_episodes=human_eval, title=label)
    if args.supervised_reference:
        clock = time.perf_counter()
        model = train_supervised_idm(robot_fit, args)
        runs.append(Run('supervised z32', 'supervised',
                        evaluate_latent_model(model, robot_fit, robot_eval, human_eval),
                        time.perf_counter() - clock))
        models[runs[-1].label] = model
    for z_dim in sorted({r.report.z_dim for r in runs}):
        baseline = PixelDifferenceBaseline(image_size=args.render_size, z_dim=z_dim,
                                           frame_gap=args.frame_gap)
        runs.append(Run(f'pixdiff z{z_dim}', 'pixel_diff',
                        evaluate_latent_model(baseline, robot_fit, robot_eval, human_eval)))
        models[runs[-1].label] = baseline      # its PCA is fitted now

    print_table(runs)
    rng = np.random.default_rng(0)
    print('\ntranslation MSE/Var (ridge, probe fit on robot) with 95% bootstrap intervals '
          'over evaluation episodes:')
    for run in runs:
        scores = translation_intervals(models[run.label], robot_fit,
                                       {'robot held-out': robot_eval, 'human cross': human_eval},
                                       rng, args.bootstrap)
        print(f'  {run.label:<15}' + '   '.join(
            f'{name} {score:.3f} [{low:.3f}, {high:.3f}]'
            for name, (score, low, high) in scores.items()))

    speeds = training_speed(sorted(BASELINE_SAMPLES_PER_S), args.render_size)
    print('\ntraining speed (64 px, batch 32, bench/latent_speed.py):')
    for name, (rate, gflop, share) in speeds.items():
        print(f'  {name}: {rate:.0f} samples/s ({rate / BASELINE_SAMPLES_PER_S[name]:.1f}x '
              f'the {BASELINE_SAMPLES_PER_S[name]:.0f} before), {gflop:.3f} GFLOP/sample, '
              f'{share:.0%} of measured matmul GFLOP/s')

    met = targets(runs, speeds)
    print(f'\nfigures: {out}/<model>.png; {time.perf_counter() - started:.0f} s in all')
    for name, ok, detail in met:
        print(f'  [{"x" if ok else " "}] {name}: {detail}')
    print(f'latent targets met: {sum(ok for _, ok, _ in met)} of {len(met)}')
    return 0


def targets(runs: list[Run], speeds: dict) -> list[tuple[str, bool, str]]:
    """Issue 10's acceptance, each target once, with the numbers that decide it."""
    def pixdiff(z_dim: int) -> LatentReport:
        return next(r.report for r in runs if r.kind == 'pixel_diff' and r.report.z_dim == z_dim)

    learned = [r for r in runs if r.kind in CONTINUOUS]
    vq = next((r.report for r in runs if r.kind == 'vq'), None)
    if not learned:
        return [('a continuous model was trained', False, 'none in --models')]
    best = min(learned, key=lambda r: r.report.robot_ridge.translation)
    best_cross = min(learned, key=lambda r: r.report.human_cross_ridge.translation)
    best_within = min(learned, key=lambda r: r.report.human_within_ridge.translation)

    def beats(run: Run) -> bool:
        own = run.report.robot_ridge.translation
        rivals = [pixdiff(run.report.z_dim).robot_ridge.translation]
        rivals += [vq.robot_ridge.translation] if vq is not None else []
        return all(own <= 0.75 * rival for rival in rivals)

    cross = best_cross.report.human_cross_ridge.translation
    cross_pix = pixdiff(best_cross.report.z_dim).human_cross_ridge.translation
    return [
        ('every continuous model >= 25% better than VQ and equal-dim pixel-diff (robot '
         'translation)', all(beats(r) for r in learned),
         ', '.join(f'{r.label} {r.report.robot_ridge.translation:.3f} vs pixdiff '
                   f'{pixdiff(r.report.z_dim).robot_ridge.translation:.3f}' for r in learned)
         + (f', vq {vq.robot_ridge.translation:.3f}' if vq else '')),
        ('best robot translation <= 0.25', best.report.robot_ridge.translation <= 0.25,
         f'{best.label} {best.report.robot_ridge.translation:.3f}'),
        ('best cross-embodiment translation <= 0.5 and better than equal-dim pixel-diff',
         cross <= 0.5 and cross < cross_pix,
         f'{best_cross.label} {cross:.3f} vs pixdiff {cross_pix:.3f}'),
        ('best within-human translation <= 0.35',
         best_within.report.human_within_ridge.translation <= 0.35,
         f'{best_within.label} {best_within.report.human_within_ridge.translation:.3f}'),
        ('centred S-PCFC <= 0.3 for every continuous model',
         all(r.report.s_pcfc <= 0.3 for r in learned),
         ', '.join(f'{r.label} {r.report.s_pcfc:.3f}' for r in learned)),
        ('training >= 3x the samples/s before for CoMo and CLAM',
         all(speeds[n][0] >= 3 * BASELINE_SAMPLES_PER_S[n] for n in speeds),
         ', '.join(f'{n} {speeds[n][0] / BASELINE_SAMPLES_PER_S[n]:.1f}x' for n in speeds)),
    ]


if __name__ == '__main__':
    sys.exit(main())
