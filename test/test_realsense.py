# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""RealSenseCamera against the real librealsense: a software_device and a recorded .db3."""
from __future__ import annotations

import gc
import time

import numpy as np
import pyrealsense2 as rs
import pytest

from lam_ros.hardware.camera_source import (
    CameraError,
    CameraFrame,
    CameraIntrinsics,
    CameraTimeout,
    FrameSource,
)
from lam_ros.hardware.realsense import (
    PlaybackEnded,
    RealSenseCamera,
    hold_frame_rate,
    intrinsics_from_profile,
    list_devices,
)

FPS = 30
COLOR_W, COLOR_H, COLOR_F = 128, 96, 80.0
DEPTH_W, DEPTH_H, DEPTH_F = 64, 48, 40.0      # same field of view as color, half resolution
BASELINE_M = 0.05                              # color camera 5 cm to the right of depth
SQUARE_MM, BACKGROUND_MM = 500, 1000
SQUARE_ROWS, SQUARE_COLS = slice(16, 32), slice(24, 40)   # in depth pixels
SERIAL = 'SW-0001'


def _intrinsics(width: int, height: int, focal: float) -> rs.intrinsics:
    intr = rs.intrinsics()
    intr.width, intr.height = width, height
    intr.fx = intr.fy = focal
    intr.ppx, intr.ppy = width / 2, height / 2
    intr.model = rs.distortion.brown_conrady
    intr.coeffs = [0.0] * 5
    return intr


class SoftwareRealSense:
    """A synthetic D4xx: a color and a depth sensor fed with frames the test writes."""

    def __init__(self, depth_units_m: float = 0.001):
        self.depth_units_m = depth_units_m
        self.device = rs.software_device()
        self.device.register_info(rs.camera_info.serial_number, SERIAL)
        self.depth_sensor = self.device.add_sensor('Depth')
        self.color_sensor = self.device.add_sensor('Color')
        self.depth_sensor.add_read_only_option(rs.option.depth_units, depth_units_m)
        self.depth_profile = self._add_stream(self.depth_sensor, rs.stream.depth, 0, DEPTH_W,
                                              DEPTH_H, DEPTH_F, rs.format.z16, 2)
        self.color_profile = self._add_stream(self.color_sensor, rs.stream.color, 1, COLOR_W,
                                              COLOR_H, COLOR_F, rs.format.rgb8, 3)
        depth_to_color = rs.extrinsics()
        depth_to_color.rotation = [1, 0, 0, 0, 1, 0, 0, 0, 1]
        depth_to_color.translation = [BASELINE_M, 0, 0]
        color_to_depth = rs.extrinsics()
        color_to_depth.rotation = [1, 0, 0, 0, 1, 0, 0, 0, 1]
        color_to_depth.translation = [-BASELINE_M, 0, 0]
        self.depth_profile.register_extrinsics_to(self.color_profile, depth_to_color)
        self.color_profile.register_extrinsics_to(self.depth_profile, color_to_depth)
        self._alive: list[np.ndarray] = []   # librealsense reads pixels after on_video_frame

    @staticmethod
    def _add_stream(sensor, stream, uid, width, height, focal, fmt, bpp):
        video = rs.video_stream()
        video.type, video.index, video.uid = stream, 0, uid
        video.width, video.height, video.fps, video.bpp, video.fmt = width, height, FPS, bpp, fmt
        video.intrinsics = _intrinsics(width, height, focal)
        return sensor.add_video_stream(video).as_video_stream_profile()

    @staticmethod
    def color_image(n: int) -> np.ndarray:
        """Gradient in R/G, frame number in B: every pixel and frame differs."""
        rows, cols = np.mgrid[0:COLOR_H, 0:COLOR_W]
        image = np.stack([cols * 2, rows * 2, np.full_like(rows, 10 * n)], axis=-1)
        return image.astype(np.uint8)

    @staticmethod
    def depth_mm() -> np.ndarray:
        depth = np.full((DEPTH_H, DEPTH_W), BACKGROUND_MM, np.uint16)
        depth[SQUARE_ROWS, SQUARE_COLS] = SQUARE_MM
        return depth

    def push(self, n: int) -> None:
        """Inject depth and color frame ``n``, both stamped n / FPS seconds."""
        raw_depth = np.rint(self.depth_mm() / (self.depth_units_m * 1000)).astype(np.uint16)
        for sensor, profile, pixels in ((self.depth_sensor, self.depth_profile, raw_depth),
                                        (self.color_sensor, self.color_profile,
                                         self.color_image(n))):
            self._alive.append(pixels)
            frame = rs.software_video_frame()
            frame.pixels = pixels
            frame.bpp = pixels.itemsize * (pixels.shape[2] if pixels.ndim == 3 else 1)
            frame.stride = pixels.shape[1] * frame.bpp
            frame.timestamp = n * 1000.0 / FPS
            frame.domain = rs.timestamp_domain.hardware_clock
            frame.frame_number = n
            frame.profile = profile
            sensor.on_video_frame(frame)


