# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Policies: shapes, learning a tiny batch, human rows, checkpoints. Tiny configs, CPU, < 60 s."""
from __future__ import annotations

import json

import pytest
import torch

from lam_models.latent import make_latent_model
from lam_models.policies import CheckpointError, available_policies, load_policy, make_policy
from lam_models.policies.base import read_policy_checkpoint, resume_policy, save_policy

POLICIES = ['autoregressive', 'clam_route', 'diffusion']
TINY = {'image_size': 32, 'obs_horizon': 2, 'action_horizon': 8, 'action_exec': 4,
        'action_dim': 3, 'state_dim': 2, 'latent_dim': 4, 'width': 8, 'keypoints': 8}
PER_POLICY = {'diffusion': {'obs_dim': 32, 'unet_dim': 16, 'latent_hidden': 32},
              'autoregressive': {'dim': 32, 'depth': 2, 'num_heads': 2},
              'clam_route': {'obs_dim': 32, 'hidden': 32}}
# each policy's (action head, latent head) parameters: human rows may move only the second
HEADS = {'diffusion': ('denoiser.', 'latent_head.'),
         'autoregressive': ('action_head.', 'latent_head.'),
         'clam_route': ('decoder.', 'latent_policy.')}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; two, on a shared 2-core machine, ran 8x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_policy(name: str, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return make_policy(name, **{**TINY, **PER_POLICY[name], **overrides})


def make_batch(size: int = 4, robot: bool = True, seed: int = 0) -> dict[str, torch.Tensor]:
    """Distinct frames, each with its own smooth action chunk (env units: offset, scaled).

    The pseudo-actions encode the actions (a fixed linear map), as a latent would.
    """
    generator = torch.Generator().manual_seed(seed)
    horizon, dims = TINY['action_horizon'], TINY['action_dim']
    steps = torch.linspace(0, 1, horizon)[None, :, None]
    slopes = torch.randn(size, 1, dims, generator=generator)
    actions = 2.0 + 0.5 * (torch.randn(size, 1, dims, generator=generator) + slopes * steps)
    return {
        'images': torch.randint(0, 256, (size, 2, 32, 32, 3), dtype=torch.uint8,
                                generator=generator),
        'state': torch.randn(size, 2, TINY['state_dim'], generator=generator),
        'state_valid': torch.full((size,), robot),
        'actions': actions if robot else torch.zeros_like(actions),
        'action_mask': torch.full((size, horizon), robot),
        'pseudo_actions': (actions - 2.0) @ torch.randn(dims, TINY['latent_dim'],
                                                       generator=generator),
        'pseudo_mask': torch.ones(size, horizon, dtype=torch.bool),
        'is_robot': torch.full((size,), robot),
        'waypoints': 0.05 * torch.randn(size, 2, 3, generator=generator),
        'waypoint_mask': torch.full((size, 2), robot),
    }


def normalization(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    flat = batch['actions'].flatten(0, 1)
    return {'action_mean': flat.mean(0), 'action_std': flat.std(0),
            'state_mean': torch.zeros(TINY['state_dim']), 'state_std': torch.ones(2),
            'latent_mean': torch.zeros(4), 'latent_std': torch.ones(4)}


def predict(policy, batch, seed: int = 0) -> torch.Tensor:
    return policy.predict_chunk(batch['images'], batch['state'], batch['state_valid'],
                                generator=torch.Generator().manual_seed(seed))


def test_registry_lists_both_policies_and_names_what_it_refuses():
    assert set(POLICIES) <= set(available_policies())
    with pytest.raises(KeyError, match='unknown policy'):
        make_policy('transformer')
    with pytest.raises(ValueError, match=r'DiffusionConfig has no field\(s\) \[\'horizon\'\]'):
        make_policy('diffusion', horizon=3)
    with pytest.raises(ValueError, match='action_exec .* must be <= action_horizon'):
        make_policy('autoregressive', action_exec=20)


@pytest.mark.parametrize('name', POLICIES)
def test_shapes_finite_outputs_and_every_parameter_trained(name):
    policy = tiny_policy(name)
    batch = {**make_batch(3), **{k: torch.cat([make_batch(3)[k], make_batch(2, robot=False)[k]])
                                 for k in make_batch(3)}}
    loss, metrics = policy.loss(batch)
    loss.backward()
    assert torch.isfinite(loss) and {'action_loss', 'latent_loss'} <= set(metrics)
    assert [n for n, p in policy.named_parameters() if p.grad is None] == []  # DDP
    chunk = predict(policy.eval(), batch)
    assert chunk.shape == (5, TINY['action_horizon'], TINY['action_dim'])
    assert chunk.dtype == torch.float32 and torch.isfinite(chunk).all()


LATENT_ON_TOKENS = {'diffusion': {'latent_head'}, 'clam_route': {'latent_policy'},
                    'autoregressive': set()}   # its latent head reads the transformer's steps


@pytest.mark.parametrize('name', POLICIES)
def test_the_look_loss_trains_what_reads_the_observation_alone_and_learns_waypoints(name):
    policy = tiny_policy(name)
    batch = make_batch(4)
    policy.set_normalization(normalization(batch))
    optimizer = torch.optim.Adam(policy.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        loss, metrics = policy(batch, look=True)
        optimizer.zero_grad()
        loss.backward()
        trained = {n.split('.')[0] for n, p in policy.named_parameters() if p.grad is not None}
        assert trained == {'observation', *LATENT_ON_TOKENS[name]}, trained   # no action head
        optimizer.step()
        first = first if first is not None else metrics['waypoint_loss']
    assert metrics['waypoint_loss'] < 0.25 * first
    policy.eval()
    found = policy.predict_waypoints(batch['images'], batch['state'], batch['state_valid'])
    error = (found - batch['waypoints']).abs().mean()       # m; saying 0 would be off by
    assert error < 0.4 * batch['waypoints'].abs().mean()    # the second term


@pytest.mark.parametrize('name', ['autoregressive', 'diffusion'])
def test_a_policy_without_latent_head_ignores_labels_and_their_statistics(name):
    policy = tiny_policy(name, latent_dim=0)
    batch = make_batch(2)
    del batch['pseudo_actions'], batch['pseudo_mask']
    policy.set_normalization({**normalization(batch), 'latent_mean': torch.zeros(16),
                              'latent_std': torch.ones(16)})
    loss, metrics = policy.loss(batch)
    assert set(metrics) == {'action_loss', 'waypoint_loss'} and torch.isfinite(loss)
    with pytest.raises(ValueError, match='action_std: shape'):
        policy.set_normalization({'action_std': torch.ones(5)})


def test_the_clam_route_needs_pseudo_actions():
    with pytest.raises(ValueError, match='ClamRouteConfig.latent_dim must be >= 1'):
        tiny_policy('clam_route', latent_dim=0)


@pytest.mark.parametrize('name', POLICIES)
def test_human_rows_train_the_latent_head_and_never_the_action_head(name):
    policy = tiny_policy(name).train()
    human = make_batch(4, robot=False)
    human['actions'][:] = float('nan')   # whatever a human row carries, it must not leak
    human['state'][:] = float('nan')
    loss, _ = policy.loss(human)
    loss.backward()
    assert torch.isfinite(loss)
    action_head, latent_head = HEADS[name]
    moved = set()
    for parameter_name, parameter in policy.named_parameters():
        gradient = parameter.grad
        assert gradient is not None and torch.isfinite(gradient).all(), parameter_name
        if parameter_name.startswith(action_head):
            assert not gradient.any(), f'{parameter_name} moved by human rows'
        elif gradient.any():
            moved.add(parameter_name.split('.')[0] + '.')
    assert {latent_head, 'observation.'} <= moved


def test_the_masked_loss_takes_each_rows_real_columns_only():
    from lam_models.policies.layers import masked_loss
    prediction = torch.zeros(2, 1, 3, requires_grad=True)
    target = torch.tensor([[[1.0, float('nan'), 3.0]], [[2.0, 2.0, 2.0]]])
    columns = torch.tensor([[True, False, True], [True, True, True]])
    loss = masked_loss(prediction, target, torch.ones(2, 1, dtype=torch.bool), columns=columns)
    assert loss.item() == pytest.approx((1 + 9 + 4 * 3) / 5)   # over the real (entry, column)s
    loss.backward()
    assert prediction.grad[0, 0, 1] == 0 and torch.isfinite(prediction.grad).all()


@pytest.mark.parametrize('name', POLICIES)
def test_each_policys_action_loss_reads_the_rows_real_columns(name):
    policy = tiny_policy(name).train()
    batch = make_batch(4)
    policy.set_normalization(normalization(batch))

    def action_loss(columns):
        torch.manual_seed(0)
        return policy.loss({**batch, 'action_columns': torch.tensor([columns] * 4)}
                           )[1]['action_loss']
    torch.manual_seed(0)
    unsaid = policy.loss(batch)[1]['action_loss']
    assert action_loss([True] * 3) == pytest.approx(unsaid)
    assert action_loss([True, False, True]) != pytest.approx(unsaid)


@pytest.mark.parametrize('name', POLICIES)
def test_overfits_a_tiny_batch_and_then_predicts_its_actions(name):
    batch = make_batch(4)
    policy = tiny_policy(name, shift_pixels=0)
    policy.set_normalization(normalization(batch))
    scale = batch['actions'].std()

    def error() -> float:
        return float((predict(policy.eval(), batch) - batch['actions']).abs().mean() / scale)

    untrained = error()
    optimizer = torch.optim.AdamW(policy.parameters(), lr=3e-3, weight_decay=0.0)
    policy.train()
    losses = []
    for _ in range(200):
        loss, _ = policy.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-20:]) / 20 < 0.3 * sum(losses[:20]) / 20
    trained = error()
    assert trained < 0.15 < untrained, (trained, untrained)


def test_the_cached_rollout_equals_one_uncached_pass_over_its_own_actions():
    policy = tiny_policy('autoregressive', latent_dim=0).eval()
    batch = make_batch(2)
    policy.set_normalization(normalization(batch))
    with torch.no_grad():
        chunk = predict(policy, batch)
        prefix = policy.observe(policy.preprocess(batch['images']),
                                policy.normalize_state(batch['state']), batch['state_valid'])
        known = torch.ones(2, TINY['action_horizon'] - 1, dtype=torch.bool)
        steps = policy.step_tokens(policy.normalize_actions(chunk)[:, :-1], known, None, None,
                                   first_step=1)
        hidden = policy.run(torch.cat([prefix, steps], 1))[:, prefix.shape[1] - 1:]
        uncached = policy.denormalize_actions(policy.heads(hidden)[0])
    torch.testing.assert_close(uncached, chunk, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('name', POLICIES)
def test_save_load_round_trip_predicts_identically(name, tmp_path):
    batch = make_batch(3)
    policy = tiny_policy(name)
    policy.set_normalization(normalization(batch))
    save_policy(tmp_path / 'policy', policy, step=7)
    loaded = load_policy(tmp_path / 'policy.safetensors')
    assert type(loaded) is type(policy) and loaded.config == policy.config
    assert not loaded.training
    torch.testing.assert_close(predict(loaded, batch), predict(policy.eval(), batch),
                               rtol=0, atol=0)
    torch.testing.assert_close(loaded.action_mean, normalization(batch)['action_mean'])
    sidecar = json.loads((tmp_path / 'policy.json').read_text())
    assert sidecar['format'] == 'lam_ros.policy/2' and sidecar['model_name'] == name
    assert sidecar['step'] == 7 and len(sidecar['normalization']['action_std']) == 3


def test_a_waypoint_conditioned_denoiser_acts_on_the_waypoint_heads_guess_and_never_trains_it(
        tmp_path):
    batch = make_batch(3)
    policy = tiny_policy('diffusion', waypoint_condition=True)
    policy.set_normalization(normalization(batch))
    loss, _ = policy({**batch, 'waypoint_mask': torch.zeros(3, 2, dtype=torch.bool),
                      'pseudo_mask': torch.zeros(3, 8, dtype=torch.bool)})
    loss.backward()                      # the action loss alone: waypoints and latents masked
    head = policy.observation.waypoint_head
    assert all(p.grad is None or not p.grad.any() for p in head.parameters())
    policy.eval()
    before = predict(policy, batch)
    save_policy(tmp_path / 'policy', policy, step=1)
    torch.testing.assert_close(predict(load_policy(tmp_path / 'policy.safetensors'), batch),
                               before, rtol=0, atol=0)
    with torch.no_grad():
        head.net[-1].bias.add_(1.0)      # another guess of where to grasp: other actions
    assert not torch.allclose(predict(policy, batch), before)
    plain = tiny_policy('diffusion')     # and without the flag the guess is not read
    plain.set_normalization(normalization(batch))
    plain.eval()
    unmoved = predict(plain, batch)
    with torch.no_grad():
        plain.observation.waypoint_head.net[-1].bias.add_(1.0)
    torch.testing.assert_close(predict(plain, batch), unmoved, rtol=0, atol=0)


def test_corrupted_foreign_and_incompatible_checkpoints_are_refused_naming_the_file(tmp_path):
    policy = tiny_policy('diffusion')
    path = tmp_path / 'diffusion.safetensors'
    save_policy(path, policy)
    good = path.read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x10
    path.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match=rf'{path}: sha256 .* does not match'):
        load_policy(path)
    path.write_bytes(good)
    latent = tmp_path / 'como.safetensors'
    make_latent_model('como', image_size=32, width=16).save(latent)
    with pytest.raises(CheckpointError, match=r"como.json: expected format 'lam_ros.policy/2', "
                                              r"found 'lam_ros.latent/2'"):
        load_policy(latent)
    from lam_models.latent import load_latent_model
    with pytest.raises(CheckpointError, match=r"diffusion.json: expected format "
                                              r"'lam_ros.latent/2', found 'lam_ros.policy/2'"):
        load_latent_model(path)
    with pytest.raises(CheckpointError, match=r'missing.json: checkpoint file does not exist'):
        load_policy(tmp_path / 'missing')

    other = tiny_policy('diffusion', unet_dim=24)   # same name, another shape
    optimizer = torch.optim.AdamW(other.parameters())
    with pytest.raises(CheckpointError, match=rf'{path}: incompatible config: unet_dim: '
                                              r'checkpoint=16 config=24'):
        resume_policy(path, other, optimizer)
    with pytest.raises(CheckpointError, match=rf"{path}: checkpoint is model 'diffusion'"):
        resume_policy(path, tiny_policy('autoregressive'), optimizer)


@pytest.mark.parametrize('name', POLICIES)
def test_a_training_state_resumes_policy_and_optimizer(name, tmp_path):
    batch = make_batch(2)
    policy = tiny_policy(name)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-3)
    assert resume_policy(tmp_path / 'run' / 'checkpoint.safetensors', policy, optimizer) == 0
    for _ in range(2):
        loss, _ = policy.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    save_policy(tmp_path / 'run' / 'checkpoint', policy, step=2,
                optimizer=optimizer.state_dict())
    fresh = tiny_policy(name, seed=1)
    fresh_optimizer = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    assert resume_policy(tmp_path / 'run' / 'checkpoint.safetensors', fresh,
                         fresh_optimizer) == 2
    for (key, a), b in zip(policy.state_dict().items(), fresh.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=key)
    state = read_policy_checkpoint(tmp_path / 'run' / 'checkpoint.json')['optimizer']
    assert len(state['state']) == len(list(policy.parameters()))
    save_policy(tmp_path / 'export', policy)
    with pytest.raises(CheckpointError, match='an exported policy, not a training state'):
        resume_policy(tmp_path / 'export.safetensors', fresh, fresh_optimizer)


