# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""How good is a latent as a motion label, measured so that no model is favoured by the metric.

Targets (ee_delta ``[dx, dy, dz, droll, dpitch, dyaw, gripper]``, robot ``actions`` or the
human's ``hidden_motion``) are scored in three groups, never averaged together:
translation (dx, dy, dz and dyaw summed over the window's gap), rotation (dyaw) and the
gripper as a *change* over the window (closing / none / opening; the command is an absolute
0..1 opening, so summing it over the gap means nothing). Roll and pitch are small IK
corrections no camera sees: they are not scored.

- Probes: a ridge probe (strength chosen by episode-wise group K-fold cross-validation)
  and one small MLP, both on features standardized on the fit set and clipped to its range,
  so a shifted input (another embodiment) cannot make a prediction explode. Regression is
  scored as MSE / variance of the scored targets per dimension (1.0 = predicting the mean),
  the gripper as balanced accuracy (chance = 1 / number of change classes present).
- Human episodes give two numbers: *within-human* (probes fit and scored on disjoint
  human episodes, cross-fitted over episode folds) and *cross-embodiment* (probes fit on
  robot latents, scored on the human's hidden motion).
- S-PCFC (CoMo, arXiv 2505.17006): cosine between the past-to-current z(o_{t-n} -> o_t)
  and the future-to-current z(o_{t+n} -> o_t), here on latents centred on their mean and
  over windows where both motions are non-zero: a constant latent or a resting window
  carries no motion and must not count as consistent (nan when nothing is left).
- Reconstruction of o_{t+n} against a reference that uses no motion: the model's own
  ``collapse_reference(o_t)`` when it has one (StaMo: decode(s(o_t))), else copying o_t;
  collapse ratio = reconstruction / reference (>= 1.0: the latent adds nothing).

Every latent is computed by ``model.encode_window`` on windows of ``model.window_size``
frames with real previous frames (as in training), never by repeating o_t.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
import math
from typing import Callable, ClassVar, Iterator, Sequence

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from typing_extensions import override

from lam_models.data.episode import Episode
from lam_models.data.pairs import FrameWindows, summed_over_gap
from lam_models.latent.base import LatentActionModel, LatentConfig
from lam_models.latent.labeling import model_device

MOTION_DIMS = (0, 1, 2, 5)       # dx, dy, dz, dyaw of the 7-D action
TRANSLATION = (0, 1, 2)          # columns of the 4-D motion target
ROTATION = (3,)
GRIPPER_DIM = 6
GRIPPER_CLASSES = ('closing', 'none', 'opening')
RIDGE_ALPHAS = tuple(float(a) for a in 10.0 ** np.arange(-4.0, 4.5, 1.0))  # x N samples
NAN = float('nan')


# -- targets -------------------------------------------------------------------------------------
def episode_motion(episode: Episode) -> np.ndarray | None:
    """The episode's ground-truth motion: robot ``actions`` or the human's ``hidden_motion``."""
    return episode.actions if episode.actions is not None else episode.hidden_motion


def gripper_change(grip: np.ndarray, starts: np.ndarray, gap: int, threshold: float = 0.25
                   ) -> np.ndarray:
    """Class (0 closing, 1 none, 2 opening) of the gripper command change seen by (o_t, o_t+n).

    Frame t shows the command issued after frame t-1, o_{t+n} the one issued after t+n-1.
    """
    before = grip[np.maximum(starts - 1, 0)]
    change = grip[starts + gap - 1] - before
    return np.where(change > threshold, 2, np.where(change < -threshold, 0, 1))


def moving_mask(motion: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """Rows whose translation or yaw exceeds ``fraction`` of that quantity's 95th percentile."""
    moving = np.zeros(len(motion), bool)
    for columns in (TRANSLATION, ROTATION):
        size = np.linalg.norm(motion[:, list(columns)], axis=1)
        scale = np.percentile(size, 95) if len(size) else 0.0
        moving |= size > max(fraction * scale, 1e-9)
    return moving


@dataclass
class WindowTargets:
    """Per-window ground truth, rows aligned with ``FrameWindows`` of the same episodes."""

    motion: np.ndarray    # (S, 4) dx, dy, dz, dyaw summed over the gap
    gripper: np.ndarray   # (S,) int, index into GRIPPER_CLASSES
    groups: np.ndarray    # (S,) episode number, for episode-wise folds

    @property
    def moving(self) -> np.ndarray:
        """Windows with visible motion (figures colour only these)."""
        return moving_mask(self.motion)

    def subset(self, rows: np.ndarray) -> WindowTargets:
        """The targets of ``rows``."""
        return WindowTargets(self.motion[rows], self.gripper[rows], self.groups[rows])


def window_targets(episodes: Sequence[Episode], gap: int) -> WindowTargets:
    """Targets of every window (o_t, o_{t+gap}) in ``FrameWindows`` row order; zeros if unknown."""
    motion, gripper, groups = [], [], []
    for number, episode in enumerate(episodes):
        starts = np.arange(max(len(episode) - gap, 0))
        values = episode_motion(episode)
        if values is None:
            motion.append(np.zeros((len(starts), len(MOTION_DIMS))))
            gripper.append(np.ones(len(starts), int))
        else:
            values = np.asarray(values, np.float64)
            motion.append(summed_over_gap(values[:, MOTION_DIMS], starts, gap))
            gripper.append(gripper_change(values[:, GRIPPER_DIM], starts, gap))
        groups.append(np.full(len(starts), number))
    return WindowTargets(np.concatenate(motion).astype(np.float64), np.concatenate(gripper),
                         np.concatenate(groups))


# -- encoding through the model's window interface -------------------------------------------------
def model_windows(model: LatentActionModel, episodes: Sequence[Episode]) -> FrameWindows:
    """The windows the model trains on: its gap, ``window_size`` frames, input size."""
    return FrameWindows(episodes, model.config.frame_gap, model.window_size - 1,
                        image_size=model.config.image_size)


@torch.no_grad()
def encode_indices(model: LatentActionModel, frames: torch.Tensor, indices: torch.Tensor,
                   batch_size: int = 256) -> np.ndarray:
    """Latents of windows given as frame rows (S, window_size) into uint8 ``frames``: (S, z_dim)."""
    if indices.shape[1] != model.window_size:
        raise ValueError(f'{model.name}: windows of {indices.shape[1]} frames, the model takes '
                         f'window_size={model.window_size}')
    device = model_device(model)
    latents = [model.encode_window(frames[indices[rows]].to(device).float().div_(255.0)).cpu()
               for rows in torch.arange(len(indices)).split(batch_size)]
    return torch.cat(latents).double().numpy()


def encode_windows(model: LatentActionModel, windows: FrameWindows, batch_size: int = 256
                   ) -> np.ndarray:
    """All windows' latents, (S, z_dim) float64."""
    return encode_indices(model, windows.frames, windows.indices, batch_size)


# -- probes ----------------------------------------------------------------------------------------
@dataclass
class FeatureScaler:
    """Standardize on the fit set and clip to its range (+25%), so shifted inputs stay bounded.

    Features with (almost) no spread on the fit set are dropped: dividing by their tiny
    std is what let a shifted input explode (pixel-diff human LP-MSE 341).
    """

    mean: np.ndarray
    scale: np.ndarray
    keep: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(cls, z: np.ndarray) -> FeatureScaler:
        """Statistics of the fit latents."""
        mean, std = z.mean(0), z.std(0)
        keep = std > max(1e-6 * float(std.max(initial=0.0)), 1e-12)
        scale = np.where(keep, std, 1.0)
        low, high = ((z - mean) / scale).min(0), ((z - mean) / scale).max(0)
        margin = 0.25 * (high - low)  # room for unseen but plausible values, still bounded
        return cls(mean, scale, keep, low - margin, high + margin)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Standardized, clipped features (S, kept)."""
        if not self.keep.any():  # a constant latent: one zero feature, probes predict the mean
            return np.zeros((len(z), 1))
        standard = np.clip((z - self.mean) / self.scale, self.low, self.high)
        return standard[:, self.keep]


def group_folds(groups: np.ndarray, folds: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, validation rows) with whole episodes on one side; [] for < 2 episodes."""
    unique = np.unique(groups)
    if len(unique) < 2:
        return []
    assignment = {g: i % min(folds, len(unique)) for i, g in enumerate(unique)}
    fold_of = np.array([assignment[g] for g in groups])
    return [(np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k))
            for k in range(min(folds, len(unique)))]


def ridge_path(x: np.ndarray, y: np.ndarray, alphas: Sequence[float],
               weight: np.ndarray | None = None) -> list[Callable[[np.ndarray], np.ndarray]]:
    """Ridge predictors for every alpha (penalty alpha * N, bias unpenalized), one SVD."""
    w = np.ones(len(x)) if weight is None else weight / weight.mean()
    x_mean = (w[:, None] * x).sum(0) / w.sum()
    y_mean = (w[:, None] * y).sum(0) / w.sum()
    root = np.sqrt(w)[:, None]
    u, s, vt = np.linalg.svd(root * (x - x_mean), full_matrices=False)
    projected = u.T @ (root * (y - y_mean))

    def predictor(alpha: float) -> Callable[[np.ndarray], np.ndarray]:
        coef = vt.T @ ((s / (s ** 2 + alpha * len(x)))[:, None] * projected)
        return lambda z: (z - x_mean) @ coef + y_mean

    return [predictor(alpha) for alpha in alphas]


def normalized_mse(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-dimension MSE / variance of ``target``; nan where the target is constant."""
    variance = target.var(0)
    error = ((prediction - target) ** 2).mean(0)
    return np.where(variance > 1e-10, error / np.maximum(variance, 1e-10), np.nan)


def mean_informative(values: np.ndarray) -> float:
    """Mean over dimensions that could be scored (nan if none)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else NAN


def balanced_accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Mean per-class recall over classes present; nan if fewer than 2 (nothing to tell apart)."""
    present = np.unique(labels)
    if len(present) < 2:
        return NAN
    return float(np.mean([(predicted[labels == c] == c).mean() for c in present]))


def class_weights(labels: np.ndarray, classes: int = len(GRIPPER_CLASSES)) -> np.ndarray:
    """Per-row weights so that every present class weighs the same."""
    counts = np.bincount(labels, minlength=classes).astype(float)
    return (len(labels) / (np.count_nonzero(counts) * np.maximum(counts, 1.0)))[labels]


def choose_alpha(x: np.ndarray, y: np.ndarray, groups: np.ndarray,
                 loss: Callable[[np.ndarray, np.ndarray], float],
                 weight: np.ndarray | None = None, alphas: Sequence[float] = RIDGE_ALPHAS
                 ) -> float:
    """The alpha with the lowest mean validation loss over episode-wise folds."""
    folds = group_folds(groups)
    if not folds:
        return 1.0
    losses = np.zeros(len(alphas))
    for fit_rows, val_rows in folds:
        fold_weight = None if weight is None else weight[fit_rows]
        for i, predict in enumerate(ridge_path(x[fit_rows], y[fit_rows], alphas, fold_weight)):
            value = loss(predict(x[val_rows]), y[val_rows])
            losses[i] += value if np.isfinite(value) else 0.0
    return float(alphas[int(np.argmin(losses))])


def _regression_loss(prediction: np.ndarray, target: np.ndarray) -> float:
    return mean_informative(normalized_mse(prediction, target))


def _classification_loss(scores: np.ndarray, one_hot: np.ndarray) -> float:
    accuracy = balanced_accuracy(scores.argmax(1), one_hot.argmax(1))
    return 1.0 - accuracy if np.isfinite(accuracy) else 0.0


def fit_ridge(x: np.ndarray, y: np.ndarray, groups: np.ndarray,
              weight: np.ndarray | None = None, classify: bool = False
              ) -> tuple[Callable[[np.ndarray], np.ndarray], float]:
    """(predictor, alpha) with alpha chosen by episode-wise CV; ``y`` one-hot if ``classify``."""
    loss = _classification_loss if classify else _regression_loss
    alpha = choose_alpha(x, y, groups, loss, weight)
    return ridge_path(x, y, [alpha], weight)[0], alpha


def linear_probe_mse(z_fit: np.ndarray, y_fit: np.ndarray, z_eval: np.ndarray,
                     y_eval: np.ndarray, groups: np.ndarray | None = None) -> float:
    """Ridge probe (CV-chosen strength, robust features) scored as mean_d MSE_d / Var_d.

    ``groups`` names each fit row's episode; without it, 5 contiguous blocks stand in
    (rows come in episode order). Constant evaluation targets are skipped.
    """
    if groups is None:
        groups = np.arange(len(z_fit)) * 5 // max(len(z_fit), 1)
    scaler = FeatureScaler.fit(z_fit)
    predict, _ = fit_ridge(scaler(z_fit), y_fit, groups)
    score = mean_informative(normalized_mse(predict(scaler(z_eval)), y_eval))
    if math.isnan(score):
        raise ValueError('linear_probe_mse: every evaluation target is constant')
    return score


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread: a tiny MLP is 4x faster so on a loaded 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class MotionMLP(nn.Module):
    """The small MLP probe: z -> (4 motion values, 3 gripper-change logits)."""

    def __init__(self, inputs: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(inputs, hidden), nn.GELU(), nn.Linear(hidden, hidden),
                                 nn.GELU(), nn.Linear(hidden, len(MOTION_DIMS) +
                                                      len(GRIPPER_CLASSES)))

    @override
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass
class ProbePredictions:
    """What a probe says about a set of windows."""

    motion: np.ndarray    # (S, 4)
    gripper: np.ndarray   # (S,) class index


class Probe:
    """Ridge or MLP probe z -> (motion, gripper change), fit on one set of windows."""

    def __init__(self, kind: str, z: np.ndarray, targets: WindowTargets, seed: int = 0,
                 mlp_steps: int = 300) -> None:
        if kind not in ('ridge', 'mlp'):
            raise ValueError(f'probe kind must be ridge or mlp, got {kind!r}')
        self.kind, self.scaler = kind, FeatureScaler.fit(z)
        self.alpha = NAN
        x = self.scaler(z)
        if kind == 'ridge':
            self._fit_ridge(x, targets)
        else:
            with single_thread():
                self._fit_mlp(x, targets, seed, mlp_steps)

    def _fit_ridge(self, x: np.ndarray, targets: WindowTargets) -> None:
        self.groups_predictors = []
        for columns in (TRANSLATION, ROTATION):
            predict, alpha = fit_ridge(x, targets.motion[:, list(columns)], targets.groups)
            self.groups_predictors.append(predict)
            self.alpha = alpha if math.isnan(self.alpha) else self.alpha
        one_hot = np.eye(len(GRIPPER_CLASSES))[targets.gripper]
        self.gripper_predictor, _ = fit_ridge(x, one_hot, targets.groups,
                                              class_weights(targets.gripper), classify=True)

    def _fit_mlp(self, x: np.ndarray, targets: WindowTargets, seed: int, steps: int) -> None:
        """Adam on MSE (standardized motion) + balanced CE, early-stopped on other episodes."""
        self.motion_mean = targets.motion.mean(0)
        self.motion_scale = np.maximum(targets.motion.std(0), 1e-9)
        y = torch.from_numpy((targets.motion - self.motion_mean) / self.motion_scale).float()
        labels = torch.from_numpy(targets.gripper).long()
        weight = torch.from_numpy(class_weights(targets.gripper)).float()
        inputs = torch.from_numpy(x).float()
        folds = group_folds(targets.groups)
        fit_rows, val_rows = folds[0] if folds else (np.arange(len(x)),) * 2
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.mlp = MotionMLP(x.shape[1])
        optimizer = torch.optim.Adam(self.mlp.parameters(), lr=3e-3, weight_decay=1e-4)

        def loss_on(rows: np.ndarray) -> torch.Tensor:
            out = self.mlp(inputs[rows])
            ce = (F.cross_entropy(out[:, 4:], labels[rows], reduction='none') * weight[rows])
            return F.mse_loss(out[:, :4], y[rows]) + ce.mean()

        best, best_state = math.inf, None
        for step in range(steps):
            optimizer.zero_grad(set_to_none=True)
            loss_on(fit_rows).backward()
            optimizer.step()
            if step % 20 == 19 or step == steps - 1:
                with torch.no_grad():
                    value = loss_on(val_rows).item()
                if value < best:
                    best = value
                    best_state = {k: v.clone() for k, v in self.mlp.state_dict().items()}
        if best_state is not None:
            self.mlp.load_state_dict(best_state)

    @torch.no_grad()
    def predict(self, z: np.ndarray) -> ProbePredictions:
        """Motion and gripper class for latents ``z``."""
        x = self.scaler(z)
        if self.kind == 'ridge':
            motion = np.concatenate([p(x) for p in self.groups_predictors], axis=1)
            return ProbePredictions(motion, self.gripper_predictor(x).argmax(1))
        with single_thread():
            out = self.mlp(torch.from_numpy(x).float()).double().numpy()
        return ProbePredictions(out[:, :4] * self.motion_scale + self.motion_mean,
                                out[:, 4:].argmax(1))


@dataclass
class ProbeScores:
    """One probe's scores on one set of windows (nan where nothing can be scored)."""

    translation: float = NAN   # mean over dx,dy,dz of MSE/Var (1.0 = predicting the mean)
    rotation: float = NAN      # dyaw MSE/Var
    gripper_acc: float = NAN   # balanced accuracy of the gripper change class

    @classmethod
    def of(cls, predicted: ProbePredictions, targets: WindowTargets) -> ProbeScores:
        """Score predictions against the true targets."""
        error = normalized_mse(predicted.motion, targets.motion)
        return cls(mean_informative(error[list(TRANSLATION)]),
                   mean_informative(error[list(ROTATION)]),
                   balanced_accuracy(predicted.gripper, targets.gripper))


def cross_fitted_scores(kind: str, z: np.ndarray, targets: WindowTargets, seed: int = 0
                        ) -> ProbeScores:
    """Probe fit and scored on disjoint episodes of one set: each fold predicted by the rest."""
    folds = group_folds(targets.groups)
    if not folds:
        return ProbeScores()
    motion = np.zeros_like(targets.motion)
    gripper = np.zeros_like(targets.gripper)
    for fit_rows, val_rows in folds:
        predicted = Probe(kind, z[fit_rows], targets.subset(fit_rows), seed).predict(z[val_rows])
        motion[val_rows], gripper[val_rows] = predicted.motion, predicted.gripper
    return ProbeScores.of(ProbePredictions(motion, gripper), targets)


def chance_accuracy(targets: WindowTargets) -> float:
    """Balanced accuracy of a guess: 1 / change classes present (nan if only one)."""
    present = len(np.unique(targets.gripper))
    return 1.0 / present if present > 1 else NAN


# -- S-PCFC ----------------------------------------------------------------------------------------
def _pair_windows(length: int, gap: int, size: int, t: np.ndarray, direction: int) -> np.ndarray:
    """Windows from o_{t+direction*gap} (context further along that way) to target o_t."""
    source = t + direction * gap
    context = [np.clip(source + direction * j * gap, 0, length - 1)
               for j in range(size - 2, -1, -1)]
    return np.stack(context + [t], axis=1)


@torch.no_grad()
def s_pcfc_details(model: LatentActionModel, episodes: Sequence[Episode],
                   moving_fraction: float = 0.1) -> tuple[float, int]:
    """(centred S-PCFC over moving windows, number of windows used); nan if none qualifies."""
    gap, size = model.config.frame_gap, model.window_size
    windows = model_windows(model, episodes)
    past, future, offset = [], [], 0
    moving_rows = []
    for episode in episodes:
        length, values = len(episode), episode_motion(episode)
        if values is None:
            raise ValueError('s_pcfc needs episodes with actions or hidden_motion')
        t = np.arange(gap, length - gap)
        if len(t):
            motion = np.asarray(values, np.float64)[:, MOTION_DIMS]
            moving_rows.append((summed_over_gap(motion, t - gap, gap),
                                summed_over_gap(motion, t, gap)))
            past.append(_pair_windows(length, gap, size, t, -1) + offset)
            future.append(_pair_windows(length, gap, size, t, +1) + offset)
        offset += length
    if not past:
        raise ValueError(f's_pcfc: no episode is longer than 2 * frame_gap = {2 * gap}')
    before = np.concatenate([m[0] for m in moving_rows])
    after = np.concatenate([m[1] for m in moving_rows])
    both = moving_mask(np.concatenate([before, after]), moving_fraction)
    keep = both[:len(before)] & both[len(before):]
    if not keep.any():
        return NAN, 0
    rows = [torch.from_numpy(np.concatenate(p)[keep]) for p in (past, future)]
    z_past, z_future = (encode_indices(model, windows.frames, r) for r in rows)
    mean = np.concatenate([z_past, z_future]).mean(0)
    a, b = z_past - mean, z_future - mean
    rms = float(np.sqrt((np.concatenate([a, b]) ** 2).sum(1).mean()))
    if rms < 1e-9:
        return NAN, int(keep.sum())  # a constant latent: no motion to be consistent about
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = (a * b).sum(1) / np.maximum(norms, (1e-6 * rms) ** 2)
    return float(cosine.mean()), int(keep.sum())


def s_pcfc(model: LatentActionModel, episodes: Sequence[Episode]) -> float:
    """Centred S-PCFC over moving windows (see module docstring); lower is better."""
    return s_pcfc_details(model, episodes)[0]


# -- reconstruction --------------------------------------------------------------------------------
def predict_from_window(model: LatentActionModel, window: torch.Tensor) -> torch.Tensor:
    """Predicted o_{t+n} from a real window (``model.predict_window``).

    A model without ``predict_window`` falls back to the FDM on z(window), or to
    ``predict_next`` for a pair model; one with context and neither raises
    NotImplementedError rather than be fed a window with o_t repeated.
    """
    predict = getattr(model, 'predict_window', None)
    if predict is not None:
        return predict(window)
    fdm = getattr(model, 'fdm', None)
    if fdm is not None:
        return model.denormalize(fdm(model.normalize(window[:, -2]),
                                     model.encode_window(window)))
    if window.shape[1] == 2:
        return model.predict_next(window[:, 0], window[:, 1])
    raise NotImplementedError(f'{model.name}: no predict_window and no fdm for a '
                              f'{window.shape[1]}-frame window')


def collapse_reference(model: LatentActionModel, o_t: torch.Tensor
                       ) -> tuple[torch.Tensor, str]:
    """(o_{t+n} guessed without motion, its name): ``model.collapse_reference``, else o_t.

    The base class returns o_t ('copy o_t'); an override (StaMo: decode(s(o_t))) is named
    by its docstring's opening up to ':'. A model without the method: copy o_t, said so.
    """
    method = getattr(type(model), 'collapse_reference', None)
    if method is None:
        return o_t, 'copy o_t (model has no collapse_reference)'
    if method is getattr(LatentActionModel, 'collapse_reference', None):
        return model.collapse_reference(o_t), 'copy o_t'
    summary = (method.__doc__ or '').strip().split('\n')[0]
    name = summary.split(':')[0] if ':' in summary else f'{model.name}.collapse_reference'
    return model.collapse_reference(o_t), name


@dataclass
class Reconstruction:
    """Prediction error of o_{t+n} and that of the no-motion reference."""

    prediction: float
    reference: float
    reference_name: str

    @property
    def ratio(self) -> float:
        """Prediction over reference error (>= 1: the latent adds nothing)."""
        return self.prediction / max(self.reference, 1e-12)


@torch.no_grad()
def reconstruction_errors(model: LatentActionModel, windows: FrameWindows,
                          max_samples: int = 512, batch_size: int = 64) -> Reconstruction:
    """Pixel MSE (images in [0, 1]) over evenly spaced real windows of the model's size."""
    device = model_device(model)
    rows = torch.linspace(0, len(windows) - 1, min(max_samples, len(windows))).long()
    predicted, reference, name = 0.0, 0.0, 'copy o_t'
    for chunk in rows.split(batch_size):
        window = windows.batch(chunk, device)['window']
        o_t, o_next = window[:, -2], window[:, -1]
        predicted += F.mse_loss(predict_from_window(model, window), o_next,
                                reduction='sum').item()
        guess, name = collapse_reference(model, o_t)
        reference += F.mse_loss(guess, o_next, reduction='sum').item()
    pixels = len(rows) * windows.frames[0].numel()
    return Reconstruction(predicted / pixels, reference / pixels, name)


# -- the pixel-difference baseline -----------------------------------------------------------------
class PixelDifferenceBaseline(LatentActionModel):
    """z = o_{t+n} - o_t average-pooled to ``pool_size``^2 x 3, PCA'd to ``z_dim`` if given.

    With ``z_dim`` the baseline is compared at a learned model's dimension; its PCA is fit
    by ``fit_pca`` (``evaluate_latent_model`` does it on the fit episodes).
    """

    name = 'pixel_difference'

    def __init__(self, frame_gap: int = 1, image_size: int = LatentConfig.image_size,
                 pool_size: int = 16, z_dim: int | None = None) -> None:
        features = 3 * pool_size ** 2
        super().__init__(LatentConfig(image_size=image_size, frame_gap=frame_gap,
                                      z_dim=z_dim or features))
        self.pool_size, self.pca_dim = pool_size, z_dim
        self.register_buffer('pca_mean', torch.zeros(features))
        self.register_buffer('pca_components', torch.zeros(z_dim or 0, features))
        self.pca_fitted = False

    def pooled(self, window: torch.Tensor) -> torch.Tensor:
        """The pooled frame difference (B, 3 * pool_size^2)."""
        return F.adaptive_avg_pool2d(window[:, -1] - window[:, -2], self.pool_size).flatten(1)

    @torch.no_grad()
    def fit_pca(self, episodes: Sequence[Episode]) -> PixelDifferenceBaseline:
        """Principal directions of the pooled differences of ``episodes``' windows."""
        windows = model_windows(self, episodes)
        features = torch.cat([self.pooled(windows.batch(rows)['window'])
                              for rows in torch.arange(len(windows)).split(512)]).double()
        mean = features.mean(0)
        _, _, vt = torch.linalg.svd(features - mean, full_matrices=False)
        components = torch.zeros_like(self.pca_components, dtype=torch.float64)
        components[:min(len(vt), self.pca_dim)] = vt[:self.pca_dim]
        self.pca_mean.copy_(mean.float())
        self.pca_components.copy_(components.float())
        self.pca_fitted = True
        return self

    @override
    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        features = self.pooled(window)
        if self.pca_dim is None:
            return features
        if not self.pca_fitted:
            raise RuntimeError('PixelDifferenceBaseline(z_dim=...): call fit_pca(episodes) first')
        return (features - self.pca_mean) @ self.pca_components.T

    def predict_window(self, window: torch.Tensor) -> torch.Tensor:
        """No decoder: o_t, so its reconstruction error is the copy error."""
        return window[:, -2]


# -- the report ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """One printed column of the report: dotted field path, header, format, meaning."""

    key: str
    header: str
    fmt: str
    doc: str


def _probe_columns(prefix: str, header: str, where: str) -> list[Column]:
    return [
        Column(f'{prefix}.translation', f'{header} trans', '{:.3f}',
               f'{where}: dx,dy,dz MSE/Var (1 = mean)'),
        Column(f'{prefix}.rotation', f'{header} yaw', '{:.3f}', f'{where}: dyaw MSE/Var'),
        Column(f'{prefix}.gripper_acc', f'{header} grip', '{:.2f}',
               f'{where}: gripper change balanced accuracy'),
    ]


@dataclass
class LatentReport:
    """One row of the comparison table; ``columns()`` lists every printed field."""

    z_dim: int
    robot_ridge: ProbeScores = field(default_factory=ProbeScores)
    robot_mlp: ProbeScores = field(default_factory=ProbeScores)
    human_within_ridge: ProbeScores = field(default_factory=ProbeScores)
    human_within_mlp: ProbeScores = field(default_factory=ProbeScores)
    human_cross_ridge: ProbeScores = field(default_factory=ProbeScores)
    human_cross_mlp: ProbeScores = field(default_factory=ProbeScores)
    gripper_chance: float = NAN
    ridge_alpha: float = NAN
    s_pcfc: float = NAN
    s_pcfc_windows: int = 0
    reconstruction: float = NAN
    reference_error: float = NAN
    collapse_ratio: float = NAN
    collapse_reference: str = ''

    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column('z_dim', 'z', '{:d}', 'latent dimension (pixel-diff is PCA-reduced to it)'),
        *_probe_columns('robot_ridge', 'robot ridge', 'held-out robot, ridge probe'),
        *_probe_columns('robot_mlp', 'robot mlp', 'held-out robot, MLP probe'),
        *_probe_columns('human_within_ridge', 'hum-in ridge',
                        'human, probe fit on other human episodes, ridge'),
        *_probe_columns('human_within_mlp', 'hum-in mlp', 'human within-human, MLP'),
        *_probe_columns('human_cross_ridge', 'hum-x ridge',
                        'human, probe fit on robot latents, ridge'),
        *_probe_columns('human_cross_mlp', 'hum-x mlp', 'human cross-embodiment, MLP'),
        Column('gripper_chance', 'grip chance', '{:.2f}',
               'held-out robot gripper balanced accuracy of a guess'),
        Column('ridge_alpha', 'alpha', '{:.0e}', 'CV-chosen ridge strength (x N), robot trans'),
        Column('s_pcfc', 'S-PCFC', '{:.3f}', 'centred, moving windows; lower is better'),
        Column('s_pcfc_windows', 'S-PCFC n', '{:d}', 'windows S-PCFC averaged over'),
        Column('reconstruction', 'recon MSE', '{:.5f}', 'predicted o_t+n pixel MSE'),
        Column('reference_error', 'ref MSE', '{:.5f}', 'no-motion reference pixel MSE'),
        Column('collapse_ratio', 'collapse', '{:.3f}', 'recon / ref (>= 1: latent adds nothing)'),
        Column('collapse_reference', 'reference', '{}', 'what the reference is'),
    )

    @classmethod
    def columns(cls) -> tuple[Column, ...]:
        """Every printed field, in table order."""
        return cls.COLUMNS

    def value(self, key: str) -> float | int | str:
        """A field by dotted path, e.g. ``robot_ridge.translation``."""
        value: object = self
        for part in key.split('.'):
            value = getattr(value, part)
        return value  # type: ignore[return-value]

    def rows(self) -> list[tuple[str, str]]:
        """(header, formatted value) for every column."""
        return [(c.header, c.fmt.format(self.value(c.key))) for c in self.columns()]

    def as_table_row(self) -> dict[str, float | int | str]:
        """Flat {dotted field: value}, e.g. for JSON."""
        return {c.key: self.value(c.key) for c in self.columns()}


def _latents(model: LatentActionModel, episodes: Sequence[Episode]
             ) -> tuple[np.ndarray, WindowTargets]:
    return (encode_windows(model, model_windows(model, episodes)),
            window_targets(episodes, model.config.frame_gap))


def evaluate_latent_model(model: LatentActionModel, fit_episodes: Sequence[Episode],
                          eval_episodes: Sequence[Episode],
                          human_episodes: Sequence[Episode] = (), seed: int = 0,
                          max_reconstructions: int = 512) -> LatentReport:
    """Every metric of the module docstring; probes fit on ``fit_episodes`` (robot)."""
    model.eval()
    if isinstance(model, PixelDifferenceBaseline) and model.pca_dim and not model.pca_fitted:
        model.fit_pca(fit_episodes)
    z_fit, y_fit = _latents(model, fit_episodes)
    z_eval, y_eval = _latents(model, eval_episodes)
    report = LatentReport(z_dim=int(z_fit.shape[1]), gripper_chance=chance_accuracy(y_eval))
    if human_episodes:
        z_human, y_human = _latents(model, human_episodes)
    for kind in ('ridge', 'mlp'):
        probe = Probe(kind, z_fit, y_fit, seed)
        setattr(report, f'robot_{kind}', ProbeScores.of(probe.predict(z_eval), y_eval))
        report.ridge_alpha = probe.alpha if kind == 'ridge' else report.ridge_alpha
        if human_episodes:
            setattr(report, f'human_cross_{kind}',
                    ProbeScores.of(probe.predict(z_human), y_human))
            setattr(report, f'human_within_{kind}',
                    cross_fitted_scores(kind, z_human, y_human, seed))
    report.s_pcfc, report.s_pcfc_windows = s_pcfc_details(model, eval_episodes)
    try:
        recon = reconstruction_errors(model, model_windows(model, eval_episodes),
                                      max_reconstructions)
        report.reconstruction, report.reference_error = recon.prediction, recon.reference
        report.collapse_ratio, report.collapse_reference = recon.ratio, recon.reference_name
    except NotImplementedError as exc:
        report.collapse_reference = f'n/a ({exc})'
    return report
