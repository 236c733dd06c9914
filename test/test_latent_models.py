# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
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
    load_latent_model,
    make_latent_model,
)
from lam_models.latent.base import read_checkpoint, sidecar_digest
from lam_models.latent.como.modeling_como import temporal_infonce
from lam_models.latent.stamo import StaMoConfig

SMALL = {'image_size': 32, 'width': 16}


@pytest.fixture(scope='module')
def windows():
    return FrameWindows(make_toy_episodes(2, length=8), frame_gap=1, context_frames=2, jitter=1)


def small_model(name):
    torch.manual_seed(0)
    extra = {'dit_dim': 32, 'dit_depth': 1, 'sample_steps': 2} if name == 'stamo' else {}
    return make_latent_model(name, **SMALL, **extra)


def batch_for(model, windows):
    rng = np.random.default_rng(0)
    batch = {**windows.batch(torch.arange(6), rng=rng), **windows.labelled_batch(4, rng)}
    for key in ('window', 'labelled_window'):
        batch[key] = batch[key][:, -model.window_size:]
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
    window = batch_for(model, windows)['window']
    assert model.encode_window(window).shape == (6, model.config.z_dim)
    assert model.predict_window(window).shape == window[:, -1].shape


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
    sidecar['sidecar_sha256'] = sidecar_digest(sidecar)
    (tmp_path / 'como.json').write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match=r"como.safetensors: non-finite .*'image_std'"):
        load_latent_model(path)
    tensors['image_std'][0] = 1e38                 # finite but absurd, hashes resealed
    save_file(tensors, path)
    sidecar['weights_sha256'] = hashlib.sha256(path.read_bytes()).hexdigest()
    sidecar['sidecar_sha256'] = sidecar_digest(sidecar)
    (tmp_path / 'como.json').write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match=r"como.safetensors: implausible .*'image_std'"):
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
    sidecar['sidecar_sha256'] = sidecar_digest(sidecar)
    (tmp_path / 'vq.json').write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match=r'vq.safetensors.*codebook.weight'):
        load_latent_model(path)


def test_a_flipped_digit_in_the_sidecar_config_is_refused(tmp_path):
    path = tmp_path / 'como.safetensors'
    small_model('como').save(path)
    sidecar = json.loads((tmp_path / 'como.json').read_text())
    sidecar['model_config']['frame_gap'] += 4          # shapes unchanged: loads today
    (tmp_path / 'como.json').write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match=r'como.json: content does not match'):
        load_latent_model(path)


def test_a_config_torch_cannot_build_is_a_checkpoint_error(tmp_path):
    path = tmp_path / 'como.safetensors'
    small_model('como').save(path)
    sidecar = json.loads((tmp_path / 'como.json').read_text())
    sidecar['model_config']['num_heads'] += 1          # embed_dim no longer divisible
    sidecar['sidecar_sha256'] = sidecar_digest(sidecar)
    (tmp_path / 'como.json').write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match=rf'{path}: cannot rebuild model .*Error'):
        load_latent_model(path)


@pytest.mark.parametrize('name', ['como', 'stamo', 'clam', 'vq'])
def test_frames_of_another_size_are_refused_naming_both_sizes(name):
    model = small_model(name)  # image_size 32
    window = torch.rand(2, model.window_size, 3, 64, 64)
    with pytest.raises(ValueError, match=r'takes 32x32 px frames \(config.image_size=32\), '
                                         r'got 64x64 px'):
        model.encode_window(window)


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


