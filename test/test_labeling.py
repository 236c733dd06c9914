# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Pseudo-action labelling: ``label_frames`` and ``lam-ros label`` on a dataset file.

The kill tests run ``lam-ros label`` as its own process and SIGKILL it while the
journal is half written, or while the journal is merged into the file, as the OOM
killer or a power cut would.
"""
from __future__ import annotations

from dataclasses import replace
import os
from pathlib import Path
import shutil
import signal
import subprocess
import time

from conftest import REPO, python_executable
import h5py
import numpy as np
import pytest
from support.latent_world import make_toy_episode, make_toy_episodes
import torch

from lam_models.data.dataset import Dataset, write_dataset
from lam_models.data.episode import ACTION_COLUMNS
from lam_models.latent import make_latent_model
from lam_models.latent.base import save_checkpoint
from lam_models.latent.label_dataset import (
    LabelError,
    journal_dir,
    label_dataset,
    load_labeler,
    merging_path,
    open_journal,
    write_entry,
)
from lam_models.latent.labeling import decoded_episode, label_frames
from lam_ros.app.cli import _main as lam_ros

SMALL = {'image_size': 32, 'width': 16}


def small_model(name: str = 'como', seed: int = 0, **config):
    torch.manual_seed(seed)
    return make_latent_model(name, **SMALL, **config)


def small_checkpoint(path: Path, seed: int = 0, **config) -> Path:
    """A CoMo checkpoint with seeded random weights (labels need no training to be compared)."""
    save_checkpoint(path, small_model('como', seed, z_dim=8, **config))
    return path.with_suffix('.safetensors')


def toy_dataset(path: Path, episodes: int = 2, length: int = 12) -> Path:
    """Robot and human toy episodes in a dataset file."""
    write_dataset(make_toy_episodes(episodes, 'robot', length=length)
                  + make_toy_episodes(episodes, 'human', first_seed=50, length=length), path)
    return path


def labels_in(path: Path, name: str = 'como') -> dict[str, tuple[np.ndarray, np.ndarray, dict]]:
    """Every episode's (values, valid, group attrs) of one label name."""
    with h5py.File(path, 'r') as f:
        return {ep: (g[f'pseudo_actions/{name}/values'][()], g[f'pseudo_actions/{name}/valid'][()],
                     dict(g[f'pseudo_actions/{name}'].attrs))
                for ep, g in f['episodes'].items()}


# -- label_frames ---------------------------------------------------------------------------------
@pytest.mark.parametrize('name, config', [('como', {'frame_gap': 2}), ('clam', {})])
def test_row_t_is_z_of_o_t_and_o_t_plus_n_and_the_last_n_rows_are_invalid(name, config):
    model = small_model(name, **config).eval()
    gap, context = model.config.frame_gap, model.config.context_frames
    frames = make_toy_episode(1, length=9).frames
    values, valid = label_frames(model, frames, batch_size=3)
    assert values.shape == (9, model.config.z_dim) and values.dtype == np.float32
    assert valid.tolist() == [True] * (9 - gap) + [False] * gap
    assert not values[~valid].any()          # zeros, not a repeated latent
    video = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    for t in (0, 4, 8 - gap):
        rows = [max(t - j * gap, 0) for j in range(context - 1, -1, -1)] + [t + gap]
        with torch.no_grad():
            expected = model.encode_window(video[rows].unsqueeze(0))[0].numpy()
        np.testing.assert_allclose(values[t], expected, atol=1e-5)


def test_larger_camera_frames_are_resized_to_the_model_size_before_labelling():
    model = small_model()
    episode = make_toy_episode(1, length=9)
    doubled = replace(episode, frames=episode.frames.repeat(2, axis=1).repeat(2, axis=2))
    assert doubled.frames.shape[1:3] == (64, 64)
    np.testing.assert_array_equal(label_frames(model, doubled.frames)[0],
                                  label_frames(model, episode.frames)[0])


def test_batch_size_does_not_change_labels_and_the_models_mode_is_kept():
    model = small_model().train()
    frames = make_toy_episode(2, length=11).frames
    one, _ = label_frames(model, frames, batch_size=1)
    assert model.training
    np.testing.assert_allclose(label_frames(model, frames, batch_size=64)[0], one, atol=1e-5)
    with pytest.raises(ValueError, match='batch_size must be >= 1'):
        label_frames(model, frames, batch_size=0)


