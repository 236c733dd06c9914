# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The training dataset on disk: one HDF5 file of Episodes (robomimic-like).

Recordings (MCAP sessions, read by the one bag reader) and simulator episodes
become one file that training, labeling and export read without touching a
bag again. Layout (``format_version`` 1; the schema of plan_session3.md)::

    /  attrs: format='lam_ros.dataset', format_version, software_version
    /episodes/episode_000000/     insertion order
        attrs: embodiment, task, instruction, success (int8: -1 unknown, 0, 1), source,
               metadata_json (Episode.metadata), action_space ('' without actions), camera
        frames          (T,H,W,3) uint8, one chunk per frame, lzf
        timestamps      (T,) float64 s
        joint_positions (T,J) float32      when the episode has them (robot)
        actions         (T,A) float32      robot only
        hidden_motion   (T,A) float32      simulated human only (metrics, never training)
        effector_positions (T,3) float32   the effector's path, m: simulated episodes, and
                                           recorded robot ones (FK of their joints); a
                                           human's is ground truth, read only as an oracle's
        pseudo_actions/<model>/values (T,Z) float32, valid (T,) bool   written by labeling
    /pseudo_actions/<model>        attrs: checkpoint, checkpoint_sha256, z_dim, frame_gap

Frames are lzf-compressed: on 128 px sim frames lzf wrote 1.5x and read 1.3-2x
faster than gzip level 1 for 25% more bytes (0.89 vs 1.14 MB per 44 frames;
256 px alike), and the training loader reads frames at random, so read speed wins.
A file is built as ``<out>.tmp`` and renamed when complete: an interrupted build
never leaves a half file under the real name.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
import importlib.metadata
import json
import logging
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from tqdm import tqdm

from lam_models.data.bags import iter_session, list_episodes
from lam_models.data.episode import (
    CONTROL_RATE_HZ,
    EMBODIMENTS,
    SOURCE_FRAME_SHAPE,
    Episode,
    at_frame_rate,
    uneven_rows,
)
from lam_models.data.images import resize_frames

log = logging.getLogger(__name__)

FORMAT = 'lam_ros.dataset'
FORMAT_VERSION = 1
EPISODES = 'episodes'
PSEUDO_ACTIONS = 'pseudo_actions'
FRAME_COMPRESSION = 'lzf'
ARRAYS = {'actions': np.float32, 'joint_positions': np.float32, 'hidden_motion': np.float32,
          'effector_positions': np.float32}
SUCCESS_CODES = {None: -1, False: 0, True: 1}


class DatasetError(ValueError):
    """A dataset file is missing, not ours, or inconsistent; the message names the file."""


def episode_name(index: int) -> str:
    """The group name of the ``index``-th episode (``episode_000042``)."""
    return f'episode_{index:06d}'


def software_version() -> str:
    """The installed lam_ros version, recorded in every file this code writes."""
    try:
        return importlib.metadata.version('lam_ros')
    except importlib.metadata.PackageNotFoundError:
        return 'unknown'


# -- writing --------------------------------------------------------------------------------
def episode_source(episode: Episode) -> str:
    """Where an episode came from: its bag directory, or the simulator seed."""
    meta = episode.metadata
    if 'bag_dir' in meta:
        return str(meta['bag_dir'])
    if meta.get('source') == 'lam_ros.sim':
        return f"lam_ros.sim seed={meta.get('seed')}"
    return str(meta.get('source', ''))


def episode_action_space(episode: Episode) -> str:
    """What the action columns mean ('' for an episode without actions)."""
    if episode.actions is None:
        return ''
    meta = episode.metadata
    if meta.get('action_space'):
        return str(meta['action_space'])
    if meta.get('action_names'):
        return f"joint_position [{', '.join(meta['action_names'])}]"
    return 'unknown'


def _metadata_json(episode: Episode, label: str) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, (np.ndarray, np.generic)):
            return value.tolist()
        raise TypeError(f'{type(value).__name__} is not JSON serializable')
    try:
        return json.dumps(episode.metadata, default=plain, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f'{label}: Episode.metadata cannot be stored as JSON: {exc}') \
            from None


def _check_episode(episode: Episode, label: str) -> None:
    """Refuse an Episode the reader could not give back as it was."""
    if episode.embodiment not in EMBODIMENTS:
        raise DatasetError(f'{label}: embodiment {episode.embodiment!r} is not one of '
                           f'{EMBODIMENTS}')
    if len(episode) == 0:
        raise DatasetError(f'{label}: episode has no frames')
    for name in ARRAYS:
        value = getattr(episode, name)
        if value is not None and np.asarray(value).ndim != 2:
            raise DatasetError(f'{label}: {name} must be (T, D), got shape '
                               f'{np.shape(value)}')