@pytest.mark.parametrize('name', POLICIES)
def test_observations_of_the_wrong_size_or_history_are_refused(name):
    policy = tiny_policy(name).eval()
    batch = make_batch(1)
    with pytest.raises(ValueError, match=r'takes 32x32 px frames \(config.image_size=32\), '
                                         r'got 64x64 px'):
        policy.predict_chunk(torch.zeros(1, 2, 64, 64, 3, dtype=torch.uint8), batch['state'],
                             batch['state_valid'])
    with pytest.raises(ValueError, match=r'images has shape \(1, 3, 32, 32, 3\), expected '
                                         r'\(1, 2\)'):
        policy.predict_chunk(torch.zeros(1, 3, 32, 32, 3, dtype=torch.uint8), batch['state'],
                             batch['state_valid'])
    with pytest.raises(ValueError, match='takes uint8 images'):
        policy.predict_chunk(batch['images'].float(), batch['state'], batch['state_valid'])
    with pytest.raises(KeyError, match=r"needs batch keys \['action_mask'\]"):
        policy.loss({k: v for k, v in batch.items() if k != 'action_mask'})


def test_color_jitter_recolours_each_sample_alike_across_its_frames_and_stays_in_range():
    from lam_models.policies.layers import color_jitter
    torch.manual_seed(0)
    frame = torch.rand(6, 1, 3, 8, 8) * 2 - 1
    images = frame.repeat(1, 2, 1, 1, 1)                 # two identical frames per sample
    jittered = color_jitter(images, 0.3)
    assert jittered.min() >= -1 and jittered.max() <= 1
    assert torch.equal(jittered[:, 0], jittered[:, 1])  # the motion between frames is kept
    change = (jittered - images).abs().mean(dim=(1, 2, 3, 4))
    assert (change > 0.01).all() and change.std() > 0   # every sample, each its own way
    assert torch.allclose(color_jitter(images, 0.0), images, atol=1e-6)


@pytest.mark.parametrize('name', POLICIES)
def test_state_noise_and_keypoint_only_images_act_in_training_only(name):
    policy = tiny_policy(name, state_noise=0.5, image_pooling=False, shift_pixels=0)
    encoder = policy.observation
    batch = make_batch()
    policy.set_normalization(normalization(batch))
    assert encoder.image.out_dim == 2 * TINY['keypoints']           # where, not what
    images = policy.preprocess(batch['images'])
    state, valid = batch['state'], batch['state_valid']
    first, second = (encoder(images, state, valid, augment=True) for _ in range(2))
    assert torch.equal(first[:, 0], second[:, 0])                   # the image token: no noise
    assert not torch.allclose(first[:, 1], second[:, 1])            # the state token: noised
    assert torch.isfinite(policy.loss(batch)[0])
    quiet = tiny_policy(name, state_noise=0.0, image_pooling=False, shift_pixels=0)
    quiet.load_state_dict(policy.state_dict())
    policy.eval(), quiet.eval()
    assert torch.equal(predict(policy, batch), predict(quiet, batch))  # inference: no noise
