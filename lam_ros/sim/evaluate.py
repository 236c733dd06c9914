# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Closed-loop success of a policy in the simulated world (no ROS): ``lam-ros eval``.

A policy is anything with ``config`` (``image_size``, ``obs_horizon``, ``action_exec``) and
``predict_chunk(images uint8 (B,To,H,W,3), state float32 (B,To,S), state_valid bool (B,))
-> (B, action_horizon, A)`` actions in env units (``lam_models.policies.Policy``).
Each episode runs with a receding horizon, as the deploy controller does: the last
``obs_horizon`` observations (the first one repeated at reset) go in, the first
``action_exec`` actions of the chunk are executed, then the policy plans again.
Observations are what the training data holds: the ``ego`` camera of a randomized scene
(``randomize=True``, like ``generate_episode``; False: the scene's one fixed look, for a
policy whose robot demos were recorded in it) and ``sim.joint_positions()``.

Seeds are the caller's; the default range starts at ``HELD_OUT_SEED_START`` (100_000,
``lam_ros.interfaces.seeds``), far from the seeds that make training data.
"""
from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
import inspect
import json
import math
from pathlib import Path
import time
from typing import Any, Sequence
import warnings

import numpy as np
import torch
from tqdm import tqdm

from lam_models.data.episode import RATE_TOLERANCE
from lam_models.data.images import resize_frames
from lam_ros.control.kinematics import GRIPPER_OPEN_ABOVE
from lam_ros.control.policy_control import policy_action_mode
from lam_ros.interfaces.seeds import HELD_OUT_SEED_START
from lam_ros.sim.actions import ActionOutOfRange
from lam_ros.sim.env import WidowXEnv

DEFAULT_TASKS = ('push', 'pick_place')
Z_95 = 1.959963984540054   # two-sided 95% normal quantile
REPORT_FORMAT = 'lam_ros.eval/1'


class NonFiniteAction(RuntimeWarning):
    """The policy returned NaN/inf; the episode ended as a failure without executing it."""


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a success rate (stays inside [0, 1], sane at 0/N and N/N)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)   # exact at the ends, no
    high = 1.0 if successes == n else min(1.0, centre + half)  # rounding past the rate
    return low, high


@dataclass
class EpisodeRecord:
    """How one evaluation episode went."""

    task: str
    seed: int
    success: bool = False
    steps: int = 0            # env steps executed
    end: str = 'running'      # 'success' | 'timeout' | 'non_finite'
    clipped: int = 0          # actions the env clipped to its bounds
    seconds: float = 0.0
    video: str | None = None
    # Grasping tasks: how far (xy, cm) the gripper was from the moved object when the policy
    # first commanded it closed (gripper command <= GRIPPER_OPEN_ABOVE, as the arm node reads
    # it; the sim's fingers follow the command continuously, so a hesitant 0.45 counts); None
    # if it never did. A few cm: it did not find the object; under 1 cm: it found it, and the
    # grasp or what followed failed.
    close_error_cm: float | None = None


@dataclass
class TaskResult:
    """All episodes of one task."""

    task: str
    episodes: list[EpisodeRecord] = field(default_factory=list)

    @property
    def successes(self) -> int:
        """Episodes that succeeded."""
        return sum(e.success for e in self.episodes)

    @property
    def n(self) -> int:
        """Episodes run."""
        return len(self.episodes)

    @property
    def rate(self) -> float:
        """Success rate (NaN with no episodes)."""
        return self.successes / self.n if self.n else float('nan')

    @property
    def interval(self) -> tuple[float, float]:
        """Wilson 95% interval of the success rate."""
        return wilson_interval(self.successes, self.n)

    @property
    def mean_steps(self) -> float:
        """Mean episode length in env steps."""
        return float(np.mean([e.steps for e in self.episodes])) if self.episodes else float('nan')

    @property
    def median_close_error_cm(self) -> float | None:
        """Median ``close_error_cm`` of the episodes that closed the gripper (None: none did)."""
        errors = [e.close_error_cm for e in self.episodes if e.close_error_cm is not None]
        return float(np.median(errors)) if errors else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: counts, rate, interval and every episode's record."""
        low, high = self.interval
        return {'successes': self.successes, 'episodes': self.n, 'rate': self.rate,
                'ci95': [low, high], 'mean_steps': self.mean_steps,
                'median_close_error_cm': self.median_close_error_cm,
                'non_finite': sum(e.end == 'non_finite' for e in self.episodes),
                'records': [asdict(e) for e in self.episodes]}


