# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Do human videos with pseudo-actions make the robot's policy better? One table.

    MUJOCO_GL=egl PYTHONPATH=. .venv/bin/python bench/cotrain.py [--quick | --full]

The default run is the headline comparison of the README, every flag at the value its
table was measured with (the avatar, images alone, H = 2000, the decoded rows held to
their look targets, 7500 policy steps of which 60% look first, latent models of 4500
steps). It is long: from nothing, ~10 min of simulation, ~1.5 h for the four latent
models, then ~35 min per policy on one core, 8 rows: ~6 h in one process, about half in two
sharing the rows out (below), far over the issue's 90 min. ``--quick`` checks the plumbing
in minutes.

The realistic regime, on the simulated WidowX filmed from the ``ego`` camera: K robot demos
per task whose moved object starts in a *narrow* region (``spawn_region='narrow'``),
H >= 10 K human videos per task over the *whole* workspace, and evaluation over the whole
workspace on held-out seeds. The robot demos and the evaluation share the scene's one fixed
look (one lab, one robot: ``--robot-look fixed``, the default). The human videos are filmed in that
lab by the robot's own camera, each with its own person (sleeve and skin colours:
``--human-look lab``, the default), or each with its own room, lights and head motion
(``--human-look randomized``: many people, rooms and head cameras). With a randomized robot
look and tens of demos a policy learns each demo's look instead of where the block is (the
session-5 note in issue 12): ``--robot-look randomized`` measures that regime. The default
task is pick_place alone, with K = 100: robot-only then succeeds ~20% of the time over the
whole workspace (the issue's 20-60% regime), and push's look target (its whole path: push
never closes the gripper) still breaks a two-task policy's look stage (the session-9 note).
Even in one look, behaviour cloning from tens of demos does not teach the encoder to find
the block: the first frame, before the arm moves, is the only one that must show where it is
(later ones show the arm heading there), and supervised on first frames the same encoder
needs hundreds of scenes to find it (``bench/policy_vision.py``; the session-7 note). So
every policy first looks: the trainer's look-first stage (``lam_models.policies.train``)
teaches the encoder, on first frames, where the effector will grasp and release (the demos'
own actions say it, and so do the oracle's human videos), and a pseudo-labelled human
video's first frames teach it the hand's coming pseudo-actions. Many human videos are many
scenes.
Rows (one policy each, same budget); what each measured, session by session, is in
``bench/cotrain.md`` (the README keeps the current table):

* robot-only K, and robot-only 5 K (what more robot data would buy);
* robot K + human H labelled by each latent model (CoMo, StaMo, CLAM, VQ) and by the
  pixel-difference baseline: the co-trained policy's latent head learns the human's
  pseudo-actions, its action head the robot's actions (``lam_models.policies.train``);
* robot K + human H with the human's true hidden motion as actions: the oracle;
* with ``--bounds whole``, robot-only K over the *whole* workspace (its own seeds, from
  ``WHOLE_DEMO_SEED``): the oracle with the robot's own embodiment;
* with ``--oracle-look``, the oracle's human videos as look targets alone: their true
  waypoints (where the hand grasps and releases) train the policy's waypoint head, their
  motion no action head (``PolicyWindows(human_acts=False)``). What locating the objects,
  apart from moving, is worth;
* robot K + human H whose actions a latent model's action decoder reads off their latents
  (``--sources clam_decoded``: CLAM's own, trained with it; ``como_decoded``, ``stamo_decoded``,
  ``vq_decoded``: one fit afterwards on the robot demos' latents,
  ``lam_models.latent.action_decoder``), only the axes ``--decoded-columns`` real (by
  default x, y, z and the grip). These rows train the action head, as the oracle's do, not a
  latent head. Before training, the decoder is scored per axis on robot episodes over the
  whole workspace and on the human videos' hidden motion: whether a decoded axis means the
  same motion for the hand and the gripper, apart from what leaving the demos' region costs;
* with ``--decoded-look``, the decoded rows as oracle-look rows: their decoded path and grip
  give waypoints on every frame, which train the waypoint head alone, and no action head.
  ``--decoded-hold priors`` holds decoded actions to what the task's robot demos all do
  (``lam_models.data.task_priors``): the grip becomes an open/closed command changing as
  often as theirs, timed by their heights around each change, the path starts where theirs
  does and is at their heights where the grip changes (rows say ``held``). ``look``, the
  default, anchors the path too where the video's frames show the object grasped and
  released (``held-look``); ``oracle``, at the hand's true points then (``held-oracle``, a
  bound); ``--set waypoint_condition=true`` hands the diffusion denoiser the waypoint
  head's guess;
* with ``--oracle-decoded``, the decoded rows' bound: the oracle's human videos with only
  the ``--decoded-columns`` of their true motion real, and no effector path (so, as a
  decoded row, waypoints only where those columns give them; with ``--decoded-look``, as
  those rows, the waypoint head alone): what a perfect decoder of those axes would be worth;
* robot K + human H that say only where their object is grasped and released, read off each
  video's frames with no model (``--sources look_targets``, ``lam_models.data.look_targets``:
  what moved, apart from the table and the arm, put on the table through the camera's
  calibration): the oracle-look row without the oracle. Only a video's first frames train,
  the waypoint head (``PolicyWindows``, ``LOOK_TARGETS``). Labels from video, not
  pseudo-actions: its gain gets a line of its own, before the last line.

``--full`` repeats them for the other families: the autoregressive policy, and the CLAM
route (``lam_models.policies.clam_route``: pi(o) -> pseudo-actions -> action decoder), which
acts through pseudo-actions and so has only their rows, set against the headline's bounds.
``--policy autoregressive`` makes the autoregressive policy the headline family.