def _camera(device: rs.device, **kwargs) -> RealSenseCamera:
    return RealSenseCamera(device=device, color_profile=(COLOR_W, COLOR_H, FPS),
                           depth_profile=(DEPTH_W, DEPTH_H, FPS), **kwargs)


def _read_all(camera: RealSenseCamera, n: int) -> list[CameraFrame]:
    return [camera.read(timeout_s=2.0) for _ in range(n)]


def test_software_device_frames_come_back_exactly():
    sw = SoftwareRealSense()
    with _camera(sw.device) as camera:
        assert isinstance(camera, FrameSource)   # a started camera has its intrinsics
        for n in range(6):
            sw.push(n)
        frames = _read_all(camera, 5)   # the syncer releases frame 0 unpaired: skipped
    assert [f.frame_number for f in frames] == [1, 2, 3, 4, 5]
    for frame in frames:
        np.testing.assert_array_equal(frame.color, sw.color_image(frame.frame_number))
        assert frame.depth.shape == frame.color.shape[:2] and frame.depth.dtype == np.uint16
        assert frame.depth_aligned
        assert frame.time_domain == 'hardware_clock'
        assert frame.device_time_s == pytest.approx(frame.frame_number / FPS)
    assert np.all(np.diff([f.device_time_s for f in frames]) > 0)
    assert np.all(np.diff([f.host_time_s for f in frames]) >= 0)


def test_intrinsics_come_from_the_color_stream_profile():
    sw = SoftwareRealSense()
    with _camera(sw.device, frame_id='wrist_cam_color_optical_frame') as camera:
        intrinsics = camera.intrinsics
        sw.push(0)
        sw.push(1)
        frame = camera.read(timeout_s=2.0)
    expected_k = [[COLOR_F, 0, COLOR_W / 2], [0, COLOR_F, COLOR_H / 2], [0, 0, 1]]
    np.testing.assert_allclose(intrinsics.k, expected_k)
    assert (intrinsics.width, intrinsics.height) == (COLOR_W, COLOR_H)
    assert intrinsics.distortion_model == 'plumb_bob' and intrinsics.d == (0.0,) * 5
    assert intrinsics.frame_id == 'wrist_cam_color_optical_frame'
    assert frame.intrinsics == intrinsics == frame.depth_intrinsics