def _cm(value: float | None) -> str:
    """A table cell: one decimal, or '-' where there is no value (push never grasps)."""
    return '-' if value is None else f'{value:.1f}'


@dataclass
class EvalReport:
    """Per-task results plus the settings they were measured with."""

    tasks: dict[str, TaskResult]
    settings: dict[str, Any]
    seconds: float = 0.0

    @property
    def episodes(self) -> int:
        """Episodes over all tasks."""
        return sum(r.n for r in self.tasks.values())

    def table(self) -> str:
        """Task, success k/N, rate, 95% interval, mean steps, median close error (cm)."""
        rows = [f'{"task":<12}{"success":>10}{"rate":>7}{"95% CI":>15}{"steps":>7}'
                f'{"close cm":>10}']
        for name, result in self.tasks.items():
            low, high = result.interval
            rows.append(f'{name:<12}{f"{result.successes}/{result.n}":>10}{result.rate:>7.0%}'
                        f'{f"[{low:.0%}, {high:.0%}]":>15}{result.mean_steps:>7.1f}'
                        f'{_cm(result.median_close_error_cm):>10}')
        return '\n'.join(rows)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report."""
        return {'format': REPORT_FORMAT, 'settings': self.settings, 'seconds': self.seconds,
                'seconds_per_episode': self.seconds / max(self.episodes, 1),
                'tasks': {name: r.to_dict() for name, r in self.tasks.items()}}

    @classmethod
    def read(cls, path: str | Path) -> EvalReport:
        """A ``report.json`` that ``write`` wrote, every episode's record included."""
        try:
            data = json.loads(Path(path).read_text())
            if data.get('format') != REPORT_FORMAT:
                raise ValueError(f"format {data.get('format')!r}, not {REPORT_FORMAT!r}")
            tasks = {name: TaskResult(name, [EpisodeRecord(**record)
                                             for record in result['records']])
                     for name, result in data['tasks'].items()}
            return cls(tasks, data['settings'], float(data['seconds']))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f'{path}: not an evaluation report ({error})') from None

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """``report.json`` and ``success.png`` (rate per task with its interval) in out_dir."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {'json': out / 'report.json', 'png': out / 'success.png'}
        paths['json'].write_text(json.dumps(self.to_dict(), indent=1) + '\n')
        plot_success(self, paths['png'])
        return paths


def plot_success(report: EvalReport, path: str | Path) -> None:
    """Bar chart of success per task, Wilson 95% intervals as error bars, k/N under each."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib.figure import Figure

    names = list(report.tasks)
    results = [report.tasks[n] for n in names]
    rates = np.array([r.rate for r in results])
    intervals = np.array([r.interval for r in results]).reshape(-1, 2)
    figure = Figure(figsize=(1.6 + 1.3 * len(names), 3.6), layout='constrained')
    axes = figure.add_subplot()
    x = np.arange(len(names))
    axes.bar(x, rates, color='tab:blue', alpha=0.8)
    errors = np.clip([rates - intervals[:, 0], intervals[:, 1] - rates], 0.0, None)
    axes.errorbar(x, rates, yerr=errors,
                  fmt='none', ecolor='black', capsize=6)
    axes.set_xticks(x, [f'{name}\n{r.successes}/{r.n}' for name, r in zip(names, results)])
    axes.set_ylim(0, 1.05)
    axes.set_ylabel('success rate (95% Wilson CI)')
    axes.set_title(' '.join(str(report.settings[key]) for key in ('policy', 'checkpoint')
                            if key in report.settings), fontsize=8)
    figure.savefig(path, dpi=120)


def write_video(frames: Sequence[np.ndarray], path: str | Path, fps: float,
                min_size: int = 256) -> None:
    """H.264 mp4 of RGB frames, enlarged (nearest pixel) to at least ``min_size`` px."""
    import av

    scale = max(1, math.ceil(min_size / max(frames[0].shape[:2])))
    with av.open(str(path), 'w') as container:
        stream = container.add_stream('libx264', rate=round(fps))
        stream.height, stream.width = (d * scale for d in frames[0].shape[:2])
        stream.pix_fmt = 'yuv420p'
        for frame in frames:
            big = frame.repeat(scale, 0).repeat(scale, 1)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(big, format='rgb24')))
        container.mux(stream.encode())


