# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Discrete baseline: the IDM output is ``num_tokens`` tokens, each snapped to a learned code.

A fair discrete baseline rather than a straw man: the codebook starts as
k-means centroids of the first batch's encoder outputs (random codes leave most of
the codebook unused), and a code unused for ``dead_code_steps``
training steps restarts at a random encoder output of the current batch. Under
DDP the usage counts are summed over ranks and rank 0's new codes broadcast, so
every rank keeps the same codebook.

Two more things keep it from collapsing, measured on session 17's avatar pick_place
data (1000 human videos, 100 robot demos, 64 px, frame gap 1; issue 12, session 21). There
one code per token won nearly every window after 4500 steps (the cosine lookup alone: the
same after 1500), probably because the frame changes a code could explain weigh ~0.01 in
mean squared error against the codebook terms, so the encoder output stayed glued to one
code: its latents were constant across the videos and an action decoder read nothing from
them (R^2 0.00 on every axis). Now (i) encoder outputs and codes are unit vectors (the
lookup by angle, as in ViT-VQGAN), and (ii) the reconstruction is divided by the error of
copying o_t, so a code that says nothing costs 1 whatever the size of the motion. After
4500 steps: 52 distinct latents over 50 of the human videos, and a decoder fit on the robot
demos' latents reads the hand's hidden motion with R^2 x 0.18, y 0.54, z 0.81 (CoMo's:
0.17, 0.84, 0.84; ``bench/cotrain.py``'s check). (ii) was not tried alone.

``encode`` returns the chosen codes' vectors (concatenated) so probes and labels
treat it like any other z; ``encode_indices`` gives the token ids and
``codes_used`` how many distinct codes are in use.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.distributed as dist
import torch.nn.functional as F
from typing_extensions import override

from lam_models.latent.base import LatentActionModel, register
from lam_models.latent.layers import ForwardDynamicsDecoder, StackedFrameIDM
from lam_models.latent.vq.configuration_vq import VQConfig


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def kmeans(points: torch.Tensor, clusters: int, iterations: int) -> torch.Tensor:
    """Lloyd's k-means from distinct random points: (N, D) -> (clusters, D) centroids.

    On unit encoder outputs the centroids fall inside the sphere; the lookup normalises them
    (``VQModel.codes``). Spherical k-means would match the lookup's angles exactly; the
    measurements in the module's docstring were made with this one.

    With fewer points than clusters the centroids start from points drawn with repetition
    (the spares are restarted later as dead codes).
    """
    start = torch.randperm(len(points))[:clusters]
    if len(start) < clusters:
        start = torch.cat([start, torch.randint(len(points), (clusters - len(start),))])
    centroids = points[start].clone()
    for _ in range(iterations):
        assignment = torch.cdist(points, centroids).argmin(dim=1)
        counts = torch.bincount(assignment, minlength=clusters).unsqueeze(1)
        sums = torch.zeros_like(centroids).index_add_(0, assignment, points)
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
    return centroids


@register
class VQModel(LatentActionModel):
    """VQ-VAE latent action model: a few tokens from a small codebook."""

    name = 'vq'
    config_class = VQConfig

    def __init__(self, config: VQConfig) -> None:
        super().__init__(config)
        self.code_dim = config.z_dim // config.num_tokens
        self.idm = StackedFrameIDM(self.window_size, config.width, config.image_size,
                                   config.z_dim)
        self.codebook = nn.Embedding(config.codebook_size, self.code_dim)
        nn.init.uniform_(self.codebook.weight, -1.0, 1.0)
        self.fdm = ForwardDynamicsDecoder(config.z_dim, config.width)
        self.register_buffer('codebook_initialized', torch.zeros((), dtype=torch.bool))
        self.register_buffer('steps_unused', torch.zeros(config.codebook_size, dtype=torch.long))

    def _tokens(self, window: torch.Tensor) -> torch.Tensor:
        """Encoder outputs, one row per token: (B * num_tokens, code_dim)."""
        return F.normalize(self.idm(self.normalize(window)).reshape(-1, self.code_dim), dim=1)

    def codes(self) -> torch.Tensor:
        """The codebook as the lookup uses it: (codebook_size, code_dim) unit vectors."""
        return F.normalize(self.codebook.weight, dim=1)

    def _quantize(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        codes = self.codes()
        indices = torch.cdist(z_e, codes).argmin(dim=1)
        return codes[indices], indices

    def encode_indices(self, window: torch.Tensor) -> torch.Tensor:
        """(B, K+1, 3, H, W) -> code ids (B, num_tokens)."""
        return self._quantize(self._tokens(window))[1].reshape(len(window), -1)

    @override
    def encode_window(self, window: torch.Tensor) -> torch.Tensor:
        return self._quantize(self._tokens(window))[0].reshape(len(window), -1)

    @torch.no_grad()
    def codes_used(self, window: torch.Tensor | None = None) -> int:
        """How many distinct codes are in use.

        Chosen for ``window`` if given; else chosen in training within the last
        ``dead_code_steps`` steps (the ones not about to restart).
        """
        if window is not None:
            return int(self.encode_indices(window).unique().numel())
        return int((self.steps_unused < max(self.config.dead_code_steps, 1)).sum())

    @torch.no_grad()
    def _init_codebook(self, z_e: torch.Tensor) -> None:
        """k-means centroids of the first training batch's encoder outputs (rank 0's)."""
        self.codebook.weight.copy_(kmeans(z_e, self.config.codebook_size,
                                          self.config.kmeans_iterations))
        if _distributed():
            dist.broadcast(self.codebook.weight.data, 0)
        self.codebook_initialized.fill_(True)

    @torch.no_grad()
    def _restart_dead_codes(self, z_e: torch.Tensor, indices: torch.Tensor) -> None:
        """Count steps each code went unchosen; move codes dead for too long onto the data."""
        counts = torch.bincount(indices, minlength=self.config.codebook_size)
        if _distributed():
            dist.all_reduce(counts)
        self.steps_unused.add_(1).masked_fill_(counts > 0, 0)
        if self.config.dead_code_steps <= 0:
            return
        dead = (self.steps_unused >= self.config.dead_code_steps).nonzero().squeeze(1)
        if len(dead) == 0:
            return
        picks = torch.randint(len(z_e), (len(dead),), device=z_e.device)
        # .data: the lookup saved the weight for backward (normalised); dead rows went
        # unchosen this step, so their gradient is zero whatever they hold
        self.codebook.weight.data[dead] = z_e[picks]
        if _distributed():
            dist.broadcast(self.codebook.weight.data, 0)
        self.steps_unused[dead] = 0

    @override
    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        window = batch['window']
        z_e = self._tokens(window)
        if self.training and not self.codebook_initialized:
            self._init_codebook(z_e.detach())
        z_q, indices = self._quantize(z_e)
        codebook_loss = F.mse_loss(z_q, z_e.detach())
        commitment = F.mse_loss(z_e, z_q.detach())
        z_straight = (z_e + (z_q - z_e).detach()).reshape(len(window), -1)
        prediction = self.fdm(self.normalize(window[:, -2]), z_straight)
        target = self.normalize(window[:, -1])
        reconstruction = F.mse_loss(prediction, target)
        # over copying o_t's error: 1 for a code that says nothing, so that the codebook
        # terms (between unit vectors) do not drown a frame change of a few pixels
        # (floored: where nothing moves in a whole batch the ratio has no bound)
        copying = F.mse_loss(self.normalize(window[:, -2]), target).detach().clamp(min=1e-6)
        loss = (reconstruction / copying + codebook_loss
                + self.config.commitment_weight * commitment)
        used = indices.unique().numel()
        if self.training:
            self._restart_dead_codes(z_e.detach(), indices)
        return loss, {'reconstruction': reconstruction.item(), 'codes_used': float(used)}
