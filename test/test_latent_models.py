# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
from dataclasses import replace
import hashlib
import json
import shutil

import numpy as np
import pytest
from safetensors.torch import load_file, save_file
from support.latent_world import make_toy_episode, make_toy_episodes
import torch

from lam_models.data.images import resize_frames
from lam_models.data.pairs import FrameWindows
from lam_models.latent import (
    CheckpointError,
    available_models,
    label_episode,
    load_latent_model,
    make_latent_model,
)
from lam_models.latent.base import read_checkpoint

SMALL = {'image_size': 32, 'width': 16}


@pytest.fixture(scope='module')
def windows():
    return FrameWindows(make_toy_episodes(2, length=8), frame_gap=1, context_frames=2)


def small_model(name):
    torch.manual_seed(0)
    extra = {'dit_dim': 32, 'dit_depth': 1, 'sample_steps': 2} if name == 'stamo' else {}
    return make_latent_model(name, **SMALL, **extra)


def batch_for(model, windows):
    batch = windows.batch(torch.arange(6))
    batch['window'] = batch['window'][:, -model.window_size:]
    return batch


def test_registry_lists_every_method_and_rejects_unknown_names():
    assert available_models() == ['clam', 'como', 'stamo', 'vq']
    with pytest.raises(KeyError, match='unknown latent model'):
        make_latent_model('lapa')
    with pytest.raises(ValueError, match='no field'):
        make_latent_model('como', zdim=3)


@pytest.mark.parametrize('name', ['como', 'stamo', 'clam', 'vq'])
def test_loss_trains_every_parameter_and_encode_is_small(name, windows):
    model = small_model(name)
    loss, metrics = model.loss(batch_for(model, windows))
    loss.backward()
    assert torch.isfinite(loss) and metrics
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert unused == []  # DDP needs every parameter in the graph
    o_t, o_next = batch_for(model, windows)['window'][:, -2:].unbind(1)
    assert model.encode(o_t, o_next).shape == (6, model.config.z_dim)
    assert model.predict_next(o_t, o_next).shape == o_next.shape


@pytest.mark.parametrize('name', ['como', 'stamo', 'clam', 'vq'])
def test_save_load_gives_identical_encodings(name, windows, tmp_path):
    model = small_model(name).eval()
    stats = windows.normalization_stats()
    model.set_normalization(stats)
    model.save(tmp_path / 'model.safetensors')
    loaded = load_latent_model(tmp_path / 'model.safetensors')
    window = batch_for(model, windows)['window']
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_window(window), model.encode_window(window),
                                   rtol=0, atol=0)
    torch.testing.assert_close(loaded.image_mean, stats['image_mean'])
    assert loaded.config == model.config
    sidecar = json.loads((tmp_path / 'model.json').read_text())
    assert sidecar['model_name'] == name and len(sidecar['weights_sha256']) == 64
    assert sidecar['normalization']['image_mean'] == pytest.approx(stats['image_mean'].tolist())


def test_corrupted_and_foreign_checkpoints_name_the_file(tmp_path):
    model = small_model('como')
    model.save(tmp_path / 'como')
    truncated = tmp_path / 'truncated.safetensors'
    truncated.write_bytes((tmp_path / 'como.safetensors').read_bytes()[:1000])
    shutil.copy(tmp_path / 'como.json', tmp_path / 'truncated.json')
    with pytest.raises(CheckpointError, match=r'truncated.safetensors: sha256 .* does not match'):
        load_latent_model(truncated)
    foreign = tmp_path / 'foreign.safetensors'  # some other tool's weights, no sidecar
    save_file({'weights': torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match='foreign.json: checkpoint file does not exist'):
        read_checkpoint(foreign)
    (tmp_path / 'foreign.json').write_text(json.dumps({'format': 'other/1'}))
    with pytest.raises(CheckpointError, match=r"foreign.json: expected format .*found 'other/1'"):
        read_checkpoint(foreign)
    torch.save({'weights': torch.zeros(3)}, tmp_path / 'legacy.pt')
    with pytest.raises(CheckpointError, match='legacy.pt: a torch pickle file'):
        load_latent_model(tmp_path / 'legacy.pt')
    with pytest.raises(CheckpointError, match='does not exist'):
        load_latent_model(tmp_path / 'missing.safetensors')


def test_flipped_replaced_or_non_finite_weights_are_refused(tmp_path):
    path = tmp_path / 'como.safetensors'
    small_model('como').save(path)
    good = path.read_bytes()
    rng = np.random.default_rng(0)
    for _ in range(40):
        data = bytearray(good)
        data[int(rng.integers(len(data)))] ^= int(rng.integers(1, 256))
        path.write_bytes(bytes(data))
        with pytest.raises(CheckpointError, match=rf'{path}: sha256 .* does not match'):
            load_latent_model(path)
    torch.manual_seed(1)  # a valid checkpoint's weights, dropped in under this name
    make_latent_model('como', **SMALL).save(tmp_path / 'other')
    shutil.copy(tmp_path / 'other.safetensors', path)
    with pytest.raises(CheckpointError, match=r'como.safetensors: sha256 .* como.json'):
        load_latent_model(path)

    tensors = load_file(tmp_path / 'other.safetensors')  # NaN, with a matching sha256
    tensors['image_std'][0] = float('nan')
    save_file(tensors, path)
    sidecar = json.loads((tmp_path / 'other.json').read_text())
    sidecar['weights_sha256'] = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / 'como.json').write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match=r"como.safetensors: non-finite .*'image_std'"):
        load_latent_model(path)
    diverged = small_model('como')
    with torch.no_grad():
        next(diverged.parameters()).fill_(float('inf'))
    with pytest.raises(CheckpointError, match=r'refusing to write .*diverged.safetensors'):
        diverged.save(tmp_path / 'diverged')
    assert not (tmp_path / 'diverged.safetensors').exists()


