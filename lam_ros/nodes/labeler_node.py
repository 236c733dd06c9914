# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Labeler node: live pseudo-actions of the policy camera, one stamped message per frame pair.

    ros2 run lam_ros labeler --ros-args -p checkpoint:=runs/como/last.safetensors
    lam-ros collect label:=true label_checkpoint:=runs/como/last.safetensors

For every frame o_{t+n} of ``/<camera>/<camera>/color/image_raw`` it publishes
z(o_t, o_{t+n}) on ``/lam/pseudo_action``, computed exactly as ``lam-ros label``
computes row t of a dataset (``lam_models.latent.labeling``: the same resize, the
same windows, context clamped at the stream's start), so people can watch labels
next to the video in Foxglove or rqt. A camera faster than ``rate_hz`` (10 Hz) is thinned
to it as ``lam-ros dataset build --rate-hz`` thins a recording (a RealSense's 30 fps: every
third frame, from the first of each stream), so a pair is n steps of the dataset's rate
apart and the labels are the dataset's; ``rate_hz`` 0 labels every frame.

The message is a ``sensor_msgs/Image``, encoding ``32FC1``, 1 row x z_dim columns:
ROS has no standard stamped float vector, and Image is the standard typed array
that carries a header. It is what it says: one row of float32 values (no pixel
of any camera); ``header.stamp`` is o_t's stamp (the frame the label belongs to,
row t of the dataset), ``header.frame_id`` the camera's. Foxglove's Image panel
shows it as a colour strip; ``lam_models.data.images.image_to_array`` reads it back.
A type with a name per value (JointState) would claim the values are joints.

The forward pass runs in the node's own thread, so a slow batch never delays the
executor: the subscription only queues the message. No pair spans a missing frame:
the stream restarts after a frame is lost, i.e. one that did not fit the queue
(dropped here), one that arrived but does not decode (a warning names why), or one
lost before it reached the node (in DDS), seen as a header-stamp step above 1.5x
the median frame period of the last ``PERIOD_HISTORY`` steps (once ``MIN_PERIODS``
steps are known). It also restarts when time runs backwards (a bag played again).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import os
import queue
import threading
import time
from typing import Any

# Before torch loads OpenMP: idle OpenMP workers sleep instead of spinning. The labeler shares
# its cores with the sim, recorder and camera nodes; a spinning worker that one of them
# preempts stalls every parallel region (2 busy cores: 350 pairs/s spinning, 1100 sleeping).
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import numpy as np  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
import torch  # noqa: E402

from lam_models.checkpoints import CheckpointError  # noqa: E402
from lam_models.data.episode import CONTROL_RATE_HZ, frame_stride  # noqa: E402
from lam_models.data.images import array_to_image_fields, image_to_rgb, resize_frames  # noqa: E402
from lam_models.latent.base import LatentActionModel, load_latent_model  # noqa: E402
from lam_models.latent.labeling import (  # noqa: E402
    DEFAULT_BATCH_SIZE,
    checkpoint_sha256,
    encode_span,
    model_device,
    window_indices,
)
from lam_ros.app.runtime import ConfigError, LamNode, node_main  # noqa: E402
from lam_ros.interfaces import topics  # noqa: E402

QUEUE_FRAMES = 256          # frames waiting for the worker (25 s of a 10 Hz camera)
STATUS_PERIOD_S = 2.0
DEVICE_PATTERN = r'|cpu|cuda(:[0-9]+)?'
PERIOD_HISTORY = 32         # header-stamp steps the median frame period is taken over
MIN_PERIODS = 4             # steps known before a long one counts as lost frames
GAP_FACTOR = 1.5            # a step above this many median periods: frames were lost


@dataclass
class Frame:
    """A camera frame as the worker gets it; ``after_gap``: frames were lost just before it.

    ``pixels`` is None for a frame that arrived but does not decode (``error`` says why):
    it is lost like a dropped one, but its stamp still counts.
    """

    pixels: np.ndarray | None
    stamp: Any
    frame_id: str
    after_gap: bool = False
    error: str = ''