def test_clam_decodes_a_human_video_into_actions_with_only_the_columns_named_real():
    model = small_model('clam').eval()
    human = make_toy_episode(3, length=9, embodiment='human')
    columns = [False, True, True, False, False, False, False]
    decoded = decoded_episode(model, human, columns)
    values, valid = label_frames(model, human.frames)
    with torch.no_grad():
        expected = model.decode_action(torch.from_numpy(values[valid])).numpy()
    np.testing.assert_allclose(decoded.actions[valid], expected, atol=1e-6)
    last = np.flatnonzero(valid)[-1]
    assert not decoded.actions[~valid, :-1].any()                      # holds still...
    assert (decoded.actions[~valid, -1] == decoded.actions[last, -1]).all()   # ...and its grip
    assert decoded.metadata[ACTION_COLUMNS] == columns and decoded.embodiment == 'human'
    with pytest.raises(ValueError, match='como has no action decoder'):
        decoded_episode(small_model('como'), human, columns)
    with pytest.raises(ValueError, match='2 action columns named, clam decodes 7'):
        decoded_episode(model, human, columns[:2])


def test_an_episode_no_longer_than_the_gap_has_no_valid_label():
    model = small_model(frame_gap=2)
    values, valid = label_frames(model, make_toy_episode(1, length=2).frames)
    assert values.shape == (2, model.config.z_dim) and not valid.any() and not values.any()


@pytest.mark.skipif(not torch.cuda.is_available(), reason='no GPU')
def test_a_model_on_the_gpu_labels_there_like_on_the_cpu():
    model = small_model()
    frames = make_toy_episode(1, length=20).frames
    on_cpu, _ = label_frames(model, frames)
    np.testing.assert_allclose(label_frames(model.cuda(), frames)[0], on_cpu, atol=1e-4)


# -- lam-ros label -------------------------------------------------------------------------------
def test_every_episode_is_labelled_with_the_checkpoints_identity(tmp_path):
    path = toy_dataset(tmp_path / 'data.h5')
    model, source = load_labeler(small_checkpoint(tmp_path / 'a'), device='cpu')
    report = label_dataset(path, model, source, batch_size=8, progress=False)
    assert (report.episodes, report.computed, report.in_file) == (4, 4, 0)
    assert not journal_dir(path, 'como').exists()
    with Dataset(path) as dataset:
        assert dataset.pseudo_action_attrs('como') == {
            'checkpoint': str(tmp_path / 'a.safetensors'), 'checkpoint_sha256': source.sha256,
            'z_dim': 8, 'frame_gap': 1}
        for name in dataset.episode_names:
            episode = dataset.read_episode(name, pseudo_actions='como')
            values, valid = label_frames(model, episode.frames, batch_size=8)
            np.testing.assert_array_equal(episode.pseudo_actions, values)
            np.testing.assert_array_equal(episode.metadata['pseudo_valid'], valid)
    attrs = labels_in(path)['episode_000003'][2]
    assert (attrs['checkpoint_sha256'], attrs['model'], attrs['frame_gap']) == (
        source.sha256, 'como', 1)
    modified = path.stat().st_mtime_ns
    again = label_dataset(path, model, source, progress=False)
    assert (again.computed, again.in_file) == (0, 4) and path.stat().st_mtime_ns == modified


def test_a_rerun_takes_what_the_journal_holds_instead_of_labelling_again(tmp_path):
    path = toy_dataset(tmp_path / 'data.h5', episodes=1)
    model, source = load_labeler(small_checkpoint(tmp_path / 'a'), device='cpu')
    journal = open_journal(path, source, overwrite=False)    # as a killed run leaves it
    marker = np.full((12, 8), 7.0, np.float32)
    write_entry(journal, 'episode_000001', marker, np.ones(12, bool))
    report = label_dataset(path, model, source, progress=False)
    assert (report.computed, report.from_journal) == (1, 1)
    np.testing.assert_array_equal(labels_in(path)['episode_000001'][0], marker)


