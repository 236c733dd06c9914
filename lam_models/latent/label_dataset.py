# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``lam-ros label``: pseudo-actions for every episode of a dataset file, resumable and crash-safe.

    lam-ros label --model runs/como/last.safetensors data/demos.h5 [--batch-size N]

An HDF5 file open for writing can be left unreadable by a kill (its metadata
half written), and labelling a large dataset takes a while, so labels are
computed into a journal beside the file, ``<dataset>.labels-<name>/episode_xxxxxx.npz``
(each written under a temporary name, fsynced and renamed: an entry is either
complete or absent). At the end the journal is merged into a copy of the file,
``<dataset>.merging`` (the file is never opened for writing itself), which is
fsynced and renamed over the file, and the journal is removed. A kill at any point
leaves the file as it was or fully labelled: a rerun resumes from the journal, and
a kill during the merge only means the merge is done again (a leftover
``.merging`` is deleted first). The price is one copy of the file per run that
merges: time to copy it, and its size again in free disk space for a moment.
Labels carry the sha256 of the checkpoint's weights (its sidecar's
``weights_sha256``); labels of another checkpoint under the same name, in the file
or the journal, are refused unless ``--overwrite``. Two runs on one file at once
are not supported (the later rename wins).

Layout written (the dataset schema, ``lam_models.data.dataset``)::

    /episodes/<ep>/pseudo_actions/<name>/values (T, Z) float32, valid (T,) bool
        attrs: checkpoint, checkpoint_sha256, model, frame_gap
    /pseudo_actions/<name>  attrs: checkpoint, checkpoint_sha256, z_dim, frame_gap
"""
from __future__ import annotations

import argparse
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
import json
import os
from pathlib import Path
import re
import shutil
import sys
import time
from typing import Any, BinaryIO, Callable

import h5py
import numpy as np
import torch
from tqdm import tqdm

from lam_models.checkpoints import CheckpointError
from lam_models.data.dataset import EPISODES, PSEUDO_ACTIONS, Dataset, DatasetError
from lam_models.latent.base import LatentActionModel, load_latent_model
from lam_models.latent.labeling import DEFAULT_BATCH_SIZE, checkpoint_sha256, label_frames

NAME_PATTERN = r'[A-Za-z0-9][A-Za-z0-9_.-]*'
JOURNAL_FILE = 'journal.json'


class LabelError(ValueError):
    """Labels cannot be written as asked (mixed checkpoints, bad name); names the file."""


@dataclass(frozen=True)
class LabelSource:
    """Which labels these are: the name they are stored under and the checkpoint behind them."""

    name: str
    checkpoint: str
    sha256: str         # the checkpoint sidecar's weights_sha256
    model: str          # the model class name ('como', ...)
    z_dim: int
    frame_gap: int

    def attrs(self) -> dict[str, Any]:
        """What the file's ``/pseudo_actions/<name>`` group and the journal record."""
        return {'checkpoint': self.checkpoint, 'checkpoint_sha256': self.sha256,
                'model': self.model, 'z_dim': self.z_dim, 'frame_gap': self.frame_gap}


@dataclass
class LabelReport:
    """What a run did, for the summary line and tests."""

    episodes: int = 0        # in the file
    in_file: int = 0         # already labelled by this checkpoint, untouched
    from_journal: int = 0    # computed by an earlier (interrupted) run
    computed: int = 0
    pairs: int = 0           # valid labels computed by this run
    seconds: float = 0.0     # computing them


def load_labeler(checkpoint: str | Path, name: str | None = None,
                 device: str | None = None) -> tuple[LatentActionModel, LabelSource]:
    """The model of ``checkpoint`` (on ``device``, default: cuda when present) and its identity."""
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    model = load_latent_model(checkpoint, map_location=device)
    name = name or model.name
    if not re.fullmatch(NAME_PATTERN, name):
        raise LabelError(f'label name {name!r} must match {NAME_PATTERN}')
    # the absolute path: the file is read from other directories later
    return model, LabelSource(name, os.path.abspath(checkpoint), checkpoint_sha256(checkpoint),
                              model.name, model.config.z_dim, model.config.frame_gap)


def journal_dir(dataset: str | Path, name: str) -> Path:
    """``<dataset>.labels-<name>/``: where labels wait before the merge."""
    dataset = Path(dataset)
    return dataset.with_name(f'{dataset.name}.labels-{name}')