def test_depth_is_aligned_to_color_through_the_extrinsics():
    sw = SoftwareRealSense()
    with _camera(sw.device) as camera:
        sw.push(0)
        sw.push(1)
        depth = camera.read(timeout_s=2.0).depth
    # Seen from the color camera BASELINE_M to the right, a point at depth Z moves right by
    # f * baseline / Z pixels: 8 px for the square at 0.5 m, 4 px for the wall at 1 m.
    shift_square = COLOR_F * BASELINE_M / (SQUARE_MM / 1000)
    square_cols = np.flatnonzero(depth[COLOR_H // 2] == SQUARE_MM)
    unshifted_center = (SQUARE_COLS.start + SQUARE_COLS.stop) / 2 * COLOR_W / DEPTH_W - 0.5
    assert square_cols.mean() == pytest.approx(unshifted_center + shift_square, abs=1.0)
    square_rows = np.flatnonzero(depth[:, int(unshifted_center + shift_square)] == SQUARE_MM)
    assert abs(square_rows.min() - 32) <= 1 and abs(square_rows.max() + 1 - 64) <= 1
    assert np.all(depth[:, 10:40] == BACKGROUND_MM)
    assert np.all(depth[:, :3] == 0)   # nothing of the wall projects onto the left edge


def test_depth_in_tenths_of_a_millimetre_is_read_as_millimetres():
    sw = SoftwareRealSense(depth_units_m=0.0001)   # D405-style depth unit
    with _camera(sw.device, align_depth=False) as camera:
        sw.push(0)
        sw.push(1)
        frame = camera.read(timeout_s=2.0)
    np.testing.assert_array_equal(frame.depth, sw.depth_mm())
    assert not frame.depth_aligned
    assert frame.depth_intrinsics.frame_id == 'camera_depth_optical_frame'
    np.testing.assert_allclose(frame.depth_intrinsics.k[0, 0], DEPTH_F)


def test_no_frames_raises_timeout_naming_the_camera():
    sw = SoftwareRealSense()
    with _camera(sw.device) as camera:
        started = time.monotonic()
        with pytest.raises(CameraTimeout, match=rf'{SERIAL}.*300 ms'):
            camera.read(timeout_s=0.3)
        assert time.monotonic() - started < 5.0   # raised, did not hang


def test_reconnect_restarts_streaming():
    sw = SoftwareRealSense()
    with _camera(sw.device) as camera:
        sw.push(0)
        sw.push(1)
        assert camera.read(timeout_s=2.0).frame_number == 1
        camera.reconnect(max_attempts=2, backoff_s=0.01)
        sw.push(2)
        sw.push(3)
        assert camera.read(timeout_s=2.0).frame_number in (2, 3)


def test_absent_serial_fails_clearly_and_reconnect_gives_up():
    assert ('0000-not-plugged', 'x') not in list_devices()
    camera = RealSenseCamera(serial='0000-not-plugged')
    with pytest.raises(CameraError, match='0000-not-plugged'):
        camera.start()
    with pytest.raises(CameraError, match='after 2 attempts'):
        camera.reconnect(max_attempts=2, backoff_s=0.01)
    with pytest.raises(CameraError, match='not started'):
        camera.read()


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match='serial, playback_file'):
        RealSenseCamera(serial='1', playback_file='x.db3')
    with pytest.raises(CameraError, match='missing.db3'):
        RealSenseCamera(playback_file=tmp_path / 'missing.db3').start()
    with pytest.raises(CameraError, match='offers no color 640x480@30'):
        RealSenseCamera(device=SoftwareRealSense().device).start()


def test_recorded_db3_plays_back_the_same_frames(tmp_path):
    path = tmp_path / 'camera.db3'
    sw = SoftwareRealSense()
    recorder = rs.recorder(str(path), sw.device)
    with _camera(recorder) as camera:
        for n in range(6):
            sw.push(n)
        live = _read_all(camera, 5)
    del camera, recorder
    gc.collect()   # the recorder writes the bag out when it is destroyed
    assert path.stat().st_size > 0

    with RealSenseCamera(playback_file=path, real_time=False, color_profile=(COLOR_W, COLOR_H,
                         FPS), depth_profile=(DEPTH_W, DEPTH_H, FPS)) as player:
        played = []
        with pytest.raises(PlaybackEnded, match='camera.db3'):
            while len(played) < 20:
                played.append(player.read(timeout_s=5.0))
        assert player.intrinsics == live[0].intrinsics
    played_numbers = [f.frame_number for f in played]
    assert played_numbers == [f.frame_number for f in live]
    for recorded, original in zip(played, live, strict=True):
        np.testing.assert_array_equal(recorded.color, original.color)
        np.testing.assert_array_equal(recorded.depth, original.depth)
        assert recorded.device_time_s == pytest.approx(original.device_time_s)
        assert recorded.time_domain == original.time_domain

    with RealSenseCamera(playback_file=path, real_time=False, repeat_playback=True,
                         color_profile=(COLOR_W, COLOR_H, FPS),
                         depth_profile=(DEPTH_W, DEPTH_H, FPS)) as looping:
        numbers = [looping.read(timeout_s=5.0).frame_number for _ in range(2 * len(played))]
    assert numbers[len(played):] == numbers[:len(played)] == played_numbers


def test_camera_types_reject_inconsistent_frames():
    intrinsics = CameraIntrinsics.pinhole(4, 3, 2.0, 2.0, 2.0, 1.5, 'sim_camera_optical_frame')
    color = np.zeros((3, 4, 3), np.uint8)
    frame = CameraFrame(color, np.zeros((3, 4), np.uint16), 0.0, 'sim', 0.0, 0, intrinsics,
                        intrinsics)
    assert frame.depth_aligned
    with pytest.raises(ValueError, match='4x3'):
        CameraFrame(np.zeros((4, 4, 3), np.uint8), None, 0.0, 'sim', 0.0, 0, intrinsics)
    with pytest.raises(ValueError, match='millimetres'):
        CameraFrame(color, np.zeros((3, 4), np.float32), 0.0, 'sim', 0.0, 0, intrinsics,
                    intrinsics)


def test_kannala_brandt_maps_to_equidistant():
    sensor = rs.software_device().add_sensor('Fisheye')
    video = rs.video_stream()
    video.type, video.index, video.uid = rs.stream.fisheye, 1, 0
    video.width, video.height, video.fps, video.bpp, video.fmt = 8, 6, FPS, 1, rs.format.y8
    video.intrinsics = _intrinsics(8, 6, 3.0)
    video.intrinsics.model = rs.distortion.kannala_brandt4
    video.intrinsics.coeffs = [0.1, 0.2, 0.3, 0.4, 0.0]
    profile = sensor.add_video_stream(video).as_video_stream_profile()
    intrinsics = intrinsics_from_profile(profile, 'fisheye_optical_frame')
    assert intrinsics.distortion_model == 'equidistant'
    assert intrinsics.d == pytest.approx((0.1, 0.2, 0.3, 0.4))


def test_auto_exposure_may_no_longer_lower_the_frame_rate():
    """By default librealsense favours exposure: a D4xx in dim light streams 15 fps, not 30."""
    device = rs.software_device()
    color = device.add_sensor('RGB Camera')
    color.add_option(rs.option.auto_exposure_priority, rs.option_range(0, 1, 1, 1), True)
    device.add_sensor('Stereo Module')   # has no such option: left alone
    assert color.get_option(rs.option.auto_exposure_priority) == 1
    assert hold_frame_rate(device) == 1
    assert color.get_option(rs.option.auto_exposure_priority) == 0