def test_labels_of_another_checkpoint_are_refused_unless_overwritten_or_named(tmp_path):
    path = toy_dataset(tmp_path / 'data.h5', episodes=1)
    first = load_labeler(small_checkpoint(tmp_path / 'a', seed=0), device='cpu')
    second = load_labeler(small_checkpoint(tmp_path / 'b', seed=1), device='cpu')
    label_dataset(path, *first, progress=False)
    before = labels_in(path)
    with pytest.raises(LabelError, match=rf'{path}: pseudo_actions/como were written by another '
                                         rf'checkpoint \(sha256 {first[1].sha256[:12]}\), not '
                                         rf'.*b.safetensors.*--overwrite'):
        label_dataset(path, *second, progress=False)
    assert all(np.array_equal(before[ep][0], v) for ep, (v, _, _) in labels_in(path).items())
    label_dataset(path, second[0], replace(second[1], name='como_b'), progress=False)
    assert labels_in(path, 'como_b')['episode_000000'][2]['checkpoint_sha256'] == \
        second[1].sha256
    label_dataset(path, *second, overwrite=True, progress=False)
    replaced = labels_in(path)
    assert {attrs['checkpoint_sha256'] for _, _, attrs in replaced.values()} == \
        {second[1].sha256}
    np.testing.assert_array_equal(replaced['episode_000000'][0],
                                  labels_in(path, 'como_b')['episode_000000'][0])


def test_the_command_names_a_missing_checkpoint_and_a_file_that_is_no_dataset(tmp_path, capsys):
    path = toy_dataset(tmp_path / 'data.h5', episodes=1)
    assert lam_ros(['label', '--model', str(tmp_path / 'none.safetensors'), str(path)]) == 2
    assert f'{tmp_path / "none.json"}: checkpoint file does not exist' in capsys.readouterr().err
    checkpoint = str(small_checkpoint(tmp_path / 'a'))
    not_data = tmp_path / 'x.h5'
    h5py.File(not_data, 'w').close()
    assert lam_ros(['label', '--model', checkpoint, str(not_data)]) == 2
    assert f'{not_data}: format attribute is None' in capsys.readouterr().err
    assert lam_ros(['label', '--model', checkpoint, '--batch-size', '0', str(path)]) == 2
    assert '--batch-size must be >= 1' in capsys.readouterr().err