def decode(msg: Image, after_gap: bool = False) -> Frame:
    """The Image as a Frame of RGB pixels, or a Frame without pixels naming what is wrong."""
    try:
        return Frame(image_to_rgb(msg), msg.header.stamp, msg.header.frame_id, after_gap)
    except ValueError as error:   # not a colour image, or its data does not match its size
        return Frame(None, msg.header.stamp, msg.header.frame_id, after_gap, str(error))


class FrameStream:
    """A live frame stream -> the windows of the pairs (t, t+n) that new frames complete.

    Keeps, at the model's input size, the frames a later window can still need
    (the last K*n: K context frames, gap n). Windows are those of ``label_frames``
    over the stream since its start (or the last ``reset``): context before the
    first frame clamps to it.
    """

    def __init__(self, frame_gap: int, context_frames: int, image_size: int) -> None:
        self.frame_gap, self.context_frames, self.image_size = \
            frame_gap, context_frames, image_size
        self.kept: list[tuple[Any, str, np.ndarray]] = []   # (stamp, frame_id, pixels)
        self.first = 0                                      # stream index of kept[0]

    def reset(self) -> None:
        """Start over: the next frame is frame 0 of a new stream."""
        self.kept.clear()
        self.first = 0

    def add(self, frames: list[Frame]) -> tuple[np.ndarray, np.ndarray, list[tuple[Any, str]]]:
        """Append frames; return the P pairs they complete as (span, rows, heads).

        ``span``: the frames (N, S, S, 3) the windows use, ``rows``: window indices
        into it (P, K+1), ``heads``: (stamp, frame_id) of each window's o_t.
        """
        new = self.first + len(self.kept)
        pixels = resize_frames(np.stack([frame.pixels for frame in frames]), self.image_size)
        self.kept += [(f.stamp, f.frame_id, p) for f, p in zip(frames, pixels)]
        end = self.first + len(self.kept)
        starts = np.arange(max(new - self.frame_gap, 0), end - self.frame_gap)
        rows = window_indices(starts, self.frame_gap, self.context_frames) - self.first
        span = np.stack([p for _, _, p in self.kept])
        heads = [self.kept[t - self.first][:2] for t in starts]
        keep_from = max(end - self.context_frames * self.frame_gap, self.first)
        del self.kept[:keep_from - self.first]
        self.first = keep_from
        return span, rows, heads


class LiveLabeler:
    """The node's plain-Python core: frames in, (stamp, frame_id, z) out, one batch per call."""

    def __init__(self, model: LatentActionModel, rate_hz: float | None = None) -> None:
        """``rate_hz``: a faster camera is thinned to it (``_kept``); None: every frame."""
        config = model.config
        self.model = model.eval()
        self.stream = FrameStream(config.frame_gap, config.context_frames, config.image_size)
        self.rate_hz = rate_hz
        self.last_stamp: float | None = None
        self.periods: deque[float] = deque(maxlen=PERIOD_HISTORY)   # positive stamp steps
        self.grid_at: float | None = None   # the thinned stream's last grid point (s)

    def label(self, frames: list[Frame]) -> list[tuple[Any, str, np.ndarray]]:
        """Pseudo-actions of every pair these frames complete, in one forward pass.

        The stream restarts after lost frames (``after_gap``, a frame without pixels,
        a stamp step above ``GAP_FACTOR`` median periods) or when time runs backwards
        (a bag played again, a simulator reset of its clock).
        """
        labels: list[tuple[Any, str, np.ndarray]] = []
        segment: list[Frame] = []
        for frame in frames:
            if self._breaks_stream(frame) or frame.pixels is None:
                labels += self._encode(segment)
                segment = []
                self.stream.reset()
                self.grid_at = None
            if frame.pixels is not None and self._kept(frame):
                segment.append(frame)    # one without: the next frame starts a new stream
        return labels + self._encode(segment)

    def _kept(self, frame: Frame) -> bool:
        """Whether the stream thinned to ``rate_hz`` keeps ``frame``: its first, then every k-th.

        k is ``at_frame_rate``'s: the whole ratio of the camera's median rate to ``rate_hz``
        (below 2: every frame); a frame is kept once within half a period of the next grid
        point, k periods on from the last one.
        """
        if self.rate_hz is None:
            return True
        seconds = stamp_seconds(frame.stamp)
        if self.grid_at is None or not self.periods:
            self.grid_at = seconds
            return True
        period = float(np.median(self.periods))
        stride = frame_stride(1.0 / period, self.rate_hz)
        if stride > 1 and seconds < self.grid_at + (stride - 0.5) * period:
            return False
        # on the grid, k periods on; after a change of camera rate, from this frame
        late = seconds > self.grid_at + (stride + 0.5) * period
        self.grid_at = seconds if stride == 1 or late else self.grid_at + stride * period
        return True

    def _breaks_stream(self, frame: Frame) -> bool:
        """Whether frames were lost just before ``frame`` or time ran backwards to it."""
        seconds = stamp_seconds(frame.stamp)
        last, self.last_stamp = self.last_stamp, seconds
        if last is None:
            return frame.after_gap
        step = seconds - last
        if step < 0:
            self.periods.clear()         # another clock: its period is learnt again
            return True
        lost = len(self.periods) >= MIN_PERIODS and \
            step > GAP_FACTOR * float(np.median(self.periods))
        if step > 0 and not frame.after_gap:   # a step across dropped frames is no period
            self.periods.append(step)
        return frame.after_gap or lost

    def _encode(self, frames: list[Frame]) -> list[tuple[Any, str, np.ndarray]]:
        if not frames:
            return []
        span, rows, heads = self.stream.add(frames)
        if not len(rows):
            return []
        with torch.inference_mode():
            z = encode_span(self.model, torch.from_numpy(span).to(model_device(self.model)),
                            rows)
        return [(stamp, frame_id, row) for (stamp, frame_id), row in
                zip(heads, z.float().cpu().numpy())]