def _write_episode(group: h5py.Group, episode: Episode, label: str) -> None:
    frames = episode.frames
    group.attrs.update({
        'embodiment': episode.embodiment, 'task': episode.task,
        'instruction': episode.instruction,
        'success': np.int8(SUCCESS_CODES[None if episode.success is None
                                         else bool(episode.success)]),
        'source': episode_source(episode), 'metadata_json': _metadata_json(episode, label),
        'action_space': episode_action_space(episode),
        'camera': str(episode.metadata.get('camera_topic')
                      or episode.metadata.get('camera', '')),
    })
    group.create_dataset('frames', data=frames, chunks=(1, *frames.shape[1:]),
                         compression=FRAME_COMPRESSION)
    group.create_dataset('timestamps', data=np.asarray(episode.timestamps, np.float64))
    for name, dtype in ARRAYS.items():
        value = getattr(episode, name)
        if value is not None:
            group.create_dataset(name, data=np.asarray(value, dtype))


def _output_check(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise DatasetError(f'{path} exists already; pass overwrite=True (--overwrite) '
                           'to replace it')
    if not path.parent.is_dir():
        raise DatasetError(f'{path}: directory {path.parent} does not exist')


def write_dataset(episodes: Iterable[Episode], path: str | Path,
                  overwrite: bool = False) -> int:
    """Write Episodes (from bags or the simulator) to a new dataset file; return how many.

    The file appears under ``path`` only once every episode is in it. An empty
    ``episodes`` is refused: a dataset of nothing is always a mistake upstream.
    ``Episode.pseudo_actions`` is not written (labels belong to a named model;
    ``lam-ros label`` writes them).
    """
    path = Path(path)
    _output_check(path, overwrite)
    tmp = path.with_name(path.name + '.tmp')
    count = 0
    try:
        with h5py.File(tmp, 'w', track_order=True) as f:
            f.attrs.update(format=FORMAT, format_version=FORMAT_VERSION,
                           software_version=software_version())
            group = f.create_group(EPISODES, track_order=True)
            f.create_group(PSEUDO_ACTIONS, track_order=True)
            for episode in episodes:
                name = episode_name(count)
                label = f'{path}: {name} ({episode_source(episode)})'
                _check_episode(episode, label)
                _write_episode(group.create_group(name), episode, label)
                count += 1
        if count == 0:
            raise DatasetError(f'{path}: no episodes to write; nothing was created')
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


UNEVEN_ROWS_WARNING = 0.05   # an episode with more of its rows out of step is named in a warning


def build_dataset(session_dirs: Sequence[str | Path], out: str | Path,
                  camera_topic: str | None = None, overwrite: bool = False,
                  progress: bool = False,
                  effector_path: Callable[[Episode], np.ndarray | None] | None = None,
                  rate_hz: float | None = CONTROL_RATE_HZ, successful_only: bool = False) -> int:
    """Read recorded sessions with the one bag reader into a new dataset; return the count.

    Every session directory is checked before anything is read (a typo fails at
    once, with no output); an unreadable episode is skipped with a warning naming
    its bag, as ``read_session`` does, and the rest is still built. ``effector_path``
    (episode -> (T, 3) m or None) stores where a robot episode's effector went: the arm's
    forward kinematics, which lam_models does not own (``lam-ros dataset build`` passes it).
    A robot episode gets one row per command (``read_episode(rows='commands')``), a human
    one's frames faster than ``rate_hz`` are thinned to it (``at_frame_rate``); None keeps
    every frame. ``camera_topic`` None: each episode's policy camera as its recorder said.
    ``successful_only`` leaves out the episodes saved as failed (unknown ones stay).
    """
    out = Path(out)
    _output_check(out, overwrite)
    rows = 'frames' if rate_hz is None else 'commands'   # a robot episode: one row per command
    sessions = [(Path(d), iter_session(d, camera_topic=camera_topic, rows=rows))
                for d in session_dirs]
    if not sessions:
        raise DatasetError(f'{out}: no session directories given')
    total = sum(len(list_episodes(d)) for d, _ in sessions)
    failed: list[str] = []   # left out by successful_only

    def episodes() -> Iterator[Episode]:
        with _progress(total, f'building {out.name}', progress) as bar:
            for _, session in sessions:
                for episode in session:
                    bar.update(1)
                    if successful_only and episode.success is False:
                        failed.append(str(episode.metadata.get('bag_dir', '?')))
                        continue
                    if rate_hz is not None:
                        episode = at_frame_rate(episode, rate_hz)
                    uneven = uneven_rows(episode)
                    if uneven > UNEVEN_ROWS_WARNING:
                        log.warning(
                            '%s: %.0f%% of its rows are unevenly spaced (a camera that '
                            'slowed down, auto-exposure priority?, or a teleop that missed '
                            'ticks)',
                            episode.metadata.get('bag_dir', '?'), 100 * uneven)
                    path = None if effector_path is None or episode.effector_positions \
                        is not None else effector_path(episode)
                    yield episode if path is None else replace(episode, effector_positions=path)
    try:
        return write_dataset(episodes(), out, overwrite=overwrite)
    except DatasetError as error:
        if failed:   # e.g. hardware sessions from before the teleop asked (all saved failed)
            raise DatasetError(f'{error} ({len(failed)} episodes saved as failed were left '
                               'out: successful_only)') from None
        raise
    finally:
        if failed:
            log.warning('%d episodes saved as failed left out (successful_only), e.g. %s',
                        len(failed), failed[0])


def _progress(total: int, desc: str, enabled: bool) -> tqdm:
    return tqdm(total=total, desc=desc, unit='episode', disable=not enabled)


# -- reading --------------------------------------------------------------------------------
def _text(value: Any) -> Any:
    """An HDF5 attribute as plain Python (str, int, float)."""
    if isinstance(value, bytes):
        return value.decode()
    return value.item() if isinstance(value, np.generic) else value


class Dataset:
    """Read access to a dataset file (a context manager; ``close()`` otherwise).

    Every inconsistency is a DatasetError naming the file and the group.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._frames: dict[str, h5py.Dataset] = {}
        if not self.path.is_file():
            raise DatasetError(f'{self.path} does not exist (expected a {FORMAT} HDF5 file)')
        try:
            self._file = h5py.File(self.path, 'r')
        except OSError as exc:
            raise DatasetError(f'{self.path} is not a readable HDF5 file ({exc})') from None
        try:
            self._check_root()
        except BaseException:
            self._file.close()
            raise

    def _check_root(self) -> None:
        found = _text(self._file.attrs.get('format'))
        if found != FORMAT:
            raise DatasetError(f'{self.path}: format attribute is {found!r}, expected '
                               f'{FORMAT!r} (not a lam_ros dataset)')
        version = int(self._file.attrs.get('format_version', -1))
        if version != FORMAT_VERSION:
            raise DatasetError(f'{self.path}: format_version {version}, this code reads '
                               f'{FORMAT_VERSION}')
        if not isinstance(self._file.get(EPISODES), h5py.Group):
            raise DatasetError(f'{self.path}: no /{EPISODES} group')

    def close(self) -> None:
        """Close the file (idempotent)."""
        self._file.close()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def attrs(self) -> dict[str, Any]:
        """The file's root attributes (format, format_version, software_version)."""
        return {k: _text(v) for k, v in self._file.attrs.items()}

    @property
    def episode_names(self) -> list[str]:
        """Every episode, in the order it was written."""
        return list(self._file[EPISODES])

    def names(self, embodiment: str | None = None, task: str | None = None) -> list[str]:
        """Episode names filtered by embodiment ('robot' | 'human') and/or task."""
        if embodiment is not None and embodiment not in EMBODIMENTS:
            raise ValueError(f'embodiment must be one of {EMBODIMENTS}, got {embodiment!r}')
        return [n for n in self.episode_names
                if (embodiment is None or self.episode_attrs(n)['embodiment'] == embodiment)
                and (task is None or self.episode_attrs(n)['task'] == task)]

    @property
    def pseudo_action_models(self) -> list[str]:
        """Names of the latent models whose labels this file holds."""
        group = self._file.get(PSEUDO_ACTIONS)
        return list(group) if isinstance(group, h5py.Group) else []

    def pseudo_action_attrs(self, model: str) -> dict[str, Any]:
        """checkpoint, checkpoint_sha256, z_dim, frame_gap of one model's labels."""
        group = self._file.get(f'{PSEUDO_ACTIONS}/{model}')
        if not isinstance(group, h5py.Group):
            raise DatasetError(f'{self.path}: no /{PSEUDO_ACTIONS}/{model} group (labelled: '
                               f'{self.pseudo_action_models})')
        return {k: _text(v) for k, v in group.attrs.items()}

    def _group(self, name: str) -> h5py.Group:
        group = self._file[EPISODES].get(name)
        if not isinstance(group, h5py.Group):
            raise DatasetError(f'{self.path}: no episode {EPISODES}/{name}')
        return group

    def _array(self, group: h5py.Group, name: str, rows: int | None,
               required: bool = True) -> h5py.Dataset | None:
        data = group.get(name)
        if data is None:
            if required:
                raise DatasetError(f'{self.path}: {group.name} has no {name} dataset')
            return None
        if not isinstance(data, h5py.Dataset):
            raise DatasetError(f'{self.path}: {group.name}/{name} is not a dataset')
        if rows is not None and (data.ndim == 0 or len(data) != rows):
            raise DatasetError(f'{self.path}: {data.name} has shape {data.shape}, '
                               f'expected {rows} rows (one per frame)')
        return data

    def episode_attrs(self, name: str) -> dict[str, Any]:
        """An episode's attributes (embodiment, task, success, source, ...), as stored."""
        return {k: _text(v) for k, v in self._group(name).attrs.items()}

    def metadata(self, name: str) -> dict[str, Any]:
        """An episode's ``Episode.metadata``, as it was written."""
        text = self.episode_attrs(name).get('metadata_json', '{}')
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f'{self.path}: {EPISODES}/{name} metadata_json is not JSON: '
                               f'{exc}') from None

    def frames(self, name: str) -> h5py.Dataset:
        """An episode's frames for random access (indexing reads only those frames).

        Handles are kept: opening and checking one costs ~1 ms, reading a frame ~0.1 ms.
        """
        if name not in self._frames:
            data = self._array(self._group(name), 'frames', None)
            if data.ndim != 4 or data.shape[-1] != 3 or data.dtype != np.uint8:
                raise DatasetError(f'{self.path}: {data.name} is {data.shape} {data.dtype}, '
                                   'expected (T, H, W, 3) uint8')
            self._frames[name] = data
        return self._frames[name]

    def array(self, name: str, key: str) -> np.ndarray | None:
        """One per-frame array of an episode (timestamps, actions, ...) without its frames.

        None when the episode has no such array (a human episode's actions).
        """
        group = self._group(name)
        rows = len(self.frames(name))
        data = self._array(group, key, rows, required=key == 'timestamps')
        return None if data is None else data[()]

    def __len__(self) -> int:
        return len(self._file[EPISODES])

    def read_episode(self, name: str, pseudo_actions: str | None = None,
                     image_size: int | None = None) -> Episode:
        """The stored Episode; with ``pseudo_actions=<model>`` its labels too.

        Labels go to ``Episode.pseudo_actions`` and their validity mask to
        ``metadata['pseudo_valid']`` (the last frame_gap rows have no label).
        ``image_size``: frames resized to a model's square input as they are read, the
        recorded shape kept as ``metadata['source_frame_shape']``: a camera's 640x480
        frames are 0.9 MB each, and a lab's demos at full size do not fit in memory.
        """
        group = self._group(name)
        frames = self.frames(name)
        rows = len(frames)
        attrs = self.episode_attrs(name)
        arrays = {key: self._array(group, key, rows, required=False) for key in ARRAYS}
        metadata = self.metadata(name)
        pixels = frames[()]
        if image_size is not None:
            metadata.setdefault(SOURCE_FRAME_SHAPE, list(pixels.shape[1:3]))
            pixels = resize_frames(pixels, image_size)
        pseudo = None
        if pseudo_actions is not None:
            values, valid = self._pseudo_actions(group, pseudo_actions, rows)
            pseudo, metadata['pseudo_valid'] = values, valid
        success = int(attrs.get('success', -1))
        return Episode(
            frames=pixels, timestamps=self._array(group, 'timestamps', rows)[()],
            embodiment=attrs.get('embodiment', 'robot'),
            **{key: None if data is None else data[()] for key, data in arrays.items()},
            pseudo_actions=pseudo, task=attrs.get('task', ''),
            instruction=attrs.get('instruction', ''),
            success=None if success < 0 else bool(success), metadata=metadata)

    def _pseudo_actions(self, group: h5py.Group, model: str,
                        rows: int) -> tuple[np.ndarray, np.ndarray]:
        labels = group.get(f'{PSEUDO_ACTIONS}/{model}')
        if not isinstance(labels, h5py.Group):
            present = list(group.get(PSEUDO_ACTIONS, {}))
            raise DatasetError(f'{self.path}: {group.name} has no {PSEUDO_ACTIONS}/{model} '
                               f'(labelled with: {present})')
        values = self._array(labels, 'values', rows)[()]
        valid = self._array(labels, 'valid', rows)[()]
        if values.ndim != 2 or valid.ndim != 1:
            raise DatasetError(f'{self.path}: {labels.name} values {values.shape} / valid '
                               f'{valid.shape}, expected (T, Z) / (T,)')
        return values.astype(np.float32, copy=False), valid.astype(bool, copy=False)


def read_episodes(path: str | Path, pseudo_actions: str | None = None,
                  image_size: int | None = None) -> list[Episode]:
    """Every episode of the dataset at ``path``, in order (with one model's labels).

    ``image_size``: each episode's frames resized to it as it is read (``read_episode``).
    """
    with Dataset(path) as dataset:
        return [dataset.read_episode(name, pseudo_actions, image_size)
                for name in dataset.episode_names]
