# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Rendered images agree with the CameraInfo the simulator reports."""
import numpy as np
import pytest

from lam_ros.sim import CAMERA_NAMES, WidowXSim, depth_to_uint16_mm, make_task

SIZE = 128


@pytest.fixture(scope='module')
def sim():
    task = make_task('push')
    sim = WidowXSim('wx250s', task.objects)
    sim.visible = 'human'             # arm hidden, hand parked out of view: only the table
    sim.place_object('block', [0.45, 0.2, 0.02])
    sim.place_object('target', [0.27, 0.05, 0.0])
    yield sim
    sim.close()


def _project(sim: WidowXSim, camera: str, point: np.ndarray) -> np.ndarray:
    pose = sim.camera_pose(camera)
    local = pose[:3, :3].T @ (point - pose[:3, 3])
    optical = np.array([local[0], -local[1], -local[2]])  # MuJoCo (-z forward) -> ROS optical
    pixel = sim.camera_info(camera, SIZE, SIZE).k @ (optical / optical[2])
    return pixel[:2]


@pytest.mark.parametrize('camera', ['third_person', 'ego'])
def test_projected_target_centre_lands_on_the_green_disc(sim, camera):
    image = sim.render(camera, SIZE, SIZE).astype(int)
    green = (image[..., 1] > 120) & (image[..., 0] < 110) & (image[..., 2] < 120)
    assert green.sum() > 20
    rows, cols = np.nonzero(green)
    u, v = _project(sim, camera, sim.object_position('target'))
    assert abs(cols.mean() - u) < 1.5 and abs(rows.mean() - v) < 1.5


def test_depth_backprojects_onto_the_table_plane(sim):
    depth = sim.render('third_person', SIZE, SIZE, depth=True)
    info = sim.camera_info('third_person', SIZE, SIZE)
    v, u = np.mgrid[0:SIZE, 0:SIZE]
    rays = np.linalg.inv(info.k) @ np.stack([u.ravel(), v.ravel(), np.ones(SIZE * SIZE)])
    optical = rays * depth.ravel()                       # depth is along the optical axis
    local = np.stack([optical[0], -optical[1], -optical[2]])
    pose = sim.camera_pose('third_person')
    world = (pose[:3, :3] @ local).T + pose[:3, 3]
    on_table = (np.abs(world[:, 0] - 0.3) < 0.4) & (np.abs(world[:, 1]) < 0.5) & (
        np.abs(world[:, 2]) < 0.05)
    assert on_table.mean() > 0.3
    assert np.median(np.abs(world[on_table, 2])) < 0.002


def test_camera_info_is_plumb_bob_with_centred_principal_point(sim):
    for camera in CAMERA_NAMES:
        info = sim.camera_info(camera, 160, 120)
        assert info.distortion_model == 'plumb_bob' and info.d == (0.0,) * 5
        assert info.k[0, 2] == pytest.approx(79.5) and info.k[1, 2] == pytest.approx(59.5)
        assert info.k[0, 0] == pytest.approx(info.k[1, 1])
        rgb = sim.render(camera, 160, 120)
        assert rgb.shape == (120, 160, 3) and rgb.dtype == np.uint8


def test_unknown_camera_is_a_clear_error(sim):
    with pytest.raises(ValueError, match='third_person'):
        sim.render('fisheye')


def test_depth_to_uint16_millimetres():
    depth = np.array([[0.5, 1.2344], [np.nan, 70.0]], dtype=np.float32)
    assert depth_to_uint16_mm(depth).tolist() == [[500, 1234], [0, 65535]]
