# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Where a video's moved object starts and ends, read off its frames: look targets with no model.

Issue 12, session 14: nearly all the oracle's gain came from the human videos' waypoint
targets (where the hand grasps and releases), not their motion, and pseudo-actions summed
up to those points missed them by as much as a guess. Here the points come from the frames
alone, without looking at the embodiment, so a hand and a gripper give the same target for
the same scene:

1. The background is each pixel's median over the video: the table and what stays put (the
   arm and the moved object are at any one place for less than half of it).
2. Changed regions are the connected parts of ``|frame - background| > threshold``
   (RGB summed). Those touching the image border are the embodiment: an arm enters the
   view from outside it.
3. The object's **end** is the strongest inner region of the last frame (the object
   where it was put, and what of the arm hangs over it).
4. The object's **start** is the strongest inner region of the first frame, block-sized,
   away from the end, whose colour is neither the table's (the background's median) nor
   the embodiment's (its border regions' median).
5. An effector that floats in view, touching the border in no frame (the simulator's
   avatar), is told apart otherwise: its colour is the changed pixels' over the whole
   video, which the end ignores, and the start must stand still over the first
   ``still_frames`` frames (the object waits for the hand; the avatar shares its hue).

Either may be missing: the hand covers the object in the first frame, or a sleeve has its
colour. A missing point is no target, not a guess. Pixels become points on the table through
the camera's calibration (``TableCamera``) at the heights where the robot's own demos grasp
and release (``lam_models.data.task_priors.event_heights``). It needs a still camera (a head
that moves makes the whole scene change) and one moved object. Measured on 300 simulated lab
human videos (64 px) against the hand's true points: start found in 61%, 93% of those within
3 cm (median 1.3 cm); end found in 99%, 95% within 3 cm (median 1.8 cm). On 200 avatar ones
(session 19): start found in 85%, all within 3 cm (median 1.1 cm); end in all, 98% within
3 cm (median 1.7 cm); the same on 50 robot avatar ones. On a policy's first frames they
teach its waypoint head where the block is, yet did not lift its success (session 15: the
oracle's waypoints follow the hand on every frame, which a video does not give); they can
anchor a decoded path (``lam_models.data.task_priors``), which follows it.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

REFERENCE_SIZE = 64   # px: the frame side the region sizes below are given for


@dataclass(frozen=True)
class MoveFinder:
    """Thresholds of ``find_object_moves`` (RGB summed, 0..765; areas at REFERENCE_SIZE px)."""

    changed_above: float = 40.0     # a pixel differs from the background by more than this
    colour_apart: float = 100.0     # the start's colour differs from table and arm by this
    min_area: int = 2               # the start region's area in px (a 3 cm block: 2-12 px)
    max_area: int = 20
    apart_px: float = 4.0           # the start region's centre is this far from the end's
    still_frames: int = 2           # a floating effector's video: the start stands this long


@dataclass(frozen=True)
class ObjectMoves:
    """Pixel (u, v) centres of the moved object's start and end, None where not seen."""

    start: np.ndarray | None
    end: np.ndarray | None


def _regions(difference: np.ndarray, threshold: float
             ) -> tuple[np.ndarray, list[int], list[int], np.ndarray, np.ndarray]:
    """Labels, inner and border region ids, stats and centroids of ``difference > threshold``."""
    count, labels, stats, centres = cv2.connectedComponentsWithStats(
        (difference > threshold).astype(np.uint8), connectivity=8)
    height, width = difference.shape
    touches = ((stats[:, 0] == 0) | (stats[:, 1] == 0)
               | (stats[:, 0] + stats[:, 2] >= width) | (stats[:, 1] + stats[:, 3] >= height))
    inner = [i for i in range(1, count) if not touches[i]]
    border = [i for i in range(1, count) if touches[i]]
    return labels, inner, border, stats, centres


def find_object_moves(frames: np.ndarray, finder: MoveFinder = MoveFinder()) -> ObjectMoves:
    """The moved object's start (in the first frame) and end (in the last), as pixels."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) < 2 or frames.dtype != np.uint8:
        raise ValueError(f'find_object_moves needs (T >= 2, H, W, 3) uint8 frames (its '
                         f'thresholds are in 0..255 per channel), got {frames.shape} '
                         f'{frames.dtype}')
    video = frames.astype(np.float32)
    background = np.median(video, 0)
    table = np.median(background.reshape(-1, 3), 0)
    area_scale = (frames.shape[1] / REFERENCE_SIZE) ** 2

    difference = np.abs(video - background).sum(-1)
    first = difference[0]
    labels, inner, border, stats, centres = _regions(first, finder.changed_above)
    # No changed region touches the border in any frame: the effector floats in view (the
    # simulator's avatar; an arm that enters from outside touches it in at least 63% of a
    # lab video's frames). Its colour is then the changed pixels' over the whole video (it
    # is in every frame), and the last frame's pixels of that colour are not where the
    # object ended.
    changed = difference > finder.changed_above
    floating = changed.any() and not any(_regions(frame, finder.changed_above)[2]
                                         for frame in difference)
    arm = (np.median(video[changed], 0) if floating
           else np.median(video[0][np.isin(labels, border)], 0) if border else None)

    last = difference[-1].copy()
    if floating:
        last[np.abs(video[-1] - arm).sum(-1) < finder.colour_apart] = 0.0
    end_labels, end_inner, _, _, end_centres = _regions(last, finder.changed_above)
    end = (end_centres[max(end_inner, key=lambda i: last[end_labels == i].sum())]
           if end_inner else None)

    still = video[min(finder.still_frames, len(video) - 1)]
    start, strongest = None, 0.0
    for i in inner:
        colour = video[0][labels == i].mean(0)
        if (not finder.min_area * area_scale <= stats[i, 4] <= finder.max_area * area_scale
                or end is not None and np.linalg.norm(centres[i] - end) <= finder.apart_px
                * np.sqrt(area_scale)
                or np.abs(colour - table).sum() < finder.colour_apart
                # a floating effector may share the object's hue: the object stands still
                or floating and np.abs(still[labels == i] - video[0][labels == i]).sum(-1).mean()
                > finder.changed_above
                or not floating and arm is not None
                and np.abs(colour - arm).sum() < finder.colour_apart):
            continue
        strength = float(first[labels == i].sum())
        if strength > strongest:
            start, strongest = centres[i], strength
    return ObjectMoves(start, end)


@dataclass(frozen=True)
class TableCamera:
    """A still camera's calibration: where a pixel meets a horizontal plane of the base frame.

    ``K`` (3, 3) are the intrinsics at ``size`` (width, height) px, the frames' size;
    ``pose`` (4, 4) is the optical frame (x right, y down, z forward: ROS's
    ``*_optical_frame``) in the robot's base frame.
    """

    K: np.ndarray
    pose: np.ndarray
    size: tuple[int, int]

    def table_point(self, pixel: np.ndarray, height: float) -> np.ndarray:
        """(3,) m: the point at base-frame ``z = height`` seen at ``pixel`` (u, v)."""
        ray = self.pose[:3, :3] @ np.linalg.solve(self.K, [pixel[0], pixel[1], 1.0])
        origin = self.pose[:3, 3]
        if ray[2] >= 0 or origin[2] <= height:
            raise ValueError(f'TableCamera: pixel {pixel} does not look down onto z = {height} m '
                             f'from a camera at z = {origin[2]:.3f} m')
        return origin + (height - origin[2]) / ray[2] * ray


def look_targets(frames: np.ndarray, camera: TableCamera, heights: np.ndarray,
                 finder: MoveFinder = MoveFinder()) -> list[list[float] | None]:
    """The grasp and release points of a video (``LOOK_TARGETS``): [x, y, z] m or None each."""
    if (frames.shape[2], frames.shape[1]) != tuple(camera.size):
        raise ValueError(f'look_targets: frames are {frames.shape[2]}x{frames.shape[1]} px, the '
                         f'camera is calibrated at {camera.size[0]}x{camera.size[1]}')
    moves = find_object_moves(frames, finder)
    return [None if pixel is None else camera.table_point(pixel, float(height)).tolist()
            for pixel, height in zip((moves.start, moves.end), heights)]
