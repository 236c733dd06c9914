# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The generic checkpoint format (lam_models/checkpoints.py) on a model of its own."""
from __future__ import annotations

from dataclasses import dataclass
import hashlib
import json

import pytest
from safetensors.torch import load_file, save_file
import torch
from torch import nn

from lam_models.checkpoints import (
    CheckpointError,
    CheckpointFormat,
    ModelConfig,
    Registry,
    check_config_matches,
    read_checkpoint,
    sidecar_digest,
    write_checkpoint,
)


@dataclass
class ToyConfig(ModelConfig):
    width: int = 3


class Toy(nn.Module):
    name = 'toy'
    config_class = ToyConfig

    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.config = config
        self.layer = nn.Linear(2, config.width)
        self.register_buffer('scale', torch.full((config.width,), 2.0))


TOYS = CheckpointFormat('test.toy/1', Registry('toy model'), ('scale',))
TOYS.registry.register(Toy)


def reseal(path, tensors) -> None:
    """Rewrite the weights and both digests, as someone forging a checkpoint would."""
    save_file(tensors, path.with_suffix('.safetensors'))
    sidecar_path = path.with_suffix('.json')
    sidecar = json.loads(sidecar_path.read_text())
    sidecar['weights_sha256'] = hashlib.sha256(path.with_suffix('.safetensors').read_bytes()
                                               ).hexdigest()
    sidecar['sidecar_sha256'] = sidecar_digest(sidecar)
    sidecar_path.write_text(json.dumps(sidecar))


def test_round_trip_with_optimizer_state_and_extra_values(tmp_path):
    torch.manual_seed(0)
    model = Toy(ToyConfig())
    optimizer = torch.optim.AdamW(model.parameters())
    model.layer(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    TOYS.save(tmp_path / 'toy', model, step=3, optimizer=optimizer.state_dict(), note='x')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['toy.json', 'toy.safetensors']
    payload = TOYS.read(tmp_path / 'toy.json')
    assert payload['step'] == 3 and payload['note'] == 'x'
    assert payload['normalization'] == {'scale': [2.0, 2.0, 2.0]}
    restored = torch.optim.AdamW(Toy(ToyConfig()).parameters())
    restored.load_state_dict(payload['optimizer'])
    torch.testing.assert_close(restored.state_dict()['state'][0]['exp_avg'],
                               optimizer.state_dict()['state'][0]['exp_avg'])
    loaded = TOYS.load(tmp_path / 'toy.safetensors')
    assert not loaded.training and loaded.config == model.config
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0)


def test_a_kind_refuses_another_kinds_checkpoint_naming_both_formats(tmp_path):
    write_checkpoint(tmp_path / 'other', 'test.other/1', Toy(ToyConfig()), ())
    with pytest.raises(CheckpointError, match=r"other.json: expected format 'test.toy/1', "
                                              r"found 'test.other/1'"):
        TOYS.load(tmp_path / 'other')
    assert read_checkpoint(tmp_path / 'other', 'test.other/1')['model_name'] == 'toy'


def test_every_damage_is_a_checkpoint_error_naming_the_file(tmp_path):
    path = tmp_path / 'toy.safetensors'
    TOYS.save(path, Toy(ToyConfig()))
    good = load_file(path)
    (tmp_path / 'toy.json').write_text('{"format": ')
    with pytest.raises(CheckpointError, match=r'toy.json: not a readable checkpoint sidecar'):
        TOYS.read(path)
    TOYS.save(path, Toy(ToyConfig()))
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(CheckpointError, match=rf'{path}: sha256 .* does not match'):
        TOYS.read(path)
    for bad, message in ((float('nan'), 'non-finite'), (1e9, 'implausible')):
        TOYS.save(path, Toy(ToyConfig()))
        reseal(path, {**good, 'scale': torch.full((3,), bad)})
        with pytest.raises(CheckpointError, match=rf"{path}: {message} .*'scale'"):
            TOYS.read(path)
    TOYS.save(path, Toy(ToyConfig()))
    reseal(path, {**good, 'layer.weight': torch.zeros(4, 2)})
    with pytest.raises(CheckpointError, match=rf'{path}: weights do not fit toy: .*layer.weight'):
        TOYS.load(path)
    TOYS.save(path, Toy(ToyConfig()))
    sidecar = json.loads((tmp_path / 'toy.json').read_text())
    sidecar['model_name'] = 'ghost'
    sidecar['sidecar_sha256'] = sidecar_digest(sidecar)
    (tmp_path / 'toy.json').write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match=rf"{path}: cannot rebuild model 'ghost': KeyError: "
                                              r"\"unknown toy model 'ghost'; available: \['toy'\]"):
        TOYS.load(path)
    del sidecar['weights_sha256']
    (tmp_path / 'toy.json').write_text(json.dumps(sidecar))
    with pytest.raises(CheckpointError, match=r"toy.json: missing key 'weights_sha256'"):
        TOYS.read(path)


def test_a_diverged_model_never_replaces_the_last_good_checkpoint(tmp_path):
    model = Toy(ToyConfig())
    TOYS.save(tmp_path / 'toy', model)
    before = (tmp_path / 'toy.safetensors').read_bytes()
    with torch.no_grad():
        model.layer.weight.fill_(float('inf'))
    with pytest.raises(CheckpointError, match=r'refusing to write .*toy.safetensors'):
        TOYS.save(tmp_path / 'toy', model)
    assert (tmp_path / 'toy.safetensors').read_bytes() == before
    assert not list(tmp_path.glob('*.tmp'))


def test_config_mismatch_names_each_differing_field():
    payload = {'model_name': 'toy', 'model_config': {'width': 3}}
    check_config_matches('p', payload, 'toy', {'width': 3})
    with pytest.raises(CheckpointError, match=r'p: incompatible config: width: checkpoint=3 '
                                              r'config=4'):
        check_config_matches('p', payload, 'toy', {'width': 4})
    with pytest.raises(ValueError, match=r"ToyConfig has no field\(s\) \['depth'\]"):
        ToyConfig.from_dict({'depth': 2})