class _Rollout:
    """One episode in progress: its env, observation history and record."""

    def __init__(self, env: WidowXEnv, task: str, seed: int, obs_horizon: int,
                 image_size: int, keep_frames: bool) -> None:
        self.env, self.image_size = env, image_size
        self.record = EpisodeRecord(task, seed)
        self.started = time.perf_counter()
        obs, info = env.reset(seed=seed)
        image, state = self._observation(obs)
        self.images = deque([image] * obs_horizon, maxlen=obs_horizon)
        self.states = deque([state] * obs_horizon, maxlen=obs_horizon)
        self.frames = [image] if keep_frames else None
        if info['success']:
            self._end('success')

    @property
    def done(self) -> bool:
        return self.record.end != 'running'

    def _observation(self, obs: dict) -> tuple[np.ndarray, np.ndarray]:
        image = resize_frames(obs['image'][None], self.image_size)[0]
        return image, self.env.sim.joint_positions().astype(np.float32)

    def _close_error_cm(self) -> float:
        """The gripper's xy distance (cm) from the moved object, now."""
        gripper = self.env.effector_state()[:2]
        target = self.env.sim.object_position(self.env.task.moved_object)[:2]
        return round(float(np.linalg.norm(gripper - target)) * 100, 2)

    def _end(self, how: str) -> None:
        self.record.end, self.record.success = how, how == 'success'
        self.record.seconds = time.perf_counter() - self.started

    def execute(self, actions: np.ndarray) -> None:
        """Step the env with each action in turn, until the episode ends."""
        if not np.all(np.isfinite(actions)):
            record = self.record
            warnings.warn(f'{record.task} seed {record.seed}: the policy returned a non-finite '
                          f'action after {record.steps} steps; episode ended as a failure',
                          NonFiniteAction, stacklevel=3)
            self._end('non_finite')
            return
        for action in actions:
            closes = action[6] <= GRIPPER_OPEN_ABOVE
            if self.record.close_error_cm is None and self.env.task.grasps and closes:
                self.record.close_error_cm = self._close_error_cm()
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', ActionOutOfRange)   # counted instead
                obs, _, terminated, truncated, info = self.env.step(action)
            self.record.steps += 1
            self.record.clipped += not np.array_equal(info['executed_action'], action)
            image, state = self._observation(obs)
            self.images.append(image)
            self.states.append(state)
            if self.frames is not None:
                self.frames.append(image)
            if terminated or truncated:
                self._end('success' if info['success'] else 'timeout')
                return


def _policy_device(policy) -> torch.device:
    parameters = getattr(policy, 'parameters', None)
    first = next(iter(parameters()), None) if callable(parameters) else None
    return first.device if first is not None else torch.device('cpu')


def _predict(policy, rollouts: list[_Rollout], device: torch.device,
             generator: torch.Generator | None) -> np.ndarray:
    """One batched ``predict_chunk`` call over the rollouts' observation histories."""
    images = torch.from_numpy(np.stack([np.stack(r.images) for r in rollouts])).to(device)
    state = torch.from_numpy(np.stack([np.stack(r.states) for r in rollouts])).to(device)
    valid = torch.ones(len(rollouts), dtype=torch.bool, device=device)
    seeded = {} if generator is None else {'generator': generator}
    with torch.inference_mode():
        chunk = policy.predict_chunk(images, state, valid, **seeded)
    return torch.as_tensor(chunk).float().cpu().numpy()


def _takes_generator(policy) -> bool:
    """Whether ``predict_chunk`` takes a ``generator`` (a sampling policy's noise)."""
    return 'generator' in inspect.signature(policy.predict_chunk).parameters