def test_mismatched_weights_are_reported_by_name(tmp_path):
    path = tmp_path / 'vq.safetensors'
    small_model('vq').save(path)
    sidecar = json.loads((tmp_path / 'vq.json').read_text())
    sidecar['model_config']['codebook_size'] = 4  # the saved codebook has 8 rows
    (tmp_path / 'vq.json').write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match=r'vq.safetensors.*codebook.weight'):
        load_latent_model(path)


@pytest.mark.parametrize('name', ['como', 'stamo', 'clam', 'vq'])
def test_frames_of_another_size_are_refused_naming_both_sizes(name):
    model = small_model(name)  # image_size 32
    frames = torch.rand(2, 3, 64, 64)
    with pytest.raises(ValueError, match=r'takes 32x32 px frames \(config.image_size=32\), '
                                         r'got 64x64 px'):
        model.encode(frames, frames)


def test_resize_frames_is_the_one_way_to_the_model_size_and_names_what_it_refuses():
    frames = make_toy_episode(1, length=3).frames  # 32 px
    assert resize_frames(frames, 32) is frames
    assert resize_frames(frames, 16).shape == (3, 16, 16, 3)
    with pytest.raises(ValueError, match=r'takes \(T, H, W, 3\) uint8 RGB frames, got ndarray '
                                         r'of shape \(3, 32, 32\) uint8'):
        resize_frames(frames[..., 0], 16)
    with pytest.raises(ValueError, match=r'got ndarray of shape \(3, 32, 32, 3\) float32'):
        resize_frames(frames.astype(np.float32), 16)
    with pytest.raises(ValueError, match=r'cannot resize 0x32 px frames to 16x16 px'):
        resize_frames(frames[:, :, :0], 16)


def test_larger_camera_frames_are_resized_to_the_model_size_before_labelling():
    model = small_model('como').eval()  # image_size 32
    episode = make_toy_episode(1, length=9)
    doubled = replace(episode, frames=episode.frames.repeat(2, axis=1).repeat(2, axis=2))
    assert doubled.frames.shape[1:3] == (64, 64)
    np.testing.assert_array_equal(label_episode(model, doubled), label_episode(model, episode))


@pytest.mark.parametrize('name', ['como', 'clam'])
def test_label_episode_is_aligned_with_frames(name):
    model = small_model(name).eval()
    episode = make_toy_episode(1, length=9)
    labels = label_episode(model, episode)
    assert labels.shape == (9, model.config.z_dim) and labels.dtype == np.float32
    np.testing.assert_array_equal(labels[-1], labels[-2])  # the last frame is padded
    frames = torch.from_numpy(episode.frames).permute(0, 3, 1, 2).float() / 255
    window = frames[4 - model.window_size + 1:5].unsqueeze(0)  # ... o_3, o_4
    with torch.no_grad():
        np.testing.assert_allclose(labels[3], model.encode_window(window)[0].numpy(), atol=1e-5)


def test_vq_latents_come_from_the_codebook(windows):
    model = small_model('vq')
    z = model.encode_window(batch_for(model, windows)['window'])
    distances = torch.cdist(z, model.codebook.weight).min(dim=1).values
    assert torch.all(distances < 1e-5)


def test_stamo_motion_is_a_state_difference_and_interpolation_hits_both_ends(windows):
    model = small_model('stamo').eval()
    o_a, o_b = batch_for(model, windows)['window'][:2, -2:].unbind(1)
    with torch.no_grad():
        z = model.encode(o_a, o_b)
        torch.testing.assert_close(z, (model.state(o_b) - model.state(o_a)).flatten(1))
        path = model.interpolate(o_a, o_b, steps=3)
        assert path.shape == (3, 2, 3, 32, 32)
        torch.testing.assert_close(path[0], model.decode(model.state(o_a)))
        torch.testing.assert_close(path[-1], model.decode(model.state(o_b)))