def stamp_seconds(stamp: Any) -> float:
    """builtin_interfaces/Time (or a plain number) in seconds."""
    if hasattr(stamp, 'sec'):
        return stamp.sec + stamp.nanosec * 1e-9
    return float(stamp)


def latent_message(stamp: Any, frame_id: str, z: np.ndarray) -> Image:
    """A latent (z_dim,) as the 1 x z_dim 32FC1 Image published on ``topics.PSEUDO_ACTION``."""
    msg = Image(**array_to_image_fields(np.asarray(z, np.float32)[None], '32FC1'))
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    return msg


class LabelerNode(LamNode):
    """Subscribes to the policy camera and publishes a pseudo-action per frame pair."""

    def __init__(self, node_name: str = 'labeler', **kwargs):
        super().__init__(node_name, **kwargs)
        checkpoint = self.param('checkpoint', '', 'latent checkpoint (.safetensors + .json), '
                                'required')
        camera = self.param('camera', 'camera', 'policy camera name',
                            pattern=topics.NAME_PATTERN)
        device = self.param('device', '', "torch device ('' : cuda when present, else cpu)",
                            pattern=DEVICE_PATTERN)
        self.max_batch = self.param('max_batch', DEFAULT_BATCH_SIZE, 'frames per forward pass',
                                    low=1)
        rate_hz = self.param('rate_hz', CONTROL_RATE_HZ, 'thin a faster camera to this rate, as '
                             'lam-ros dataset build does (0: every frame)', low=0.0, high=1000.0)
        self.model, sha256 = self._load(checkpoint, device)
        self.core = LiveLabeler(self.model, rate_hz or None)
        self.queue: queue.Queue[tuple[Image, bool]] = queue.Queue(QUEUE_FRAMES)
        self.lost = 0                  # frames dropped since the last queued one
        self.counts = {'frames': 0, 'pairs': 0, 'dropped': 0}
        self.stop = threading.Event()
        self.pub = self.create_publisher(Image, topics.PSEUDO_ACTION, 10)
        camera_topic = topics.camera_topics(camera)['color']
        self.create_subscription(Image, camera_topic, self.on_image, 10)
        self.worker = threading.Thread(target=self.work, name='labeler', daemon=True)
        self.worker.start()
        self.create_timer(STATUS_PERIOD_S, self.on_status_timer)
        self._window_start = (time.monotonic(), 0, 0)
        config = self.model.config
        # Which labels these are, in every status: a late Foxglove or rqt still sees it.
        self.identity = {'model': self.model.name, 'checkpoint': checkpoint, 'rate_hz': rate_hz,
                         'checkpoint_sha256': sha256, 'z_dim': config.z_dim,
                         'frame_gap': config.frame_gap}
        self.report(f'labelling {camera_topic} with {self.model.name} (sha256 {sha256[:12]}, '
                    f'frame_gap {config.frame_gap}) on {model_device(self.model)} -> '
                    f'{topics.PSEUDO_ACTION}', **self.identity)

    def _load(self, checkpoint: str, device: str) -> tuple[LatentActionModel, str]:
        """The model on its device, or a ConfigError naming the file and what is wrong."""
        where = f'node {self.get_name()!r}: parameter checkpoint'
        if not checkpoint:
            raise ConfigError(f'{where} is required: a latent checkpoint '
                              '(<name>.safetensors + <name>.json)')
        device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
        if device.startswith('cuda') and not torch.cuda.is_available():
            raise ConfigError(f'node {self.get_name()!r}: parameter device={device!r}: '
                              'no CUDA device here')
        try:
            return load_latent_model(checkpoint, map_location=device), \
                checkpoint_sha256(checkpoint)
        except CheckpointError as error:
            raise ConfigError(f'{where}: {error}') from None

    def on_image(self, msg: Image) -> None:
        """Queue the message for the worker; never waits (a full queue drops it)."""
        self.counts['frames'] += 1
        try:
            self.queue.put_nowait((msg, self.lost > 0))
            self.lost = 0
        except queue.Full:
            self.lost += 1
            self.counts['dropped'] += 1

    def take(self) -> list[Frame]:
        """Up to max_batch queued frames (waits for the first), decoded (``decode``)."""
        items = []
        while not items and not self.stop.is_set():
            try:
                items.append(self.queue.get(timeout=0.1))
            except queue.Empty:
                continue
        while items and len(items) < self.max_batch:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                break
        frames = [decode(msg, after_gap) for msg, after_gap in items]
        for frame in frames:
            if frame.error:   # say so, keep serving; the core restarts the stream after it
                self.report(f'cannot label a frame: {frame.error}', 'warn', throttle_s=5.0)
        return frames

    def work(self) -> None:
        """The worker thread: take what is queued, label it in one pass, publish."""
        while not self.stop.is_set():
            frames = self.take()
            if not frames:
                continue
            try:
                labels = self.core.label(frames)
            except Exception as error:  # a bad frame or a device error: say so, keep serving
                self.report(f'labelling failed: {type(error).__name__}: {error}', 'error',
                            throttle_s=5.0)
                self.core.stream.reset()
                continue
            for stamp, frame_id, z in labels:
                self.pub.publish(latent_message(stamp, frame_id, z))
                self.counts['pairs'] += 1

    def on_status_timer(self) -> None:
        """Pairs/s since the last report and frames dropped, on ~/status (warn while dropping)."""
        started, pairs, dropped = self._window_start
        now, counts = time.monotonic(), dict(self.counts)
        self._window_start = (now, counts['pairs'], counts['dropped'])
        rate = (counts['pairs'] - pairs) / max(now - started, 1e-9)
        message = (f"labelled {counts['pairs']} pairs of {counts['frames']} frames "
                   f"({rate:.1f}/s), dropped {counts['dropped']}")
        dropping = counts['dropped'] > dropped
        if dropping:
            message += ': labelling is slower than the camera'
        self.report(message, 'warn' if dropping else 'ok', log=dropping, throttle_s=30.0,
                    **counts, pairs_per_s=round(rate, 1), **self.identity)

    def on_shutdown(self) -> None:
        """Stop the worker (it finishes its current batch)."""
        self.stop.set()
        self.worker.join(timeout=5.0)


NODE_CLASS = LabelerNode


def main(args=None) -> int:
    """Run the labeler: ``ros2 run lam_ros labeler --ros-args -p checkpoint:=...``."""
    return node_main(LabelerNode, args)