def evaluate_policy(policy, tasks: Sequence[str] = DEFAULT_TASKS,
                    seeds: Sequence[int] = range(HELD_OUT_SEED_START, HELD_OUT_SEED_START + 50),
                    camera: str = 'ego', image_size: int | None = None,
                    action_mode: str | None = None, max_steps: int | None = None,
                    video_dir: str | Path | None = None, videos_per_task: int = 2,
                    progress: bool = True, num_envs: int = 1, render_size: int | None = None,
                    control_dt: float = 0.1, robot_model: str = 'wx250s',
                    spawn_region: str = 'full', randomize: bool = True,
                    avatar: bool | None = None) -> EvalReport:
    """Run ``policy`` closed loop on every (task, seed) and count successes.

    ``image_size`` defaults to ``policy.config.image_size``; frames are rendered at
    ``render_size`` (default: the training data's native frame size recorded in the policy
    config, ``source_frame_size``, else image_size) and resized with ``resize_frames`` like the
    training loader does, so set it to the dataset's native frame size when they differ.
    ``action_mode`` defaults to the policy's (see :func:`policy_action_mode`);
    ``max_steps`` to the task's budget; ``control_dt`` must be the data's frame period.
    ``num_envs`` episodes run side by side with one batched ``predict_chunk`` call.
    ``spawn_region`` 'narrow' keeps the moved object where few-demo training data put it
    (in-distribution check); the default 'full' is the whole workspace. ``randomize`` draws
    each episode's look from its seed as training data does; False keeps the scene's default
    look (one lab, one robot: match the robot demos'). ``avatar`` films the arm as the
    avatar (``WidowXEnv``); None: as the policy's frames were (``config.avatar``).
    The first ``videos_per_task`` episodes of each task are written to ``video_dir``.
    A non-finite action ends its episode as a failure (:class:`NonFiniteAction` warning).
    A ``predict_chunk`` taking ``generator`` gets one seeded from the episodes' seeds, so the
    same policy, seeds and ``num_envs`` give the same report.
    """
    config = policy.config
    image_size = int(image_size or config.image_size)
    render_size = int(render_size or getattr(policy.config, 'source_frame_size', 0)
                      or image_size)
    if num_envs < 1 or not len(seeds):
        raise ValueError(f'evaluate_policy needs num_envs >= 1 and at least one seed, got '
                         f'num_envs={num_envs} and {len(seeds)} seeds')
    learned_hz = float(getattr(config, 'control_rate_hz', 0.0))
    if learned_hz and abs(learned_hz * control_dt - 1.0) > RATE_TOLERANCE:
        raise ValueError(f'the policy learned from data at {learned_hz:g} Hz, one action per '
                         f'row; these rollouts step every {control_dt:g} s')
    obs_horizon, action_exec = int(config.obs_horizon), int(config.action_exec)
    action_mode = action_mode or policy_action_mode(policy)
    avatar = bool(getattr(config, 'avatar', False)) if avatar is None else avatar
    device = _policy_device(policy)
    was_training = getattr(policy, 'training', False)
    if hasattr(policy, 'eval'):
        policy.eval()
    if video_dir is not None:
        Path(video_dir).mkdir(parents=True, exist_ok=True)
    settings = {'policy': getattr(policy, 'name', type(policy).__name__), 'camera': camera,
                'image_size': image_size, 'render_size': render_size,
                'obs_horizon': obs_horizon, 'action_exec': action_exec,
                'action_mode': action_mode, 'max_steps': max_steps, 'control_dt': control_dt,
                'robot_model': robot_model, 'seeds': [int(s) for s in seeds],
                'randomize': bool(randomize), 'spawn_region': spawn_region, 'num_envs': num_envs,
                'avatar': bool(avatar),
                'device': str(device)}
    results, started = {}, time.perf_counter()
    try:
        for task in tasks:
            envs = [WidowXEnv(task, robot_model, 'robot', action_mode, camera, render_size,
                              control_dt, max_steps, randomize=randomize,
                              spawn_region=spawn_region, avatar=avatar)
                    for _ in range(min(num_envs, len(seeds)))]
            results[task] = _evaluate_task(policy, envs, task, list(seeds), device,
                                           obs_horizon, action_exec, image_size, video_dir,
                                           videos_per_task, progress)
    finally:
        if was_training:
            policy.train()
    return EvalReport(results, settings, time.perf_counter() - started)


