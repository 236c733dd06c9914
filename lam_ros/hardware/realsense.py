# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Intel RealSense color + depth capture, without ROS.

One ``RealSenseCamera`` class serves a live camera (by serial), a recorded ``.db3``/``.bag``
and an injected device (``rs.software_device`` in tests, an ``rs.recorder`` wrapping one).
A live camera streams through ``rs.pipeline``. Recorded and injected devices open their
sensors straight into an ``rs.syncer``: a software device cannot join a pipeline
(``software_device.add_to`` does not make it visible to a context's device queries in
pyrealsense2 2.59), and a pipeline starts playback in real time before real-time can be
switched off, so a short recording lost or mispaired frames. From the frameset on, all
three share one path: ``rs.align(rs.stream.color)``, conversion to numpy
(RGB, depth in millimetres), calibration from the stream profile and the frame timestamps.
"""
from __future__ import annotations

from collections.abc import Callable
import os
import time

import numpy as np
import pyrealsense2 as rs

from lam_ros.hardware.camera_source import (
    CameraError,
    CameraFrame,
    CameraIntrinsics,
    CameraTimeout,
)

Profile = tuple[int, int, int]  # width, height, fps

# CameraInfo names for librealsense distortion models; the Brown-Conrady variants all carry
# k1, k2, p1, p2, k3 (plumb_bob's order), Kannala-Brandt carries k1..k4 (equidistant's).
_DISTORTION_MODELS: dict[rs.distortion, tuple[str, int]] = {
    rs.distortion.none: ('plumb_bob', 5),
    rs.distortion.brown_conrady: ('plumb_bob', 5),
    rs.distortion.modified_brown_conrady: ('plumb_bob', 5),
    rs.distortion.inverse_brown_conrady: ('plumb_bob', 5),
    rs.distortion.kannala_brandt4: ('equidistant', 4),
}

# Channel order to turn each supported color format into RGB.
_TO_RGB: dict[rs.format, list[int]] = {
    rs.format.rgb8: [0, 1, 2],
    rs.format.bgr8: [2, 1, 0],
    rs.format.rgba8: [0, 1, 2],
    rs.format.bgra8: [2, 1, 0],
}

_PLAYBACK_POLL_MS = 100

_ARRIVAL = rs.frame_metadata_value.time_of_arrival   # ms, the host's epoch clock


class PlaybackEnded(CameraError):
    """A recording played without repeat has delivered its last frame."""


def list_devices(context: rs.context | None = None) -> list[tuple[str, str]]:
    """Return ``(serial, name)`` of every RealSense camera plugged in now."""
    devices = (context or rs.context()).query_devices()
    return [(d.get_info(rs.camera_info.serial_number), d.get_info(rs.camera_info.name))
            for d in devices]


def hold_frame_rate(device: rs.device) -> int:
    """Keep auto-exposure from lowering the frame rate; returns how many sensors it set.

    Out of the box the colour sensor favours exposure over rate (``auto_exposure_priority``):
    in dim light, or in the arm's shadow, a 30 fps stream drops to 15-25 fps, and a
    recording's rows are no longer one command apart (``at_frame_rate``). Off, frames come
    darker but on time.
    """
    held = 0
    for sensor in device.query_sensors():
        if sensor.supports(rs.option.auto_exposure_priority):
            try:
                sensor.set_option(rs.option.auto_exposure_priority, 0)
            except RuntimeError:   # read-only on some firmware: the stream still runs
                continue
            held += 1
    return held


def intrinsics_from_profile(profile: rs.video_stream_profile, frame_id: str) -> CameraIntrinsics:
    """Translate a stream's librealsense calibration into CameraInfo terms."""
    raw = profile.get_intrinsics()
    if raw.model not in _DISTORTION_MODELS:
        raise CameraError(
            f'{profile.stream_name()} stream uses distortion model {raw.model}, which has no '
            f'sensor_msgs/CameraInfo equivalent; supported: {list(_DISTORTION_MODELS)}')
    model, n_coeffs = _DISTORTION_MODELS[raw.model]
    k = np.array([[raw.fx, 0.0, raw.ppx], [0.0, raw.fy, raw.ppy], [0.0, 0.0, 1.0]])
    return CameraIntrinsics(raw.width, raw.height, k, tuple(raw.coeffs[:n_coeffs]), model,
                            frame_id)