def test_vq_latents_are_tokens_from_the_codebook(windows):
    model = small_model('vq')
    window = batch_for(model, windows)['window']
    z = model.encode_window(window)
    assert z.shape == (6, model.config.z_dim) and model.encode_indices(window).shape == (6, 4)
    tokens = z.reshape(-1, model.config.z_dim // model.config.num_tokens)
    distances = torch.cdist(tokens, model.codes()).min(dim=1).values
    assert torch.all(distances < 1e-5)
    torch.testing.assert_close(tokens.norm(dim=1), torch.ones(len(tokens)))


def test_vq_reconstruction_counts_against_copying_the_frame_so_motion_size_does_not_matter(
        windows):
    # the FDM starts by copying o_t: its reconstruction term is 1 for a large motion and a
    # tiny one alike, where their raw errors differ 10^4-fold (tiny ones collapsed the codes)
    model = small_model('vq').train()
    batch = batch_for(model, windows)
    window = batch['window']
    tiny = window.clone()
    tiny[:, -1] = window[:, -2] + 0.01 * (window[:, -1] - window[:, -2])
    raw = []
    for frames in (window, tiny):
        loss, metrics = model.loss({**batch, 'window': frames})
        z_e = model._tokens(frames)
        z_q, _ = model._quantize(z_e)
        codebook_terms = (1 + model.config.commitment_weight) * torch.mean((z_q - z_e) ** 2)
        assert loss.item() == pytest.approx(1 + codebook_terms.item(), rel=1e-4)
        raw.append(metrics['reconstruction'])
    assert raw[1] == pytest.approx(1e-4 * raw[0], rel=1e-2)


def test_vq_codebook_starts_as_kmeans_of_the_first_batch(windows):
    model = small_model('vq').train()
    batch = batch_for(model, windows)
    far_away = model.codes_used(batch['window'])
    model.loss(batch)
    assert bool(model.codebook_initialized)
    assert model.codes_used(batch['window']) > max(far_away, 1)
    first = model.codebook.weight.detach().clone()
    model.loss(batch)  # only the first batch initialises
    torch.testing.assert_close(model.codebook.weight, first)


def collapse_codebook(model, batch):
    """Every code the same, near the data: ties go to code 0, the rest are never chosen."""
    with torch.no_grad():
        model.codebook.weight.copy_(model._tokens(batch['window']).mean(0))
        model.codebook_initialized.fill_(True)


@pytest.mark.parametrize('dead_code_steps', [3, 0])
def test_vq_dead_codes_restart_on_the_data(windows, dead_code_steps):
    model = make_latent_model('vq', **SMALL, dead_code_steps=dead_code_steps).train()
    batch = batch_for(model, windows)
    collapse_codebook(model, batch)
    assert model.codes_used(batch['window']) == 1
    for _ in range(4):
        model.loss(batch)
    if dead_code_steps:
        assert model.codes_used(batch['window']) > 1 and model.codes_used() > 1
    else:
        assert model.codes_used(batch['window']) == 1


def test_vq_restarting_dead_codes_inside_the_loss_still_backpropagates(windows):
    # the restart writes the codebook after the lookup saved it for backward (normalised)
    model = make_latent_model('vq', **SMALL, dead_code_steps=1).train()
    batch = batch_for(model, windows)
    collapse_codebook(model, batch)   # all but code 0 go unchosen, and restart
    before = model.codebook.weight.detach().clone()
    loss, _ = model.loss(batch)
    assert not torch.equal(model.codebook.weight, before)
    loss.backward()
    assert torch.isfinite(model.codebook.weight.grad).all()


def test_infonce_prefers_the_true_positive_to_reversed_and_other_rows():
    torch.manual_seed(0)
    z = torch.randn(16, 32)
    positive = z + 0.1 * torch.randn(16, 32)
    reversed_pairs = [-z, -positive]
    right = temporal_infonce(z, positive, reversed_pairs, temperature=0.1)
    assert right < 0.1
    assert temporal_infonce(z, -z, [z, positive], temperature=0.1) > right + 5
    shuffled = positive[torch.randperm(16)]  # in-batch negatives count
    assert temporal_infonce(z, shuffled, reversed_pairs, temperature=0.1) > right + 5


def test_como_loss_adds_infonce_on_the_jittered_pair(windows):
    model = small_model('como')
    assert model.jitter_frames == 1 and model.config.contrastive_temperature == 0.1
    batch = batch_for(model, windows)
    loss, metrics = model.loss(batch)
    assert metrics['infonce'] > 0
    expected = metrics['reconstruction'] + model.config.contrastive_weight * metrics['infonce']
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match=r"needs batch\['jittered'\]"):
        model.loss({k: v for k, v in batch.items() if k != 'jittered'})
    plain = make_latent_model('como', **SMALL, contrastive_weight=0.0)
    assert plain.jitter_frames == 0 and 'infonce' not in plain.loss(batch)[1]


@pytest.mark.parametrize('z_dim', [8, 32, 128])
def test_como_z_dim_is_one_knob(z_dim, windows):
    model = make_latent_model('como', **SMALL, z_dim=z_dim)
    batch = batch_for(model, windows)
    assert model.encode_window(batch['window']).shape == (6, z_dim)
    assert model.fdm.film.in_features == z_dim
    assert torch.isfinite(model.loss(batch)[0])