def _evaluate_task(policy, envs: list[WidowXEnv], task: str, seeds: list[int],
                   device: torch.device, obs_horizon: int, action_exec: int, image_size: int,
                   video_dir, videos_per_task: int, progress: bool) -> TaskResult:
    """All seeds of one task, ``len(envs)`` episodes at a time; closes the envs."""
    result = TaskResult(task)
    action_dim = envs[0].action_space.shape[0]
    state_dim = len(envs[0].sim.joint_positions())
    seeded = _takes_generator(policy)
    if getattr(policy.config, 'state_dim', state_dim) not in (0, state_dim):
        raise ValueError(f'the policy takes a {policy.config.state_dim}-D state; the '
                         f'{envs[0].sim.spec.name} has {state_dim} joint positions')
    bar = tqdm(total=len(seeds), desc=f'eval {task}', leave=False, disable=not progress)
    try:
        for first in range(0, len(seeds), len(envs)):
            batch = seeds[first:first + len(envs)]
            rollouts = [_Rollout(env, task, seed, obs_horizon, image_size,
                                 keep_frames=video_dir is not None
                                 and first + i < videos_per_task)
                        for i, (env, seed) in enumerate(zip(envs, batch))]
            # a sampling policy's noise is seeded by the episodes, so a rerun repeats them
            generator = torch.Generator(device).manual_seed(batch[0]) if seeded else None
            while active := [r for r in rollouts if not r.done]:
                chunks = _predict(policy, active, device, generator)
                if chunks.ndim != 3 or chunks.shape[0] != len(active) \
                        or chunks.shape[1] < action_exec or chunks.shape[2] != action_dim:
                    raise ValueError(
                        f'predict_chunk returned shape {tuple(chunks.shape)}; expected '
                        f'({len(active)}, >= action_exec {action_exec}, {action_dim})')
                for rollout, chunk in zip(active, chunks):
                    rollout.execute(chunk[:action_exec])
            for rollout in rollouts:
                record = rollout.record
                if rollout.frames is not None:
                    path = Path(video_dir) / (f'{task}_seed{record.seed}_'
                                              f'{"success" if record.success else "fail"}.mp4')
                    write_video(rollout.frames, path, fps=1.0 / rollout.env.control_dt)
                    record.video = str(path)
                result.episodes.append(record)
            bar.update(len(batch))
            bar.set_postfix(success=f'{result.successes}/{result.n}')
    finally:
        bar.close()
        for env in envs:
            env.close()
    return result


def load_policy_checkpoint(path: str | Path):
    """A policy from its checkpoint via ``lam_models.policies.load_policy``.

    Raises ValueError, one line naming the file, when it is missing or not a policy.
    """
    if not Path(path).exists() and not Path(path).with_suffix('.safetensors').exists():
        raise ValueError(f'{path}: no such checkpoint')
    try:
        from lam_models.policies import load_policy
    except ImportError as error:
        raise ValueError(f'{path}: cannot load a policy, lam_models.policies is not '
                         f'available ({error})') from None
    try:
        policy = load_policy(path)
    except Exception as error:  # noqa: BLE001 - any loader failure: one line naming the file
        message = str(error)
        raise ValueError(message if str(path) in message else f'{path}: {message}') from None
    if not callable(getattr(policy, 'predict_chunk', None)):
        raise ValueError(f'{path}: not a policy checkpoint ({type(policy).__name__})')
    return policy


def run_eval(checkpoint: str, tasks: Sequence[str] | None = None, episodes: int = 50,
             seed_start: int | None = None, out: str | Path | None = None,
             **options: Any) -> EvalReport:
    """``lam-ros eval``: evaluate a checkpoint, print the table and where the artefacts are.

    None picks the defaults: ``DEFAULT_TASKS``, ``HELD_OUT_SEED_START``, ``runs/eval/<stem>``.
    """
    tasks = tasks or DEFAULT_TASKS
    seed_start = HELD_OUT_SEED_START if seed_start is None else seed_start
    policy = load_policy_checkpoint(checkpoint)
    out = Path(out or Path('runs') / 'eval' / Path(checkpoint).stem)
    seeds = range(seed_start, seed_start + episodes)
    report = evaluate_policy(policy, tasks, seeds, video_dir=out / 'videos', **options)
    report.settings['checkpoint'] = str(checkpoint)
    paths = report.write(out)
    print(f'{report.settings["policy"]} from {checkpoint}: {episodes} episode(s) per task, '
          f'seeds {seed_start}..{seed_start + episodes - 1}, '
          f'{report.seconds / max(report.episodes, 1):.2f} s/episode')
    print(report.table())
    videos = sorted(p.name for p in (out / 'videos').glob('*.mp4'))
    print(f'report: {paths["json"]}\nchart:  {paths["png"]}\n'
          f'videos: {out / "videos"} ({len(videos)} files)')
    return report