def color_to_rgb(frame: rs.video_frame) -> np.ndarray:
    """Copy a color frame out of librealsense's (recycled) buffer as (H, W, 3) uint8 RGB."""
    fmt = frame.get_profile().format()
    if fmt not in _TO_RGB:
        raise CameraError(f'color stream format {fmt} is not supported; use one of '
                          f'{list(_TO_RGB)}')
    pixels = np.asanyarray(frame.get_data())
    return np.ascontiguousarray(pixels[:, :, _TO_RGB[fmt]])


def depth_to_mm(frame: rs.depth_frame) -> np.ndarray:
    """Copy a depth frame as uint16 millimetres whatever the sensor's depth unit."""
    raw = np.asanyarray(frame.get_data())
    mm_per_unit = frame.get_units() * 1000.0
    if abs(mm_per_unit - 1.0) < 1e-6:
        return raw.copy()
    return np.clip(np.rint(raw * mm_per_unit), 0, np.iinfo(np.uint16).max).astype(np.uint16)


class RealSenseCamera:
    """A RealSense color camera with optional depth aligned to color.

    Give at most one of ``serial`` (a live camera; none at all means the first one found),
    ``playback_file`` (a ``.db3``/``.bag`` recording) or ``device`` (an already built
    ``rs.device`` such as a ``software_device`` or an ``rs.recorder``). Profiles are
    ``(width, height, fps)``; ``depth_profile=None`` streams color only. Several cameras
    run side by side as separate instances, one serial each.
    """

    def __init__(self, serial: str | None = None, playback_file: str | os.PathLike | None = None,
                 device: rs.device | None = None,
                 color_profile: Profile = (640, 480, 30),
                 depth_profile: Profile | None = (640, 480, 30),
                 align_depth: bool = True, timeout_ms: int = 2000,
                 real_time: bool = True, repeat_playback: bool = False,
                 frame_id: str = 'camera_color_optical_frame',
                 depth_frame_id: str = 'camera_depth_optical_frame',
                 frame_queue_size: int = 16):
        given = [name for name, value in
                 (('serial', serial), ('playback_file', playback_file), ('device', device))
                 if value is not None]
        if len(given) > 1:
            raise ValueError(f'RealSenseCamera takes at most one of serial, playback_file, '
                             f'device; got {", ".join(given)}')
        if timeout_ms <= 0:
            raise ValueError(f'RealSenseCamera timeout_ms must be positive, got {timeout_ms}')
        self.serial = serial
        self.playback_file = os.fspath(playback_file) if playback_file is not None else None
        self.device = device
        self.color_profile = color_profile
        self.depth_profile = depth_profile
        self.align_depth = align_depth and depth_profile is not None
        self.timeout_ms = timeout_ms
        self.real_time = real_time
        self.repeat_playback = repeat_playback
        self.frame_id = frame_id
        self.depth_frame_id = depth_frame_id
        self.frame_queue_size = frame_queue_size

        self._wait: Callable[[int], tuple[bool, rs.composite_frame]] | None = None
        self._stop_streaming: Callable[[], None] | None = None
        self._playback: rs.playback | None = None
        self._align = rs.align(rs.stream.color) if self.align_depth else None
        self._intrinsics: CameraIntrinsics | None = None
        self._depth_intrinsics: CameraIntrinsics | None = None

    @property
    def source(self) -> str:
        """Say which camera this is, for logs and error messages."""
        if self.playback_file is not None:
            return f'RealSense recording {self.playback_file}'
        if self.device is not None:
            return f'RealSense device {_device_label(self.device)}'
        return f'RealSense serial {self.serial}' if self.serial else 'first RealSense camera'

    @property
    def intrinsics(self) -> CameraIntrinsics:
        """Calibration of the color stream (and of aligned depth)."""
        if self._intrinsics is None:
            raise CameraError(f'{self.source} is not started; call start() first')
        return self._intrinsics

    @property
    def depth_intrinsics(self) -> CameraIntrinsics | None:
        """Calibration the depth images are in: the color one when aligned."""
        return self._depth_intrinsics

    def start(self) -> None:
        """Open the camera and start streaming; raises CameraError naming the camera."""
        if self._wait is not None:
            return
        try:
            if self.device is not None:
                color, depth = self._start_sensors(self.device)
            elif self.playback_file is not None:
                color, depth = self._start_sensors(self._load_playback())
            else:
                color, depth = self._start_pipeline()
        except RuntimeError as err:
            if isinstance(err, CameraError):
                raise
            raise CameraError(f'{self.source} could not start: {err}') from err
        self._intrinsics = intrinsics_from_profile(color, self.frame_id)
        if depth is None:
            self._depth_intrinsics = None
        elif self.align_depth:
            self._depth_intrinsics = self._intrinsics
        else:
            self._depth_intrinsics = intrinsics_from_profile(depth, self.depth_frame_id)

    def read(self, timeout_s: float | None = None) -> CameraFrame:
        """Return the next complete frame (color, plus depth when streamed).

        Raises CameraTimeout when none arrives within ``timeout_s`` (default: the
        constructor's ``timeout_ms``) and PlaybackEnded at the end of a non-repeating
        recording.
        """
        if self._wait is None:
            raise CameraError(f'{self.source} is not started; call start() first')
        timeout_ms = self.timeout_ms if timeout_s is None else max(1, round(timeout_s * 1000))
        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            frameset = self._next_frameset(deadline, timeout_ms)
            host_time_s = time.time()
            if self._align is not None:
                frameset = self._align.process(frameset)
            color = frameset.get_color_frame()
            depth = frameset.get_depth_frame() if self.depth_profile is not None else None
            # A syncer hands out lone frames until it has seen every stream once.
            if color and (depth is None or depth):
                # when librealsense received it, not when this reader caught up (its queue
                # holds up to 16 frames): what a sane global-time stamp is checked against.
                # A recording's is the day it was made: played back, now is the arrival.
                if self._playback is None and color.supports_frame_metadata(_ARRIVAL):
                    host_time_s = color.get_frame_metadata(_ARRIVAL) / 1000.0
                return CameraFrame(
                    color=color_to_rgb(color),
                    depth=depth_to_mm(depth) if depth is not None else None,
                    device_time_s=color.get_timestamp() / 1000.0,
                    time_domain=color.get_frame_timestamp_domain().name,
                    host_time_s=host_time_s,
                    frame_number=color.get_frame_number(),
                    intrinsics=self.intrinsics,
                    depth_intrinsics=self._depth_intrinsics,
                )

    def stop(self) -> None:
        """Stop streaming and release the device; safe to call when not started."""
        stop, self._wait, self._stop_streaming, self._playback = (
            self._stop_streaming, None, None, None)
        if stop is not None:
            try:
                stop()
            except RuntimeError:
                pass  # an unplugged camera cannot be stopped cleanly; it is gone either way

    def reconnect(self, max_attempts: int = 5, backoff_s: float = 0.5) -> None:
        """Restart the camera, waiting ``backoff_s``, then twice as long, ... between tries."""
        self.stop()
        last_error: CameraError | None = None
        for attempt in range(max_attempts):
            time.sleep(backoff_s * 2 ** attempt)
            try:
                self.start()
                return
            except CameraError as err:
                last_error = err
        raise CameraError(f'{self.source} did not come back after {max_attempts} attempts: '
                          f'{last_error}')

    def __enter__(self) -> RealSenseCamera:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _next_frameset(self, deadline: float, timeout_ms: int) -> rs.composite_frame:
        """Wait for a frameset until ``deadline`` (time.monotonic seconds)."""
        while True:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                raise CameraTimeout(f'{self.source} delivered no frames within {timeout_ms} ms '
                                    f'(unplugged, or not streaming?)')
            wait, playback = self._wait, self._playback   # stop() may run on another thread
            if wait is None:
                raise CameraError(f'{self.source} was stopped while reading')
            slice_ms = remaining_ms if playback is None else min(remaining_ms, _PLAYBACK_POLL_MS)
            try:
                ok, frameset = wait(slice_ms)
            except RuntimeError as err:
                raise CameraError(f'{self.source} failed while streaming: {err}') from err
            if ok:
                return frameset
            if playback is not None and playback.current_status() == rs.playback_status.stopped:
                if not self.repeat_playback:
                    raise PlaybackEnded(f'{self.source} has no more frames')
                self.stop()
                self.start()

    def _start_pipeline(self) -> tuple[rs.video_stream_profile, rs.video_stream_profile | None]:
        # Checked here because pipeline.start() waits ~15 s for a device that is absent.
        connected = list_devices()
        if not connected or (self.serial is not None
                             and self.serial not in [serial for serial, _ in connected]):
            raise CameraError(f'{self.source} is not connected (connected: {connected})')
        config = rs.config()
        if self.serial is not None:
            config.enable_device(self.serial)
        width, height, fps = self.color_profile
        config.enable_stream(rs.stream.color, width, height, rs.format.rgb8, fps)
        if self.depth_profile is not None:
            width, height, fps = self.depth_profile
            config.enable_stream(rs.stream.depth, width, height, rs.format.z16, fps)
        pipeline = rs.pipeline()
        started = pipeline.start(config)
        hold_frame_rate(started.get_device())
        self._wait = pipeline.try_wait_for_frames
        self._stop_streaming = pipeline.stop
        color = started.get_stream(rs.stream.color).as_video_stream_profile()
        depth = None
        if self.depth_profile is not None:
            depth = started.get_stream(rs.stream.depth).as_video_stream_profile()
        return color, depth

    def _load_playback(self) -> rs.playback:
        if not os.path.isfile(self.playback_file):
            raise CameraError(f'RealSense recording {self.playback_file} does not exist')
        playback = rs.context().load_device(self.playback_file).as_playback()
        playback.set_real_time(self.real_time)
        self._playback = playback
        return playback

    def _start_sensors(self, device: rs.device
                       ) -> tuple[rs.video_stream_profile, rs.video_stream_profile | None]:
        wanted = [(rs.stream.color, self.color_profile)]
        if self.depth_profile is not None:
            wanted.append((rs.stream.depth, self.depth_profile))
        sensors = device.query_sensors()
        chosen: dict[rs.stream, tuple[int, rs.video_stream_profile]] = {}
        for index, sensor in enumerate(sensors):
            for profile in sensor.get_stream_profiles():
                if not profile.is_video_stream_profile():
                    continue
                video = profile.as_video_stream_profile()
                size_fps = (video.width(), video.height(), video.fps())
                for stream, wanted_size_fps in wanted:
                    if (stream not in chosen and video.stream_type() == stream
                            and size_fps == tuple(wanted_size_fps)):
                        chosen[stream] = (index, video)
        missing = [f'{stream.name} {w}x{h}@{fps}' for stream, (w, h, fps) in wanted
                   if stream not in chosen]
        if missing:
            raise CameraError(f'{self.source} offers no {", ".join(missing)} stream')
        syncer = rs.syncer(self.frame_queue_size)
        streaming = sorted({index for index, _ in chosen.values()})
        # Playback starts with the first sensor; held back, the first frames arrive unpaired.
        playback = device.as_playback() if device.is_playback() else None
        if playback is not None:
            playback.pause()
        for index in streaming:
            sensors[index].open([p for i, p in chosen.values() if i == index])
            sensors[index].start(syncer)
        if playback is not None:
            playback.resume()

        def stop_sensors() -> None:
            for index in streaming:
                sensors[index].stop()
                sensors[index].close()

        self._wait = syncer.try_wait_for_frames
        self._stop_streaming = stop_sensors
        depth = chosen[rs.stream.depth][1] if self.depth_profile is not None else None
        return chosen[rs.stream.color][1], depth


def _device_label(device: rs.device) -> str:
    """Name a device by serial when it has one (software devices need not)."""
    for info in (rs.camera_info.serial_number, rs.camera_info.name):
        if device.supports(info):
            return device.get_info(info)
    return 'without serial number'
