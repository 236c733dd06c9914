# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Per-episode appearance randomization: colours, table, lights, the ego camera's head motion.

An :class:`Appearance` depends on the episode seed only, never on the embodiment, so a robot
and a human episode of the same seed are filmed from the same head pose in the same colours:
whatever tells the embodiments apart is their motion and shape, not the scene. Effector and
forearm colours are drawn from one palette for both embodiments (gripper or hand, links or
sleeve). In the lab (``lab=True``) only those colours are drawn: the scene's own table,
lights and camera, people demonstrating in front of the robot's camera.
``WidowXSim.set_appearance`` writes it into model fields (``geom_rgba``, ``geom_matid``,
``mat_rgba``, ``light_dir``/``diffuse``, the headlight, ``cam_pos``/``cam_quat``); nothing
is recompiled.
"""
from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np

from lam_ros.sim.scene import TABLE_TEXTURES

APPEARANCE_STREAM = 0x5EE1  # mixed into the episode seed: the task's own draws stay as they were

# Colours a forearm may have: the WidowX's black and greys, and sleeves.
FOREARM_PALETTE = np.array([
    (0.12, 0.12, 0.13), (0.25, 0.25, 0.27), (0.55, 0.56, 0.58), (0.85, 0.85, 0.83),
    (0.30, 0.45, 0.75), (0.15, 0.20, 0.38), (0.60, 0.18, 0.16), (0.25, 0.42, 0.28),
    (0.72, 0.62, 0.48)])
# Colours an effector may have: gripper greys, skin tones, gloves.
EFFECTOR_PALETTE = np.array([
    (0.25, 0.25, 0.27), (0.12, 0.12, 0.13), (0.62, 0.62, 0.64), (0.93, 0.72, 0.58),
    (0.80, 0.58, 0.45), (0.55, 0.38, 0.27), (0.36, 0.25, 0.18), (0.35, 0.50, 0.85),
    (0.92, 0.92, 0.90)])
TABLE_PALETTE = np.array([
    (0.62, 0.50, 0.38), (0.72, 0.60, 0.45), (0.45, 0.33, 0.24), (0.80, 0.80, 0.78),
    (0.50, 0.52, 0.55), (0.35, 0.36, 0.38), (0.55, 0.62, 0.52)])


@dataclass(frozen=True)
class HeadMotion:
    """The ego camera's offset from its nominal pose at time ``t`` (s) of an episode.

    A fixed per-episode offset (``position`` m, ``rotation`` rad about the camera's own
    x (pitch), y (yaw), z (roll) axes) plus a smooth drift: per axis
    ``amplitude * sin(2 pi frequency t + phase)``.
    """

    position: tuple[float, float, float]
    rotation: tuple[float, float, float]
    drift_amplitude: tuple[float, ...]   # 3 position (m), then 3 rotation (rad)
    drift_frequency: tuple[float, ...]   # Hz, 6 values
    drift_phase: tuple[float, ...]       # rad, 6 values

    def offset(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(position offset in the camera frame (m), rotation vector (rad)) at ``t``."""
        drift = np.asarray(self.drift_amplitude) * np.sin(
            2.0 * math.pi * np.asarray(self.drift_frequency) * t + np.asarray(self.drift_phase))
        return np.asarray(self.position) + drift[:3], np.asarray(self.rotation) + drift[3:]


@dataclass(frozen=True)
class Room:
    """The table and the lights."""

    table_rgb: tuple[float, float, float]
    table_texture: str                         # one of scene.TABLE_TEXTURES
    light_dir: tuple[float, float, float]
    light_diffuse: tuple[float, float, float]
    headlight_ambient: float
    headlight_diffuse: float


@dataclass(frozen=True)
class Appearance:
    """Everything about an episode's look that does not change its physics."""

    forearm_rgb: tuple[float, float, float]    # robot links and base / the hand's sleeve
    effector_rgb: tuple[float, float, float]   # robot gripper and fingers / hand and fingers
    head: HeadMotion | None                    # None: the scene's camera, still
    room: Room | None                          # None: the scene's own table and lights


def _colour(rng: np.random.Generator, palette: np.ndarray, jitter: float) -> tuple:
    base = palette[rng.integers(len(palette))]
    return tuple(float(c) for c in np.clip(base + rng.uniform(-jitter, jitter, 3), 0.0, 1.0))


def sample_appearance(seed: int | np.random.Generator, lab: bool = False) -> Appearance:
    """The appearance of episode ``seed`` (or drawn from a generator).

    ``lab``: the person's colours only (the same as without), in the scene's room and camera.
    """
    rng = (seed if isinstance(seed, np.random.Generator)
           else np.random.default_rng((APPEARANCE_STREAM, int(seed))))
    tilt = rng.uniform(0.0, math.radians(35.0))
    azimuth = rng.uniform(-math.pi, math.pi)
    light_dir = (math.sin(tilt) * math.cos(azimuth), math.sin(tilt) * math.sin(azimuth),
                 -math.cos(tilt))
    intensity = rng.uniform(0.3, 0.75)
    warmth = rng.uniform(-0.06, 0.06)
    head = HeadMotion(
        position=tuple(rng.uniform(-0.03, 0.03, 3)),
        rotation=tuple(rng.uniform(-math.radians(3.0), math.radians(3.0), 3)),
        drift_amplitude=(*rng.uniform(0.002, 0.008, 3),
                         *rng.uniform(math.radians(0.2), math.radians(0.8), 3)),
        drift_frequency=tuple(rng.uniform(0.1, 0.35, 6)),
        drift_phase=tuple(rng.uniform(0.0, 2.0 * math.pi, 6)))
    forearm_rgb = _colour(rng, FOREARM_PALETTE, 0.06)
    effector_rgb = _colour(rng, EFFECTOR_PALETTE, 0.06)
    room = Room(   # drawn either way, in this order: a seed's look never changes
        table_rgb=_colour(rng, TABLE_PALETTE, 0.08),
        table_texture=TABLE_TEXTURES[rng.integers(len(TABLE_TEXTURES))],
        light_dir=light_dir,
        light_diffuse=tuple(float(intensity * (1.0 + w)) for w in (warmth, 0.0, -warmth)),
        headlight_ambient=float(rng.uniform(0.3, 0.55)),
        headlight_diffuse=float(rng.uniform(0.3, 0.6)))
    return Appearance(forearm_rgb=forearm_rgb, effector_rgb=effector_rgb,
                      head=None if lab else head, room=None if lab else room)