# -- durable writes -----------------------------------------------------------------------------
def _fsync(path: Path) -> None:
    """Flush a file or a directory to the disk by name (on Linux any descriptor will do)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_durably(path: Path, write: Callable[[Path], None], tmp: Path | None = None) -> None:
    """``write(tmp)``, fsync ``tmp``, rename it over ``path``, fsync the directory.

    ``path`` is complete (old or new) at every instant, and the new one survives a
    power cut once this returns. ``tmp`` (default ``.<name>.tmp`` beside ``path``)
    must be on the same file system.
    """
    tmp = tmp or path.with_name(f'.{path.name}.tmp')
    write(tmp)
    _fsync(tmp)
    tmp.replace(path)
    _fsync(path.parent)   # the rename itself survives a power cut


def _write_bytes(write: Callable[[BinaryIO], object]) -> Callable[[Path], None]:
    """A ``_write_durably`` writer calling ``write(file)`` on the new file."""
    def to(tmp: Path) -> None:
        with tmp.open('wb') as f:
            write(f)
    return to


# -- the journal ------------------------------------------------------------------------------
def open_journal(dataset: Path, source: LabelSource, overwrite: bool) -> Path:
    """The journal directory for ``source``, created or checked.

    A journal of a different checkpoint is refused, or cleared with ``overwrite``.
    """
    journal = journal_dir(dataset, source.name)
    record = journal / JOURNAL_FILE
    if record.is_file():
        found = json.loads(record.read_text())
        if found.get('checkpoint_sha256') != source.sha256:
            if not overwrite:
                raise LabelError(
                    f'{journal}: an interrupted run labelled {source.name!r} with checkpoint '
                    f'{found.get("checkpoint")} (sha256 {str(found.get("checkpoint_sha256"))[:12]}'
                    f'), not {source.checkpoint} (sha256 {source.sha256[:12]}); rerun with that '
                    'checkpoint to finish it, or --overwrite to discard it')
            shutil.rmtree(journal)
    journal.mkdir(exist_ok=True)
    if not record.is_file():
        _write_durably(record, _write_bytes(
            lambda f: f.write(json.dumps(source.attrs(), indent=1).encode())))
    return journal


def write_entry(journal: Path, episode: str, values: np.ndarray, valid: np.ndarray) -> None:
    """One episode's labels into the journal, atomically."""
    _write_durably(journal / f'{episode}.npz',
                   _write_bytes(lambda f: np.savez(f, values=values, valid=valid)))


