# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A tiny procedural world for the latent-model tests (the MuJoCo sim is not needed).

A square "end effector" moves on a canvas with static distractor blocks; the
7-D action is (dx, dy, 0, 0, 0, 0, grip) in pixels, with smooth random
velocities. Robots are drawn as a grey square with a coloured gripper bar,
humans as a skin-toned blob, so the embodiments differ in appearance only.
"""
from __future__ import annotations

import numpy as np

from lam_models.data.episode import Episode

MAX_STEP = 3.0


def make_toy_episode(seed: int, embodiment: str = 'robot', length: int = 24,
                     size: int = 32) -> Episode:
    rng = np.random.default_rng(seed)
    half = max(size // 10, 2)
    background = np.full((size, size, 3), 40, np.uint8) + rng.integers(0, 30, 3, dtype=np.uint8)
    for _ in range(2):  # static distractors
        y, x = rng.integers(0, size - 6, 2)
        background[y:y + 6, x:x + 6] = rng.integers(60, 255, 3, dtype=np.uint8)
    position = rng.uniform(half + 1, size - half - 2, 2)
    velocity = rng.uniform(-MAX_STEP, MAX_STEP, 2)
    grip = float(rng.integers(0, 2))
    frames, actions = [], []
    for _ in range(length):
        frame = background.copy()
        y, x = np.round(position).astype(int)
        if embodiment == 'robot':
            frame[y - half:y + half + 1, x - half:x + half + 1] = (150, 150, 160)
            frame[y - half:y - half + 2, x - half:x + half + 1] = (
                (230, 60, 60) if grip > 0.5 else (60, 200, 230))
        else:
            yy, xx = np.mgrid[:size, :size]
            blob = (yy - position[0]) ** 2 + (xx - position[1]) ** 2 <= (half + 1) ** 2
            frame[blob] = (224, 172, 105) if grip > 0.5 else (190, 140, 90)
        frames.append(frame)
        velocity = np.clip(0.7 * velocity + rng.normal(0, 1.2, 2), -MAX_STEP, MAX_STEP)
        for axis in range(2):  # bounce off the walls so the action is the true displacement
            if not half + 1 <= position[axis] + velocity[axis] <= size - half - 2:
                velocity[axis] = -velocity[axis]
        if rng.random() < 0.1:
            grip = 1.0 - grip
        action = np.zeros(7, np.float32)
        action[:2] = velocity[::-1]       # (dx, dy)
        action[6] = grip
        actions.append(action)
        position = position + velocity
    actions = np.asarray(actions, np.float32)
    return Episode(
        frames=np.asarray(frames), timestamps=np.arange(length) * 0.1, embodiment=embodiment,
        actions=actions if embodiment == 'robot' else None,
        hidden_motion=actions if embodiment == 'human' else None, task='toy_move')


def make_toy_episodes(count: int, embodiment: str = 'robot', first_seed: int = 0,
                      **kwargs) -> list[Episode]:
    return [make_toy_episode(first_seed + i, embodiment, **kwargs) for i in range(count)]