def _child_env() -> dict[str, str]:
    return {**os.environ, 'OMP_NUM_THREADS': '1',
            'PYTHONPATH': os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')])}


def _label_process(dataset: Path, checkpoint: Path) -> subprocess.Popen:
    """``lam-ros label`` in its own process, one thread, two pairs per forward pass.

    One thread: two runs side by side on a busy machine; small batches: an episode
    takes long enough to be caught between journal entries.
    """
    return subprocess.Popen(
        [python_executable(), '-m', 'lam_ros.app.cli', 'label', '--model', str(checkpoint),
         '--batch-size', '2', '--device', 'cpu', str(dataset)],
        cwd=REPO, env=_child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen, timeout_s: float = 120) -> tuple[int, str, str]:
    """Wait for ``process``; never leave it running after the test."""
    try:
        out, err = process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, out, err


def _rerun_gives_the_uninterrupted_labels(killed: Path, whole: Path, checkpoint: Path,
                                          episodes: int) -> str:
    """The rerun's output; its labels are the same to the bit as a first run's on ``whole``.

    ``whole`` is an untouched copy of the dataset; both runs go side by side.
    """
    rerun, uninterrupted = _label_process(killed, checkpoint), _label_process(whole, checkpoint)
    code, out, err = _finish(rerun)
    assert code == 0, err
    assert _finish(uninterrupted)[0] == 0
    resumed, expected = labels_in(killed), labels_in(whole)
    assert resumed.keys() == expected.keys() and len(resumed) == episodes
    for episode, (values, valid, attrs) in expected.items():
        assert resumed[episode][0].tobytes() == values.tobytes(), episode   # bitwise
        np.testing.assert_array_equal(resumed[episode][1], valid)
        assert resumed[episode][2] == attrs
    return out


def test_a_run_killed_mid_way_and_rerun_gives_the_labels_of_an_uninterrupted_run(tmp_path,
                                                                                  capsys):
    killed = toy_dataset(tmp_path / 'killed.h5', episodes=6, length=60)
    whole = tmp_path / 'whole.h5'
    shutil.copy(killed, whole)
    checkpoint = small_checkpoint(tmp_path / 'a')
    journal = journal_dir(killed, 'como')

    process = _label_process(killed, checkpoint)
    try:
        deadline = time.monotonic() + 60
        while len(list(journal.glob('episode_*.npz'))) < 2 and process.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        _finish(process)
    entries = len(list(journal.glob('episode_*.npz')))
    assert 2 <= entries < 12, f'killed with {entries} of 12 episodes in the journal'
    with h5py.File(killed, 'r') as f:
        assert 'pseudo_actions' not in f['episodes/episode_000000']   # the file is untouched

    other = small_checkpoint(tmp_path / 'b', seed=1)     # refused: the journal is a's
    assert lam_ros(['label', '--model', str(other), str(killed)]) == 2
    assert f'{journal}: an interrupted run labelled' in capsys.readouterr().err

    out = _rerun_gives_the_uninterrupted_labels(killed, whole, checkpoint, episodes=12)
    assert f'{entries} resumed from the journal' in out
    assert not journal.exists()


# ``lam-ros label`` (same options as _label_process) that stops inside the merge once one
# episode's labels are written, with everything written so far flushed to the disk (as
# HDF5's cache does on its own in a large merge), says so in a file and waits to be killed.
STOP_IN_MERGE = """
import pathlib, sys, time
import h5py, numpy as np
from lam_models.latent import label_dataset as ld
from lam_ros.app.cli import _main
dataset, checkpoint, stopped = sys.argv[1:]
opened, merging, loads = [], [], []
file_init, merge, load = h5py.File.__init__, ld.merge_journal, np.load
def recording_init(self, *args, **kwargs):
    file_init(self, *args, **kwargs)
    opened.append(self)
def flagged_merge(*args, **kwargs):
    merging.append(True)
    return merge(*args, **kwargs)
def stalling_load(*args, **kwargs):
    if merging:
        loads.append(args)
        if len(loads) == 2:          # episode 0 merged, episode 1 next
            for f in opened:
                if f.id.valid and f.mode == 'r+':
                    f.flush()
            pathlib.Path(stopped).touch()
            time.sleep(600)
    return load(*args, **kwargs)
h5py.File.__init__, ld.merge_journal, np.load = recording_init, flagged_merge, stalling_load
sys.exit(_main(['label', '--model', checkpoint, '--batch-size', '2', '--device', 'cpu',
                dataset]))
"""


def test_a_run_killed_during_the_merge_leaves_the_file_as_it_was_and_a_rerun_finishes(
        tmp_path):
    killed = toy_dataset(tmp_path / 'killed.h5', episodes=2)
    whole = tmp_path / 'whole.h5'
    shutil.copy(killed, whole)
    checkpoint = small_checkpoint(tmp_path / 'a')
    stopped = tmp_path / 'stopped'
    process = subprocess.Popen(
        [python_executable(), '-c', STOP_IN_MERGE, str(killed), str(checkpoint), str(stopped)],
        cwd=REPO, env=_child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not stopped.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stopped.exists(), f'the run never reached the merge: {process.poll()}'
        process.send_signal(signal.SIGKILL)
    finally:
        _finish(process)

    with Dataset(killed) as dataset, Dataset(whole) as original:   # opens, every frame there
        assert dataset.episode_names == original.episode_names
        for name in original.episode_names:
            np.testing.assert_array_equal(dataset.frames(name)[()], original.frames(name)[()])
    assert killed.read_bytes() == whole.read_bytes(), 'the killed merge wrote into the file'
    assert merging_path(killed).exists() and journal_dir(killed, 'como').exists()

    out = _rerun_gives_the_uninterrupted_labels(killed, whole, checkpoint, episodes=4)
    assert '0 labelled now' in out and '4 resumed from the journal' in out
    assert not merging_path(killed).exists() and not journal_dir(killed, 'como').exists()
    with h5py.File(killed, 'r') as f, h5py.File(whole, 'r') as g:
        assert dict(f['pseudo_actions/como'].attrs) == dict(g['pseudo_actions/como'].attrs)


def test_a_leftover_merge_copy_is_replaced_and_the_file_keeps_its_mode(tmp_path):
    path = toy_dataset(tmp_path / 'data.h5', episodes=1)
    path.chmod(0o640)
    merging_path(path).write_bytes(b'left by a killed merge')
    model, source = load_labeler(small_checkpoint(tmp_path / 'a'), device='cpu')
    label_dataset(path, model, source, progress=False)
    assert not merging_path(path).exists()
    assert path.stat().st_mode & 0o777 == 0o640
    assert set(labels_in(path)) == {'episode_000000', 'episode_000001'}