def test_jittered_frame_is_a_nearby_later_frame_of_the_same_episode():
    episodes = make_toy_episodes(3, length=6)
    windows = FrameWindows(episodes, frame_gap=2, jitter=2)
    rows = torch.arange(len(windows))
    jittered = windows.jittered_indices(rows, np.random.default_rng(0))
    o_t, target = windows.indices[rows, -2], windows.indices[rows, -1]
    assert torch.all((jittered > o_t) & (jittered <= windows.last_frame[rows]))
    assert torch.all((jittered - target).abs() <= 2)
    assert (jittered != target).float().mean() > 0.8
    again = windows.jittered_indices(rows, np.random.default_rng(0))
    assert torch.equal(jittered, again)  # seeded: resume gets the same batches
    batch = windows.batch(rows[:3], rng=np.random.default_rng(1))
    expected = windows.jittered_indices(rows[:3], np.random.default_rng(1))
    torch.testing.assert_close(batch['jittered'], windows.frames[expected].float() / 255)


def test_clam_labelled_batch_holds_only_labelled_robot_windows():
    episodes = (make_toy_episodes(3, length=8) + make_toy_episodes(3, 'human', length=8))
    windows = FrameWindows(episodes, context_frames=2, labelled_episodes=[1])
    labelled = windows.labelled_rows
    assert set(windows.episode_ids[labelled.numpy()]) == {1}
    batch = windows.labelled_batch(64, np.random.default_rng(0))
    assert batch['labelled_window'].shape == (64, 3, 3, 32, 32)
    candidates = windows.frames[windows.indices[labelled]].float() / 255
    for window, action in zip(batch['labelled_window'], batch['labelled_action']):
        match = (candidates - window).abs().flatten(1).amax(1).argmin()
        assert torch.equal(candidates[match], window)
        torch.testing.assert_close(windows.targets[labelled[match]], action)
    unlabelled = FrameWindows(make_toy_episodes(2, 'human', length=8), context_frames=2)
    assert unlabelled.labelled_batch(8, np.random.default_rng(0)) == {}


def test_clam_action_decoder_learns_from_the_labelled_batch_only(windows):
    model = small_model('clam')
    assert model.labelled_batch_size == 32 and model.config.action_decoder_weight == 0.01
    batch = batch_for(model, windows)
    model.loss(batch)[0].backward()
    assert model.action_decoder[0].weight.grad.abs().sum() > 0
    model.zero_grad()
    unlabelled = {k: v for k, v in batch.items() if not k.startswith('labelled_')}
    loss, metrics = model.loss(unlabelled)
    loss.backward()
    assert metrics['action'] == 0.0
    assert model.action_decoder[0].weight.grad.abs().sum() == 0  # in the graph, weight 0


def test_clam_encodes_with_real_context_and_refuses_to_fake_it(windows):
    model = small_model('clam').eval()
    window = batch_for(model, windows)['window']  # o_{t-1}, o_t, o_{t+1}
    with pytest.raises(ValueError, match=r'context_frames=2\): pass the 1 frame\(s\) before o_t'):
        model.encode(window[:, 1], window[:, 2])
    with torch.no_grad():
        z = model.encode(window[:, 1], window[:, 2], context=window[:, :1])
        torch.testing.assert_close(z, model.encode_window(window))
        torch.testing.assert_close(model.predict_next(window[:, 1], window[:, 2], window[:, :1]),
                                   model.predict_window(window))
        faked = model.encode_window(torch.stack([window[:, 1], window[:, 1], window[:, 2]], 1))
    assert not torch.allclose(z, faked)


def test_stamo_has_two_state_tokens_wide_enough_for_a_state():
    config = StaMoConfig()
    assert (config.num_state_tokens, config.token_dim, config.z_dim) == (2, 32, 64)
    model = small_model('stamo')
    assert model.state(torch.rand(3, 3, 32, 32)).shape == (3, 2, 32)
    with pytest.raises(ValueError, match=r'z_dim=8 must equal num_state_tokens \* token_dim'):
        StaMoConfig(z_dim=8)
    assert make_latent_model('stamo', **SMALL, token_dim=48, z_dim=96).config.z_dim == 96


def test_collapse_reference_is_the_models_own_rendering_of_o_t(windows):
    o_t = batch_for(small_model('como'), windows)['window'][:, -2]
    assert small_model('como').collapse_reference(o_t) is o_t  # residual FDM: copy o_t
    stamo = small_model('stamo').eval()
    with torch.no_grad():
        torch.testing.assert_close(stamo.collapse_reference(o_t), stamo.decode(stamo.state(o_t)))


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
