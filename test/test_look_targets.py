# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Look targets read off a video: what moved (not the arm), and where that is on the table."""
import warnings

import numpy as np
import pytest

from lam_models.data.look_targets import (
    MoveFinder,
    ObjectMoves,
    TableCamera,
    find_object_moves,
    look_targets,
)

TABLE, ARM, BLOCK = (200, 160, 120), (40, 40, 60), (220, 30, 30)
FLOATING = (230, 140, 30)   # an orange, as the simulator's avatar


def video(start=(20, 30), end=(46, 22), arm_over_start=False, length=30) -> np.ndarray:
    """A block at ``start`` (u, v) carried to ``end`` by an arm that enters from the left."""
    frames = np.empty((length, 64, 64, 3), np.uint8)
    frames[:] = TABLE
    hand_path = np.linspace([8, 50], [end[0] - 4, end[1] - 5], length).astype(int)
    for t, (u, v) in enumerate(hand_path):
        block = start if t < length // 3 else end if t >= 2 * length // 3 else None
        if block is not None:
            frames[t, block[1] - 1:block[1] + 2, block[0] - 1:block[0] + 2] = BLOCK
        frames[t, v - 2:v + 2, 0:u] = ARM                     # the arm: touches the border
    if arm_over_start:
        frames[0, start[1] - 3:start[1] + 3, 0:start[0] + 3] = ARM
    return frames


def test_the_moved_objects_start_and_end_are_found_and_the_arm_is_not():
    moves = find_object_moves(video())
    assert moves.start.tolist() == pytest.approx([20, 30], abs=0.01)
    assert moves.end.tolist() == pytest.approx([46, 22], abs=0.01)
    # twice the pixels: the same points (pixel centres), with areas and distances scaled
    double = find_object_moves(video().repeat(2, 1).repeat(2, 2))
    assert double.start.tolist() == pytest.approx([40.5, 60.5], abs=0.01)
    assert double.end.tolist() == pytest.approx([92.5, 44.5], abs=0.01)


def test_a_start_next_to_the_end_or_the_tables_colour_is_not_the_start():
    assert find_object_moves(video(start=(44, 24))).start is None   # 2.8 px from the end
    frames = video()
    frames[0, 29:32, 19:22] = np.add(TABLE, 30)             # a shade that is the table's
    assert find_object_moves(frames).start is None


def test_an_object_hidden_by_the_arm_or_coloured_as_the_arm_is_not_seen_rather_than_guessed():
    assert find_object_moves(video(arm_over_start=True)).start is None
    frames = video()
    frames[frames.sum(-1) == sum(BLOCK)] = ARM              # a block the sleeve's colour
    assert find_object_moves(frames).start is None
    assert find_object_moves(video(), MoveFinder(min_area=10)).start is None   # too small
    with pytest.raises(ValueError, match=r'needs \(T >= 2, H, W, 3\) uint8 frames'):
        find_object_moves(video()[:1])
    with pytest.raises(ValueError, match=r'uint8 frames .* float32'):
        find_object_moves(video().astype(np.float32) / 255)


def floating_video(start=(20, 30), end=(46, 22), length=30) -> np.ndarray:
    """``video``'s block, moved by an effector that floats in view, touching no border."""
    frames = np.empty((length, 64, 64, 3), np.uint8)
    frames[:] = TABLE
    third = length // 3
    reach = np.linspace([8, 8], [start[0], start[1] - 4], third)
    carry = np.linspace([start[0], start[1] - 4], [end[0], end[1] - 4], third)
    hover = np.repeat([[end[0], end[1] - 4]], length - 2 * third, 0)
    for t, (u, v) in enumerate(np.concatenate([reach, carry, hover]).astype(int)):
        block = start if t < third else end if t >= 2 * third else (u, v + 4)
        frames[t, block[1] - 1:block[1] + 2, block[0] - 1:block[0] + 2] = BLOCK
        frames[t, v - 2:v + 2, u - 2:u + 2] = FLOATING    # touches no border
    return frames


def test_an_effector_floating_in_view_is_neither_the_start_nor_the_end():
    frames = floating_video()
    moves = find_object_moves(frames)
    assert moves.start.tolist() == pytest.approx([20, 30], abs=0.01)
    assert moves.end.tolist() == pytest.approx([46, 22], abs=0.01)
    assert find_object_moves(frames, MoveFinder(still_frames=0)).start.tolist() != (
        pytest.approx([20, 30], abs=0.01))   # unchecked for standing still: the effector
    still = np.repeat(frames[:1], 5, 0)                        # nothing moves: nothing found
    with warnings.catch_warnings():
        warnings.simplefilter('error', RuntimeWarning)         # no median of no pixels
        assert find_object_moves(still) == ObjectMoves(None, None)


def test_a_pixel_is_put_on_the_table_plane_through_the_cameras_calibration():
    down = np.eye(4)                                        # optical z (forward) = base -z
    down[:3, :3] = np.diag([1.0, -1.0, -1.0])
    down[:3, 3] = [0.3, 0.0, 1.0]
    camera = TableCamera(np.array([[64.0, 0, 32], [0, 64, 32], [0, 0, 1]]), down, (64, 64))
    assert camera.table_point(np.array([32.0, 32.0]), 0.2).tolist() == pytest.approx(
        [0.3, 0.0, 0.2])
    # 16 px right, 8 px down at 0.8 m below the camera: +0.2 m along x, -0.1 m along y
    assert camera.table_point(np.array([48.0, 40.0]), 0.2).tolist() == pytest.approx(
        [0.5, -0.1, 0.2])
    with pytest.raises(ValueError, match='does not look down onto z = 1.5 m'):
        camera.table_point(np.array([32.0, 32.0]), 1.5)
    with pytest.raises(ValueError, match='frames are 128x128 px, the camera is calibrated at '
                                         '64x64'):
        look_targets(video().repeat(2, 1).repeat(2, 2), camera, np.array([0.0, 0.0]))


def test_a_simulated_human_videos_look_targets_land_where_the_hand_grasps_and_releases():
    """The simulator's still camera and the finder agree with the hand's hidden path."""
    from lam_models.data.windows import waypoint_targets
    from lam_ros.sim import generate_episode
    from lam_ros.sim.episodes import table_camera
    episode = generate_episode('pick_place', 40_001, 'human', 'ego', 64, lab=True)
    truth = (waypoint_targets(episode.hidden_motion, episode.effector_positions)[0]
             + episode.effector_positions[0])
    points = look_targets(episode.frames, table_camera('pick_place'), truth[:, 2])
    assert None not in points
    assert np.linalg.norm(np.array(points)[:, :2] - truth[:, :2], axis=1).max() < 0.03