Columns: success per task and the mean with Wilson 95% intervals, from closed-loop rollouts
(``lam_ros.sim.evaluate``), and success in the demos' own narrow region (held-out seeds):
whether the policy learned its demos at all, apart from reaching the rest of the workspace.
With ``--train-seeds`` each row pools one policy per training seed, and the mean shows each
seed's own rate: whether a difference between rows outlives the training seed. With
``--no-proprio`` every policy trains and acts on images alone: a robot row then looks to the
policy as a human row does (by default robot rows carry joint positions, human rows none,
and a policy that leans on its state may learn less from the rows without it).
``--avatar`` films every episode and rollout with the simulator's avatar in place of the
arm and the hand (``WidowXEnv(avatar=True)``): the same two fingers at either effector, as
far apart as its own (``WidowXSim.effector_fingers``), so no pixel says whose it is. A
bound, not a product: only a simulator draws it for free. What the appearance gap between a
hand and the gripper costs each row.
Data and latent models are cached under ``--out``, and so are rollouts: a rerun rolls out
only checkpoints it has not (``rollouts``). So ``--bounds`` (which bound rows train),
``--sources`` and ``--train-seeds`` let two processes share one ``--out``, each with
``OMP_NUM_THREADS=1``: on 2 cores two one-thread trainings step 1.55 times as fast together
as one two-thread training (3.1 + 3.1 against 4.0 steps/s: diffusion, 300 steps on 100 demos,
session 22). Nothing locks the
cache: let one process simulate the data (and train a latent model) before another starts,
give each its own rows or seeds, and read the table of a last run, with the same flags,
naming every row (each process writes ``cotrain.md`` over the others'). A VQ model cached
before session 21 collapsed (``lam_models.latent.vq``) and is read back as it is: delete
``latent/vq_*`` and the vq rows' ``policies/`` under an older ``--out``. The table is
written as markdown and PNG. The last line is
``co-training gain: +X points (robot-only A%, best pseudo-actions B% [model], oracle C%)``.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
import json
from pathlib import Path
import sys
import time

import numpy as np
from tqdm import tqdm
import yaml

from lam_models.data.dataset import read_episodes, write_dataset
from lam_models.data.episode import (
    ACTION_COLUMNS,
    AVATAR,
    LOOK_TARGETS,
    WAYPOINTS,
    Episode,
    gripper_events,
)
from lam_models.data.look_targets import look_targets
from lam_models.data.task_priors import event_heights, task_priors
from lam_models.data.windows import PolicyWindows, WindowShape
from lam_models.latent.action_decoder import (
    decoded_agreement,
    decoded_waypoint_error,
    fit_action_decoder,
    true_motion,
)
from lam_models.latent.labeling import decoded_episode, label_frames
from lam_models.latent.metrics import PixelDifferenceBaseline
from lam_models.latent.train import TrainConfig, train_latent_model
from lam_models.policies.train import PolicyTrainConfig, train_policy
from lam_ros.interfaces.seeds import HELD_OUT_SEED_START
from lam_ros.sim import generate_episode, make_task
from lam_ros.sim.episodes import table_camera
from lam_ros.sim.evaluate import EvalReport, evaluate_policy, wilson_interval

# Disjoint from every other bench's and test's seeds (bench/latent_metrics.py: < 30 000;
# held-out evaluation seeds start at HELD_OUT_SEED_START, lam_ros.interfaces.seeds).
SEEDS = {'robot': 30_000, 'human': 40_000}
WHOLE_ROBOT_SEED = 50_000   # robot episodes over the whole workspace: a decoder's check, not data
WHOLE_DEMO_SEED = 35_000    # robot demos over the whole workspace: the 'whole' bound's data
AGREEMENT_EPISODES = 50     # per task and embodiment, for that check
LATENT_SOURCES = ('como', 'stamo', 'clam', 'vq')
LATENT_FIELDS = ('latent_weight',)   # policy fields only a row with pseudo-actions uses
LATENT_STEPS = 4500             # the latent models' default training
UNNAMED_LATENT_STEPS = 1500     # runs before session 16 trained this many: named without it
CONTINUOUS = ('como', 'stamo', 'clam')
FAMILIES = ('diffusion', 'autoregressive', 'clam_route')
LATENT_ONLY = ('clam_route',)   # acts through pseudo-actions: no robot-only or oracle row
DECODED = tuple(f'{name}_decoded' for name in LATENT_SOURCES)   # decoded actions, no latent head
ORACLE_LOOK = 'oracle_look'     # the oracle's human rows as look targets only
ORACLE_DECODED = 'oracle_decoded'   # the oracle's motion on the decoded columns only
LOOKED = 'look_targets'         # human videos' grasp and release read off their frames
ROBOT_5K = 'robot_5k'            # robot-only with 5 K demos: what more robot data would buy
ROBOT_WHOLE = 'robot_whole'      # robot-only K over the whole workspace: the oracle's embodiment
BOUNDS = ('robot', 'oracle', ROBOT_5K, ROBOT_WHOLE, ORACLE_LOOK, ORACLE_DECODED)   # no source
BOUND_ROWS = ('robot', 'oracle', '5k', 'whole')   # --bounds: robot-only K, the oracle, 5K, whole
HEADLINE_BOUNDS = ('robot', 'oracle', '5k')   # the default run's
AXES = ('x', 'y', 'z', 'roll', 'pitch', 'yaw', 'gripper')   # the ee-delta action's columns
WAYPOINT_AXES = ('x', 'y', 'z', 'gripper')   # what waypoints are summed from (PolicyWindows)
DEFAULT_BATCH = PolicyTrainConfig.batch_size                  # the trainer's own defaults:
DEFAULT_ROBOT_FRACTION = PolicyTrainConfig.robot_fraction     # run names leave them out
# --decoded-hold: how decoded actions are held (TaskPriors.constrain), and the rows' label.
# Run directories are named by these labels, not by the code behind them: a hold that does
# something else needs another name (or its cached policies under --out removed). Session 20
# timed the grip's changes by the heights too: its runs need an --out without session 19's.
# Session 29 kept them apart (TaskPriors.min_dwell) and moved the path where it moves: the
# decoded rows of earlier sessions need another --out (the bounds rows' are the same).
HOLDS = {'none': '', 'priors': ' held', 'look': ' held-look', 'oracle': ' held-oracle'}


@dataclass
class Row:
    """One trained policy and its closed-loop score."""

    label: str
    source: str           # one of BOUNDS, a latent model, 'pixel_diff', DECODED or LOOKED
    policy: str
    successes: dict[str, tuple[int, int]]  # task -> (successes, episodes), all seeds pooled
    train_s: float
    narrow: tuple[int, int] = (0, 0)   # all tasks, held-out seeds in the demos' region
    per_seed: list[float] = field(default_factory=list)  # mean success of each training seed

    def rate(self, task: str | None = None) -> tuple[float, float, float]:
        """Success rate and its Wilson 95% interval, of one task or pooled over all."""
        pairs = [self.successes[task]] if task else list(self.successes.values())
        k, n = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
        return (k / n, *wilson_interval(k, n))

    def summary(self) -> str:
        """One line as soon as the row is done: mean and narrow-region success."""
        k, n = self.narrow
        return (f'{cell(self.rate())} whole workspace{seed_spread(self)}, {k}/{n} narrow, '
                f'trained in {self.train_s:.0f} s')


def seed_spread(row: Row) -> str:
    """' (seeds 24/28/26%)' where a row pooled several training seeds, else ''."""
    if len(row.per_seed) < 2:
        return ''
    return f' (seeds {"/".join(f"{100 * rate:.0f}" for rate in row.per_seed)}%)'


def simulate(args: argparse.Namespace, embodiment: str, per_task: int, region: str,
             look: str, first_seed: int | None = None) -> list[Episode]:
    """``per_task`` scripted episodes of each task, cached as an HDF5 dataset.

    ``look``: 'fixed' (the scene's own), 'lab' (the scene's room and camera, each episode's
    own person) or 'randomized' (person, head motion and room). Seeds count from
    ``first_seed``, by default the embodiment's own (``SEEDS``).
    """
    first = SEEDS[embodiment] if first_seed is None else first_seed
    path = cache_path(args, embodiment, per_task, region, look, first_seed)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        episodes = [generate_episode(task, first + i, embodiment, 'ego',
                                     args.image_size, spawn_region=region,
                                     randomize=look != 'fixed',
                                     lab=look == 'lab', avatar=args.avatar)
                    for task in args.tasks.split(',')
                    for i in tqdm(range(per_task), desc=f'simulate {embodiment} {task}')]
        write_dataset(episodes, path)
    episodes = read_episodes(path)
    stale = next((ep for ep in episodes if ep.effector_positions is None
                  or bool(ep.metadata.get('lab')) != (look == 'lab')
                  or bool(ep.metadata.get(AVATAR)) != args.avatar), None)
    if stale is not None:   # made by an older simulator: other waypoints, lab or avatar
        raise SystemExit(f'cotrain: {path} holds episodes of an older simulator (no effector '
                         'path, another look, or with(out) the avatar); delete it (and the '
                         'models trained on it)')
    return episodes


def cache_path(args: argparse.Namespace, embodiment: str, per_task: int, region: str,
               look: str, first_seed: int | None = None) -> Path:
    """Where ``simulate`` caches these episodes."""
    avatar = '_avatar' if args.avatar else ''
    seeds = '' if first_seed is None else f'_from{first_seed}'
    return (Path(args.out) / 'cache' / f'{embodiment}_{region}_{look}_{per_task}_{args.tasks}'
                                       f'_{args.image_size}px{avatar}{seeds}.h5')


def data_key(args: argparse.Namespace, human_videos: int | None) -> str:
    """What shapes a trained model besides its own config: reruns resume only a match.

    ``human_videos``: how many of each task's human videos it trained on; None for none, so
    a robot-only run is named (and read back) whatever ``--human-videos`` says.
    """
    videos = human_look = ''
    if human_videos is not None:
        videos = f'_H{human_videos}'
        human_look = '' if args.human_look == 'randomized' else f'_human{args.human_look}'
    avatar = '_avatar' if args.avatar else ''
    return (f'{args.tasks.replace(",", "+")}_K{args.robot_demos}{videos}'
            f'_{args.robot_look}{human_look}'
            f'_{args.image_size}px{avatar}')


def policy_overrides(assignments: list[str]) -> dict:
    """``--set KEY=VALUE`` policy config fields (values parsed as YAML: 0.5, true, [1, 2])."""
    overrides = {}
    for assignment in assignments:
        key, sep, value = assignment.partition('=')
        if not sep or not key:
            raise SystemExit(f'cotrain: --set takes KEY=VALUE, got {assignment!r}')
        overrides[key] = yaml.safe_load(value)
    return overrides


def row_overrides(source: str, overrides: dict) -> dict:
    """The ``--set`` fields a row uses: a row without pseudo-actions has no latent head.

    So ``--set latent_weight=0.1`` neither renames nor retrains the bounds rows (their run
    directories are named by their overrides): a rerun reads them back.
    """
    pseudo = source not in (*BOUNDS, *DECODED, LOOKED)
    return {key: value for key, value in overrides.items()
            if pseudo or key not in LATENT_FIELDS}


def run_knobs(args: argparse.Namespace, overrides: dict, human: bool) -> str:
    """A run directory's suffix: the training knobs off their defaults.

    The data, the row and the steps name the rest of it. A rerun resumes or reads back a run
    of the same name, so a knob left out of it would be read back as another's.
    ``--robot-fraction`` shapes only a row with ``human`` rows.
    """
    knobs = ''.join(f'_{key}{value}' for key, value in sorted(overrides.items()))
    knobs += '_noproprio' if args.no_proprio else ''
    if args.batch_size != DEFAULT_BATCH:
        knobs += f'_batch{args.batch_size}'
    if human and args.robot_fraction != DEFAULT_ROBOT_FRACTION:
        knobs += f'_robot{args.robot_fraction:g}'
    if args.look_first is not None:
        knobs += f'_look{args.look_first:g}'
    return knobs


def row_human_acts(source: str, decoded_look: bool) -> bool:
    """Whether a row's human actions train the action head, not only the waypoint head.

    Oracle-look rows never; with ``--decoded-look`` the decoded rows and their oracle bound
    neither (their path and grip give waypoints, as oracle-look's do).
    """
    return source != ORACLE_LOOK and not (decoded_look and source in (*DECODED, ORACLE_DECODED))


def row_label(label: str, overrides: dict) -> str:
    """The table's name of a row: its label and the ``--set`` fields it trained with."""
    return label + ''.join(f' {key}={value}' for key, value in sorted(overrides.items()))


def first_per_task(episodes: list[Episode], count: int) -> list[Episode]:
    """The first ``count`` episodes of each task (the K of a larger cached pool)."""
    taken: dict[str, int] = {}
    chosen = []
    for episode in episodes:
        if taken.get(episode.task, 0) < count:
            taken[episode.task] = taken.get(episode.task, 0) + 1
            chosen.append(episode)
    return chosen


def after_first_per_task(episodes: list[Episode], count: int) -> list[Episode]:
    """The episodes of each task after its first ``count`` (``first_per_task``'s rest)."""
    taken: dict[str, int] = {}
    rest = []
    for episode in episodes:
        taken[episode.task] = taken.get(episode.task, 0) + 1
        if taken[episode.task] > count:
            rest.append(episode)
    return rest


def labelled(model, episodes: list[Episode]) -> list[Episode]:
    """Copies of ``episodes`` carrying ``model``'s pseudo-actions and their valid mask."""
    out = []
    for episode in episodes:
        values, valid = label_frames(model, episode.frames)
        out.append(replace(episode, pseudo_actions=values,
                           metadata={**episode.metadata, 'pseudo_valid': valid}))
    return out


def as_oracle(human: list[Episode]) -> list[Episode]:
    """Human episodes whose hidden motion becomes their actions (no proprio: state absent)."""
    return [replace(ep, actions=ep.hidden_motion, hidden_motion=None, embodiment='human')
            for ep in human]


def as_oracle_decoded(human: list[Episode], columns: list[bool]) -> list[Episode]:
    """The oracle's episodes as a perfect decoder would label them: only ``columns`` real.

    No effector path: like a decoded row, no waypoints unless the columns give them.
    """
    return [replace(ep, effector_positions=None,
                    metadata={**ep.metadata, ACTION_COLUMNS: [bool(c) for c in columns]})
            for ep in as_oracle(human)]


def latent_tag(args: argparse.Namespace, separator: str) -> str:
    """'' for the default latent training, else e.g. '_latent4500', in models' and rows' names."""
    return ('' if args.latent_steps == UNNAMED_LATENT_STEPS
            else f'{separator}latent{args.latent_steps}')


def latent_labeller(name: str, robot: list[Episode], human: list[Episode],
                    args: argparse.Namespace):
    """A trained latent model (cached), or the pixel-difference baseline PCA'd to z 32."""
    if name == 'pixel_diff':
        return PixelDifferenceBaseline(image_size=args.image_size, z_dim=32).fit_pca(robot)
    key = data_key(args, args.latent_videos)
    config = TrainConfig(out_dir=str(Path(args.out) / 'latent'
                                     / f'{name}_{key}{latent_tag(args, "_")}'),
                         steps=args.latent_steps,
                         batch_size=32, resume=True, figure=False, progress=True)
    seen = first_per_task(human, args.latent_videos)
    return train_latent_model(name, {'image_size': args.image_size}, robot + seen, config)


def decoded(name: str, robot: list[Episode], human: list[Episode], columns: list[bool],
            args: argparse.Namespace) -> list[Episode]:
    """The human videos with actions decoded from ``name``'s latents, ``columns`` real.

    CLAM decodes with its own decoder; another model's is fit on the robot demos' latents
    (``fit_action_decoder``). First the decoder is checked, per axis and by the waypoints
    summed from its actions (what ``--decoded-look`` teaches): on robot episodes over the
    whole workspace (none trains it: what leaving the demos' region costs) and on the human
    videos' hidden motion (what the embodiment costs besides). Both are printed. Decoded
    actions are held as ``--decoded-hold`` says (``HOLDS``).
    """
    model = latent_labeller(name, robot, human, args)
    decoder = None if name == 'clam' else fit_action_decoder(model, robot)
    # the demos decoded weigh the decoded grip against the path's height profiles
    priors = None if args.decoded_hold == 'none' else task_priors(robot, [
        decoded_episode(model, demo, [True] * demo.actions.shape[1], decoder).actions
        for demo in robot])
    whole = simulate(args, 'robot', AGREEMENT_EPISODES, 'full', args.robot_look,
                     first_seed=WHOLE_ROBOT_SEED)
    unseen = after_first_per_task(human, args.latent_videos)   # as a new recording would be
    checks = (('robot, whole workspace', whole),
              (f'human{", unseen" if unseen else ""}, hidden motion',
               first_per_task(unseen or human, AGREEMENT_EPISODES)))
    for label, episodes in checks:
        agreement = decoded_agreement(model, episodes, decoder)
        tqdm.write(f'{name}-decoded, {label}: R^2 (slope) {agreement.row(AXES)}')
        anchored = with_event_points(episodes, robot, args)
        waypoints = decoded_waypoint_error(model, anchored, decoder, priors)
        tqdm.write(f'{name}-decoded, {label}: {waypoints.row()}, held: {args.decoded_hold}')
    return [decoded_episode(model, episode, columns, decoder, priors)
            for episode in with_event_points(human, robot, args)]


def with_event_points(episodes: list[Episode], robot: list[Episode],
                      args: argparse.Namespace) -> list[Episode]:
    """``episodes`` with the points a decoded path is anchored at (``--decoded-hold``).

    'look': where their frames show the object grasped and released (``looking``);
    'oracle': where the effector truly was at its first gripper events (a bound).
    """
    if args.decoded_hold == 'look':
        return looking(robot, episodes, args)
    if args.decoded_hold != 'oracle':
        return episodes
    out = []
    for episode in episodes:
        events = gripper_events(true_motion(episode))[:WAYPOINTS]
        points = [episode.effector_positions[event].tolist() for event in events]
        out.append(replace(episode, metadata={
            **episode.metadata, LOOK_TARGETS: points + [None] * (WAYPOINTS - len(points))}))
    return out


def looking(robot: list[Episode], videos: list[Episode], args: argparse.Namespace
            ) -> list[Episode]:
    """``videos`` with the grasp and release points their frames show (``LOOK_TARGETS``).

    At the heights of the robot demos' own grasps and releases in each task, through the
    scene's still camera; a point not seen is None.
    """
    out = []
    for task in args.tasks.split(','):
        camera = table_camera(task, image_size=args.image_size)
        heights = event_heights([ep for ep in robot if ep.task == task])
        out += [replace(ep, metadata={**ep.metadata,
                                      LOOK_TARGETS: look_targets(ep.frames, camera, heights)})
                for ep in tqdm(videos, desc=f'look targets {task}') if ep.task == task]
        seen = np.array([[point is not None for point in ep.metadata[LOOK_TARGETS]]
                         for ep in out if ep.task == task], bool).reshape(-1, 2)
        tqdm.write(f'look targets, {task}: grasp seen in {seen[:, 0].mean():.0%} of {len(seen)} '
                   f'{"/".join(sorted({ep.embodiment for ep in out}))} videos, release in '
                   f'{seen[:, 1].mean():.0%}')
    return out


def train_and_evaluate(label: str, source: str, policy: str, episodes: list[Episode],
                       args: argparse.Namespace) -> Row:
    """Train one policy per training seed on ``episodes``; roll each out on held-out scenes.

    Each training seed meets its own block of held-out scenes (seed s the s-th), so no scene
    counts twice in the row's pooled interval, and a run of ``--train-seeds 1`` alone rolls
    out the scenes that seed meets in ``0,1``: processes can share a row's seeds out. That
    interval is over rollouts, not seeds: the seeds' own rates, printed beside it, show the
    training seed's spread (and the scenes').
    """
    shape = WindowShape(image_size=args.image_size)
    proprio = not args.no_proprio
    human_acts = row_human_acts(source, args.decoded_look)
    windows = PolicyWindows(episodes, shape, proprio, human_acts)
    overrides = row_overrides(source, args.policy_overrides)
    human = bool(len(windows.human_rows))
    knobs = run_knobs(args, overrides, human)
    key = data_key(args, args.human_videos if human else None)
    look = {} if args.look_first is None else {'look_first': args.look_first}
    randomize = args.robot_look == 'randomized'
    tasks = args.tasks.split(',')
    row = Row(row_label(label, overrides), source, policy, {task: (0, 0) for task in tasks}, 0.0)
    for seed in args.train_seeds:
        first = HELD_OUT_SEED_START + seed * args.eval_episodes
        held_out = range(first, first + args.eval_episodes)
        run_dir = (Path(args.out) / 'policies'
                   / f'{policy}_{label.replace(" ", "_")}_{key}_s{args.policy_steps}'
                     f'{knobs}{f"_seed{seed}" if seed else ""}')
        clock = time.perf_counter()
        trained = train_policy(policy, overrides, windows, PolicyTrainConfig(
            out_dir=str(run_dir), steps=args.policy_steps, batch_size=args.batch_size,
            pseudo_actions=None if source in (*BOUNDS, *DECODED, LOOKED) else source,
            robot_fraction=args.robot_fraction, seed=seed, proprio=proprio,
            human_acts=human_acts, **look))
        row.train_s += time.perf_counter() - clock
        report = rollouts(trained, run_dir, 'eval', tasks, held_out, video_dir=run_dir / 'videos',
                          num_envs=args.num_envs, randomize=randomize)
        for task, result in report.tasks.items():
            k, n = row.successes[task]
            row.successes[task] = (k + result.successes, n + result.n)
        row.per_seed.append(sum(r.successes for r in report.tasks.values()) / report.episodes)
        if args.narrow_episodes:
            narrow = rollouts(trained, run_dir, 'eval_narrow', tasks,
                              held_out[:args.narrow_episodes], spawn_region='narrow',
                              num_envs=args.num_envs, randomize=randomize)
            row.narrow = (row.narrow[0] + sum(r.successes for r in narrow.tasks.values()),
                          row.narrow[1] + narrow.episodes)
    return row


def rollouts(policy, run_dir: Path, name: str, tasks: list[str], seeds: range, *,
             randomize: bool, spawn_region: str = 'full', **options) -> EvalReport:
    """``evaluate_policy``, or the report it wrote under ``run_dir/name`` for this checkpoint.

    A rerun (another row, another source) then re-rolls no policy it already rolled out: a
    report newer than the checkpoint, on the same tasks, scenes, region and look, is read back
    (rollouts are deterministic: session 16 re-evaluated the same numbers). The simulator is
    not compared: after a change to it, delete the run's ``eval*/`` to roll it out again.
    """
    path, checkpoint = run_dir / name / 'report.json', run_dir / 'checkpoint.safetensors'
    if path.exists() and path.stat().st_mtime > checkpoint.stat().st_mtime:
        try:
            report = EvalReport.read(path)
        except ValueError:   # cut short (a killed run) or another format: roll out again
            report = None
        if report is not None and (list(report.tasks) == list(tasks)
                                   and report.settings.get('seeds') == list(seeds)
                                   and report.settings.get('spawn_region') == spawn_region
                                   and report.settings.get('randomize') == randomize):
            return report
    report = evaluate_policy(policy, tasks, seeds, spawn_region=spawn_region,
                             randomize=randomize, **options)
    report.write(run_dir / name)
    return report


def cell(rate: tuple[float, float, float]) -> str:
    """A rate and its interval as the table prints them: '26% [21, 33]'."""
    return f'{100 * rate[0]:.0f}% [{100 * rate[1]:.0f}, {100 * rate[2]:.0f}]'


def print_table(rows: list[Row], tasks: list[str], path: Path) -> str:
    """Markdown table (printed and written): success % [95% CI] per task and mean.

    With several training seeds a row's interval is over all their rollouts pooled, and its
    mean shows each seed's own rate beside it.
    """
    header = ['policy', 'data', *tasks, 'mean', "narrow region (demos' own)",
              'train s (0: cached run)']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for row in rows:
        k, n = row.narrow
        narrow = cell((k / n, *wilson_interval(k, n))) if n else '-'
        lines.append('| ' + ' | '.join([row.policy, row.label,
                                         *(cell(row.rate(t)) for t in tasks),
                                         cell(row.rate()) + seed_spread(row), narrow,
                                         f'{row.train_s:.0f}']) + ' |')
    text = '\n'.join(lines)
    path.write_text(text + '\n')
    print(text)
    return text


def save_figure(rows: list[Row], path: Path) -> None:
    """Mean success with its interval per row, one bar each."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rates = np.array([row.rate() for row in rows]) * 100
    fig, ax = plt.subplots(figsize=(1.1 * len(rows) + 2, 3.5))
    ax.bar(range(len(rows)), rates[:, 0], yerr=[rates[:, 0] - rates[:, 1],
                                                rates[:, 2] - rates[:, 0]], capsize=4)
    ax.set_xticks(range(len(rows)), [f'{r.policy}\n{r.label}' for r in rows], fontsize=7,
                  rotation=30)
    ax.set(ylabel='success % (Wilson 95%)', ylim=(0, 100), title='co-training, ego view')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tasks', default='pick_place', help='e.g. push,pick_place')
    parser.add_argument('--robot-demos', type=int, default=100, help='K per task (narrow)')
    parser.add_argument('--human-videos', type=int, default=2000, help='H per task (whole)')
    parser.add_argument('--eval-episodes', type=int, default=200,
                        help='per task and row (~1 min per 200: a tight interval is cheap)')
    parser.add_argument('--narrow-episodes', type=int, default=20,
                        help="per task and row, in the demos' narrow region (did it learn them?)")
    parser.add_argument('--policy', default='diffusion', choices=FAMILIES[:2],
                        help='the headline policy family')
    parser.add_argument('--sources', default=','.join((*DECODED, 'pixel_diff')),
                        help="pseudo-action rows; '' runs the bounds rows only")
    parser.add_argument('--bounds', default=','.join(HEADLINE_BOUNDS),
                        help=f"bound rows to train, of {','.join(BOUND_ROWS)}; '' none: "
                             'processes on one --out share the rows out, and a later run naming '
                             'them all reads them back into one table')
    parser.add_argument('--decoded-columns', default=','.join(WAYPOINT_AXES),
                        help=f'the *_decoded rows: decoded axes that train, of {",".join(AXES)}')
    parser.add_argument('--latent-videos', type=int, default=None,
                        help='the latent models train on the first this many human videos per '
                             'task (default: all H) and label all H: the rest, like a new '
                             "recording, unseen ('+human como on H2000')")
    parser.add_argument('--latent-steps', type=int, default=LATENT_STEPS,
                        help="another count trains (and caches) its own latent models: rows "
                             "are named by it ('+human como latent4500')")
    parser.add_argument('--policy-steps', type=int, default=7500,
                        help='in all, of which --look-first look first')
    parser.add_argument('--look-first', type=float, default=0.6,
                        help='share of the steps spent looking first (runs before session 23 '
                             "took the trainer's 1/3 and are named without it)")
    parser.add_argument('--batch-size', type=int, default=DEFAULT_BATCH)
    parser.add_argument('--robot-fraction', type=float, default=DEFAULT_ROBOT_FRACTION,
                        help='share of each batch drawn from robot rows (where there are '
                             'human rows)')
    parser.add_argument('--image-size', type=int, default=64)
    parser.add_argument('--robot-look', choices=('fixed', 'randomized'), default='fixed',
                        help="robot demos' and evaluation's look")
    parser.add_argument('--human-look', choices=('lab', 'randomized'), default='lab',
                        help="human videos' look: every one its own person, head motion and "
                             "room, or its own person in front of the robot's camera (lab)")
    parser.add_argument('--oracle-look', action='store_true',
                        help="a bound row: the oracle's human videos as look targets only "
                             "(their waypoints, no actions)")
    parser.add_argument('--decoded-look', action='store_true',
                        help='the *_decoded rows train only the waypoint head, on every frame, '
                             'with waypoints summed from their decoded path and grip (as '
                             '--oracle-look does with the true ones); needs --decoded-columns '
                             'x,y,z,gripper')
    parser.add_argument('--decoded-hold', choices=tuple(HOLDS), default='look',
                        help="the *_decoded rows' actions as decoded (none), held to what the "
                             "task's robot demos all do (priors: task_priors), and also to "
                             'where their frames show the object grasped and released (look), '
                             'or where the hand truly was then (oracle: a bound)')
    parser.add_argument('--oracle-decoded', action='store_true',
                        help="a bound row: the oracle's motion on the --decoded-columns alone "
                             '(what a perfect decoder of those axes would give)')
    parser.add_argument('--no-proprio', action='store_true', default=True,
                        help="(the default) no joint positions for any row or rollout: the "
                             "robot's rows are seen as the human's are, by images alone")
    parser.add_argument('--proprio', dest='no_proprio', action='store_false',
                        help="the robot's joint positions as the policy's state (human rows "
                             'have none)')
    parser.add_argument('--avatar', action='store_true', default=True,
                        help='(the default) film both embodiments as one avatar '
                             '(WidowXEnv(avatar=True)): what hiding whose effector it is from '
                             'the pixels is worth')
    parser.add_argument('--no-avatar', dest='avatar', action='store_false',
                        help="film the arm and the human's hand as they are")
    parser.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                        help='a policy config field for every row, e.g. --set state_noise=0.5')
    parser.add_argument('--train-seeds', default='0',
                        help='e.g. 0,1,2: one policy per seed and row, their rollouts pooled '
                             "(the table shows each seed's rate; time grows with the count)")
    parser.add_argument('--num-envs', type=int, default=8, help='rollouts batched together')
    parser.add_argument('--full', action='store_true',
                        help=f'every policy family {FAMILIES}, not just --policy')
    parser.add_argument('--quick', action='store_true', help='minutes, to check the plumbing')
    parser.add_argument('--out', default='runs/cotrain')
    args = parser.parse_args()
    args.policy_overrides = policy_overrides(args.set)   # a bad --set fails before any work
    given = args.train_seeds
    try:
        args.train_seeds = sorted({int(seed) for seed in given.split(',')})
        if args.train_seeds[0] < 0:
            raise ValueError
    except ValueError:
        raise SystemExit(f'cotrain: --train-seeds takes integers >= 0 like 0,1,2, got '
                         f'{given!r}') from None
    if args.quick:
        args.tasks, args.robot_demos, args.human_videos = 'push', 3, 6
        args.eval_episodes, args.latent_steps, args.policy_steps = 4, 40, 60
        args.narrow_episodes = 2
        args.sources, args.out = 'como,pixel_diff', args.out + '_quick'
        args.decoded_hold = 'none'   # push never grasps: no look targets to hold to
    if args.latent_videos is None:
        args.latent_videos = args.human_videos
    if not 0 < args.latent_videos <= args.human_videos:
        raise SystemExit(f'cotrain: --latent-videos takes 1 to --human-videos '
                         f'({args.human_videos}), got {args.latent_videos}')
    sources = [source for source in args.sources.split(',') if source]   # '': the bounds only
    bounds = [bound for bound in args.bounds.split(',') if bound]
    if set(bounds) - set(BOUND_ROWS):
        raise SystemExit(f'cotrain: --bounds {sorted(set(bounds) - set(BOUND_ROWS))} unknown; '
                         f'choose from {",".join(BOUND_ROWS)}')
    if not bounds and not sources:
        raise SystemExit("cotrain: --bounds '' and --sources '' leave no row to run")
    known = [*LATENT_SOURCES, 'pixel_diff', *DECODED, LOOKED]
    unknown = sorted(set(sources) - set(known))
    if unknown:
        raise SystemExit(f'cotrain: --sources {unknown} unknown; choose from {known}')
    reading = (f'--sources {LOOKED}' if LOOKED in sources
               else '--decoded-hold look' if args.decoded_hold == 'look' else None)
    if reading and (args.human_look != 'lab'
                    or reading.startswith('--decoded') and args.robot_look != 'fixed'):
        raise SystemExit(f'cotrain: {reading} needs --human-look lab (and its decoder check '
                         "--robot-look fixed): the points are read through the scene's still "
                         'camera, and a randomized look moves the head')
    pushing = [task for task in args.tasks.split(',') if not make_task(task).grasps]
    if reading and pushing:
        raise SystemExit(f'cotrain: {reading} needs tasks that grasp and release '
                         f'(the look targets are where); {pushing} never close the gripper')
    decoded_axes = [axis for axis in AXES if axis in args.decoded_columns.split(',')]
    if not decoded_axes or set(args.decoded_columns.split(',')) - set(AXES):
        raise SystemExit(f'cotrain: --decoded-columns takes axes of {",".join(AXES)}, got '
                         f'{args.decoded_columns!r}')
    columns = [axis in decoded_axes for axis in AXES]
    decoded_label = '+'.join(decoded_axes) + HOLDS[args.decoded_hold]
    if args.decoded_look and not set(WAYPOINT_AXES) <= set(decoded_axes):
        raise SystemExit(f'cotrain: --decoded-look needs --decoded-columns with '
                         f'{",".join(WAYPOINT_AXES)} (the path and the grip events its waypoints '
                         f'are summed from), got {args.decoded_columns!r}')
    held = {'none': (), 'priors': ('z', 'gripper')}.get(args.decoded_hold, WAYPOINT_AXES)
    if not set(held) <= set(decoded_axes):
        raise SystemExit(f'cotrain: --decoded-hold {args.decoded_hold} needs --decoded-columns '
                         f'with {",".join(held)} (the grip it steps and the path it anchors), '
                         f'got {args.decoded_columns!r}')
    started = time.perf_counter()
    tasks = args.tasks.split(',')
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # the 5K row's pool holds the K demos as its first (the same seeds): simulated only for it
    pool_size = 5 * args.robot_demos
    if '5k' not in bounds and not cache_path(args, 'robot', pool_size, 'narrow',
                                             args.robot_look).exists():
        pool_size = args.robot_demos
    robot_pool = simulate(args, 'robot', pool_size, 'narrow', args.robot_look)
    robot = first_per_task(robot_pool, args.robot_demos)
    human = simulate(args, 'human', args.human_videos, 'full', args.human_look)
    print(f'{len(robot)} robot demos (narrow region, {args.robot_demos} per task, '
          f'{args.robot_look} look), '
          f'{len(robot_pool) if "5k" in bounds else "none"} for the 5K row, '
          f'{len(human)} human videos (whole workspace, '
          f'{args.human_look} look); '
          f'evaluation: {args.eval_episodes} held-out episodes per task, whole workspace')

    families = [args.policy] + ([f for f in FAMILIES if f != args.policy] if args.full else [])
    latent_label = latent_tag(args, ' ') + ('' if args.latent_videos == args.human_videos
                                            else f' on H{args.latent_videos}')
    rows: list[Row] = []
    for policy in families:
        # The bounds first (robot-only, oracle, 5K): they say whether the regime can show a gain.
        # The CLAM route acts through pseudo-actions, so it has none: its rows compare with
        # the headline family's.
        bound_runs = {
            'robot': (f'robot K={args.robot_demos}', 'robot', lambda: robot),
            'oracle': ('+human oracle', 'oracle', lambda: robot + as_oracle(human)),
            '5k': (f'robot 5K={5 * args.robot_demos}', ROBOT_5K, lambda: robot_pool),
            'whole': (f'robot whole K={args.robot_demos}', ROBOT_WHOLE, lambda: simulate(
                args, 'robot', args.robot_demos, 'full', args.robot_look,
                first_seed=WHOLE_DEMO_SEED))}
        runs = [] if policy in LATENT_ONLY else [run for bound, run in bound_runs.items()
                                                 if bound in bounds]
        if args.oracle_look and policy not in LATENT_ONLY:
            runs.append(('+human oracle look', ORACLE_LOOK, lambda: robot + as_oracle(human)))
        if args.oracle_decoded and policy not in LATENT_ONLY:
            runs.append((f'+human oracle {"+".join(decoded_axes)}'
                         f'{" look" if args.decoded_look else ""}', ORACLE_DECODED,
                         lambda: robot + as_oracle_decoded(human, columns)))
        for source in sources:
            if source in (*DECODED, LOOKED) and policy in LATENT_ONLY:
                continue   # no latent head: not a CLAM-route row
            if source in DECODED:
                name = source.removesuffix('_decoded')
                label = (f'+human {name}-decoded {decoded_label}'
                         f'{" look" if args.decoded_look else ""}{latent_label}')
                runs.append((label, source, lambda name=name: robot + decoded(
                    name, robot, human, columns, args)))
                continue
            if source == LOOKED:
                runs.append(('+human look targets', source,
                             lambda: robot + looking(robot, human, args)))
                continue
            # the pixel-difference baseline fits no human video
            suffix = latent_label if source != 'pixel_diff' else latent_tag(args, ' ')
            runs.append((f'+human {source}{suffix}', source,
                         lambda source=source: labelled(
                             latent_labeller(source, robot, human, args), robot + human)))
        for label, source, episodes in runs:
            rows.append(train_and_evaluate(label, source, policy, episodes(), args))
            tqdm.write(f'{policy} {label}: {rows[-1].summary()}')
    print()
    print_table(rows, tasks, out / 'cotrain.md')
    save_figure(rows, out / 'cotrain.png')
    (out / 'cotrain.json').write_text(json.dumps([row.__dict__ for row in rows], indent=1))
    print(f'\ntable: {out}/cotrain.md, figure: {out}/cotrain.png; '
          f'{time.perf_counter() - started:.0f} s in all')
    summary(rows)
    return 0


def above(row: Row, other: Row) -> bool:
    """Whether ``row``'s 95% interval lies wholly above ``other``'s: a gain beyond noise."""
    return row.rate()[1] > other.rate()[2]


def summary(rows: list[Row]) -> None:
    """The acceptance numbers of issue 12, then the one-line verdict."""
    for policy in sorted({row.policy for row in rows}):
        family = [row for row in rows if row.policy == policy]
        bounds = rows if policy in LATENT_ONLY else family   # the headline's come first
        robot_only = next((row for row in bounds if row.source == 'robot'), None)
        pseudo = [row for row in family
                  if row.source in (*CONTINUOUS, 'vq', 'pixel_diff', *DECODED)]
        best = max(pseudo, key=lambda row: row.rate()[0]) if pseudo else None
        oracle = next((row for row in bounds if row.source == 'oracle'), None)
        if best is None or oracle is None or robot_only is None:
            continue
        base = robot_only.rate()
        gain = 100 * (best.rate()[0] - base[0])
        gap = oracle.rate()[0] - base[0]
        separated = above(best, robot_only) or above(robot_only, best)   # a loss too
        named = f'the oracle ({100 * oracle.rate()[0]:.0f}%)'
        closed = (f'{named} is not above robot-only beyond their intervals: no gap to close'
                  if not above(oracle, robot_only) else
                  f'closes {gain / 100 / gap:.0%} of the gap to {named}' if gain > 0 else
                  f'closes none of the gap to {named}')
        base_name = f'{robot_only.policy} robot-only' if policy in LATENT_ONLY else 'robot-only'
        print(f'{policy}: best {best.label} {100 * best.rate()[0]:.0f}% vs {base_name} '
              f'{100 * base[0]:.0f}% ({gain:+.1f} points, intervals '
              f'{"disjoint" if separated else "overlap"}); {closed}')
        for suffix in ('', '_decoded'):   # latents against latents, decoded against decoded
            continuous = [row for row in family
                          if row.source in tuple(name + suffix for name in CONTINUOUS)]
            discrete = next((row for row in family if row.source == 'vq' + suffix), None)
            if continuous and discrete:
                top = max(continuous, key=lambda row: row.rate()[0])
                apart = above(top, discrete) or above(discrete, top)
                print(f'{policy}: continuous vs discrete: {top.source} {cell(top.rate())} vs '
                      f'{discrete.source} {cell(discrete.rate())} (intervals '
                      f'{"disjoint" if apart else "overlap"})')
    headline = [row for row in rows if row.policy == rows[0].policy]
    base = next((row for row in headline if row.source == 'robot'), None)
    if base is None:   # --bounds without robot: nothing to measure a gain against
        print('co-training gain: no robot-only row in this run (--bounds)')
        return
    looked = next((row for row in headline if row.source == LOOKED), None)
    if looked is not None:   # labels from video, not pseudo-actions: a line of its own
        oracle_look = next((row for row in headline if row.source == ORACLE_LOOK), None)
        print(f'look targets from video: {100 * (looked.rate()[0] - base.rate()[0]):+.1f} points '
              f'(robot-only {cell(base.rate())}, look targets {cell(looked.rate())}, intervals '
              f'{"disjoint" if above(looked, base) or above(base, looked) else "overlap"}'
              + (f'; oracle look {cell(oracle_look.rate())}' if oracle_look else '') + ')')
    pseudo = [row for row in headline if row.source not in (*BOUNDS, LOOKED)]
    if not pseudo:   # the bounds (and look targets) alone: no gain to report
        print('co-training gain: no pseudo-action rows, bounds only')
        return
    best = max(pseudo, key=lambda row: row.rate()[0])
    oracle = next((row for row in headline if row.source == 'oracle'), None)
    # one decimal: rounded to whole points, 14.75 printed as +15, past a 15-point bar
    print(f'co-training gain: {100 * (best.rate()[0] - base.rate()[0]):+.1f} points '
          f'(robot-only {100 * base.rate()[0]:.0f}%, best pseudo-actions '
          f'{100 * best.rate()[0]:.0f}% [{best.source}], '
          + (f'oracle {100 * oracle.rate()[0]:.0f}%)' if oracle else 'no oracle row)'))


if __name__ == '__main__':
    sys.exit(main())