def read_entry(journal: Path, episode: str, frames: int,
               z_dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    """An episode's journaled labels, or None when absent or not for these ``frames``."""
    path = journal / f'{episode}.npz'
    if not path.is_file():
        return None
    try:
        with np.load(path) as entry:
            values, valid = entry['values'], entry['valid']
    except (OSError, ValueError, KeyError):
        return None
    if values.shape != (frames, z_dim) or valid.shape != (frames,):
        return None   # the episode changed since (a rebuilt dataset): label it again
    return values, valid


# -- the dataset file --------------------------------------------------------------------------
def _labels_sha(group: object) -> str | None:
    if not isinstance(group, h5py.Group):
        return None
    value = group.attrs.get('checkpoint_sha256')
    return value.decode() if isinstance(value, bytes) else value


def labelled_episodes(path: Path, source: LabelSource, lengths: dict[str, int],
                      overwrite: bool) -> tuple[set[str], bool]:
    """(episodes already labelled by this checkpoint, whether the file-level group is too).

    Labels of another checkpoint under ``source.name`` (the file-level group or any
    episode's) are refused unless ``overwrite``; then those episodes count as unlabelled.
    """
    with h5py.File(path, 'r') as f:
        root_sha = _labels_sha(f.get(f'{PSEUDO_ACTIONS}/{source.name}'))
        found, done = {root_sha}, set()
        for name, frames in lengths.items():
            group = f[EPISODES][name].get(f'{PSEUDO_ACTIONS}/{source.name}')
            found.add(_labels_sha(group))
            if _labels_sha(group) == source.sha256 and 'values' in group and \
                    group['values'].shape == (frames, source.z_dim):
                done.add(name)
    others = sorted(s for s in found if s not in (None, source.sha256))
    if others and not overwrite:
        raise LabelError(
            f'{path}: pseudo_actions/{source.name} were written by another checkpoint '
            f'(sha256 {", ".join(s[:12] for s in others)}), not {source.checkpoint} (sha256 '
            f'{source.sha256[:12]}); --overwrite replaces them, --name keeps both')
    return done, root_sha == source.sha256


def merging_path(path: Path) -> Path:
    """``<dataset>.merging``: the copy of the file the journal is merged into."""
    return path.with_name(f'{path.name}.merging')


def merge_journal(path: Path, journal: Path, source: LabelSource,
                  episodes: list[str]) -> None:
    """Write the journaled labels of ``episodes`` into the file, never opening it for writing.

    They go into a copy (``merging_path``), which is fsynced and renamed over the
    file: a kill leaves the old file or the new one, never a half-written one. A
    copy left by a killed merge is deleted and the merge done again.
    """
    merging = merging_path(path)
    merging.unlink(missing_ok=True)

    def merge(copy: Path) -> None:
        shutil.copyfile(path, copy)
        shutil.copymode(path, copy)
        with h5py.File(copy, 'r+') as f:
            _write_labels(f, journal, source, episodes)
    _write_durably(path, merge, tmp=merging)


def _write_labels(f: h5py.File, journal: Path, source: LabelSource,
                  episodes: list[str]) -> None:
    """The labels of ``episodes`` and the file-level group into ``f``, replacing old ones."""
    root = f.require_group(PSEUDO_ACTIONS)
    if source.name in root:
        del root[source.name]
    root.create_group(source.name).attrs.update(
        {k: v for k, v in source.attrs().items() if k != 'model'})
    for name in episodes:
        with np.load(journal / f'{name}.npz') as entry:
            values, valid = entry['values'], entry['valid']
        labels = f[EPISODES][name].require_group(PSEUDO_ACTIONS)
        if source.name in labels:
            del labels[source.name]
        group = labels.create_group(source.name)
        group.create_dataset('values', data=values)
        group.create_dataset('valid', data=valid)
        group.attrs.update({k: v for k, v in source.attrs().items() if k != 'z_dim'})


def label_dataset(path: str | Path, model: LatentActionModel, source: LabelSource,
                  batch_size: int = DEFAULT_BATCH_SIZE, overwrite: bool = False,
                  progress: bool = True) -> LabelReport:
    """Label every episode of the dataset at ``path`` with ``model``; see the module doc."""
    path = Path(path)
    with Dataset(path) as dataset:    # checks it is a dataset file before anything is written
        lengths = {name: len(dataset.frames(name)) for name in dataset.episode_names}
    done, root_done = labelled_episodes(path, source, lengths, overwrite)
    pending = [name for name in lengths if name not in done]
    report = LabelReport(episodes=len(lengths), in_file=len(done))
    if not pending and root_done and not journal_dir(path, source.name).exists():
        return report
    journal = open_journal(path, source, overwrite)
    todo = [name for name in pending
            if read_entry(journal, name, lengths[name], source.z_dim) is None]
    report.from_journal = len(pending) - len(todo)
    # One I/O thread reads the next episode and fsyncs the last one's journal entry while the
    # model works: reading, decoding and waiting on the disk leave the forward pass's path.
    with Dataset(path) as dataset, ThreadPoolExecutor(max_workers=1) as io, \
            tqdm(total=sum(lengths[name] for name in todo), unit='frame', file=sys.stderr,
                 desc=f'label {source.name}', disable=not progress) as bar:
        def read(index: int) -> Future[np.ndarray] | None:
            return io.submit(lambda: dataset.frames(todo[index])[()]) \
                if index < len(todo) else None
        ahead, writes = read(0), []
        for index, name in enumerate(todo):
            frames, ahead = ahead.result(), read(index + 1)
            started = time.perf_counter()
            values, valid = label_frames(model, frames, batch_size)
            report.seconds += time.perf_counter() - started
            report.pairs += int(valid.sum())
            writes.append(io.submit(write_entry, journal, name, values, valid))
            report.computed += 1
            bar.update(lengths[name])
        for write in writes:
            write.result()              # a failed write stops here, before the merge
    if pending or not root_done:   # else a kill came after the rename: only the journal is left
        merge_journal(path, journal, source, pending)
    shutil.rmtree(journal)
    return report


# -- the command ---------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    """``lam-ros label`` (options: lam_ros.app.cli): a data problem is one line and exit 2."""
    batch_size = DEFAULT_BATCH_SIZE if args.batch_size is None else args.batch_size
    try:
        if batch_size < 1:
            raise LabelError(f'--batch-size must be >= 1, got {batch_size}')
        model, source = load_labeler(args.model, args.name, args.device)
        report = label_dataset(args.dataset, model, source, batch_size, args.overwrite)
    except (LabelError, DatasetError, CheckpointError) as error:
        print(f'lam-ros: error: {error}', file=sys.stderr)
        return 2
    rate = f', {report.pairs / report.seconds:.0f} pairs/s' if report.seconds else ''
    print(f'{args.dataset}: pseudo_actions/{source.name} (checkpoint sha256 '
          f'{source.sha256[:12]}) for {report.episodes} episodes: {report.computed} labelled '
          f'now ({report.pairs} pairs{rate}), {report.from_journal} resumed from the journal, '
          f'{report.in_file} already in the file')
    return 0
