# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""One episode -> one rosbag2 MCAP directory, written by a background thread.

``write`` is called from the subscription callback with the serialized CDR
bytes: it counts, hands the bytes to a bounded queue and returns; it never
blocks. A full queue drops the message and counts it (``overflow_drops``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import os
from pathlib import Path
import queue
import threading
import time

from rosbags.interfaces import Qos
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys.store import Typestore

from lam_models.data.bags import EPISODE_METADATA_KEY, EpisodeMetadata, has_header, make_typestore
from lam_ros.recording.stats import StreamStats, rate_warnings

ROSBAG2_VERSION = 9
_STOP = None


class RecordingError(RuntimeError):
    """The recorder cannot go on (bad topic, writer failure); the message says which."""


@dataclass(frozen=True)
class TopicSpec:
    """A topic to record: its type, configured rate (for drop/rate checks) and QoS."""

    topic: str
    msgtype: str
    rate_hz: float | None = None
    qos: tuple[Qos, ...] = ()


class EpisodeWriter:
    """Writes one episode bag; ``close`` stores the episode metadata in custom_data."""

    def __init__(self, bag_dir: str | Path, metadata: EpisodeMetadata,
                 typestore: Typestore | None = None, max_queue_messages: int = 4096) -> None:
        self.bag_dir = Path(bag_dir)
        self.metadata = metadata
        self.typestore = typestore or make_typestore()
        self.streams: dict[str, StreamStats] = {}
        self._connections = {}
        self._writer = Writer(self.bag_dir, version=ROSBAG2_VERSION,
                              storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        if not metadata.start_time_ns:
            metadata.start_time_ns = time.time_ns()
        # The rosbags Writer is not thread safe: add_topic (caller) and writes (thread) share it.
        self._writer_lock = threading.Lock()
        # ~15 s of two 640x480 color+depth cameras: rides out the kernel's dirty-page
        # writeback stalls (seen ~55 s into a 92 MB/s recording) instead of dropping.
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue_messages)
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._drain, name=f'writer-{self.bag_dir.name}',
                                        daemon=True)
        self._thread.start()

    def add_topic(self, topic: str, msgtype: str, rate_hz: float | None = None,
                  qos: Sequence[Qos] = ()) -> None:
        """Register a topic; allowed before or during writing."""
        if topic in self.streams:
            raise RecordingError(f'{self.bag_dir}: topic {topic} added twice')
        if msgtype not in self.typestore.fielddefs:
            raise RecordingError(f'{self.bag_dir}: topic {topic} has type {msgtype} which the '
                                 'typestore does not know (register its .msg text)')
        with self._writer_lock:
            self._connections[topic] = self._writer.add_connection(
                topic, msgtype, typestore=self.typestore, offered_qos_profiles=list(qos))
        self.streams[topic] = StreamStats(topic, msgtype, rate_hz,
                                          has_header(self.typestore, msgtype))
        if rate_hz:
            self.metadata.rates_hz[topic] = float(rate_hz)

    def write(self, topic: str, timestamp_ns: int, data: bytes) -> bool:
        """Queue one serialized message; False if it was dropped (queue full)."""
        if self._error is not None:
            raise RecordingError(f'{self.bag_dir}: writer thread failed: {self._error!r}')
        stream = self.streams.get(topic)
        if stream is None:
            raise RecordingError(f'{self.bag_dir}: write to topic {topic} which was never '
                                 f'added (known: {sorted(self.streams)})')
        stream.record(timestamp_ns, data)
        try:
            self._queue.put_nowait((self._connections[topic], timestamp_ns, data))
        except queue.Full:
            stream.overflow_drops += 1
            return False
        return True

    def rate_warnings(self, min_fraction: float = 0.9) -> list[str]:
        """Streams below ``min_fraction`` of their configured rate."""
        return rate_warnings(list(self.streams.values()), min_fraction)

    def _drain(self) -> None:
        get, done, write, lock = (self._queue.get, self._queue.task_done, self._writer.write,
                                  self._writer_lock)
        while (item := get()) is not _STOP:
            if self._error is None:  # after a failure keep emptying the queue for close()
                try:
                    with lock:
                        write(*item)
                except BaseException as exc:  # noqa: B036 - reported by write() / close()
                    self._error = exc
            done()
        done()

    def _stop_thread(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    def close(self, success: bool | None = None, complete: bool = True) -> EpisodeMetadata:
        """Flush the queue, write the MCAP summary and metadata.yaml; return the metadata."""
        if self._closed:
            raise RecordingError(f'{self.bag_dir}: episode already closed')
        self._closed = True
        self._stop_thread()
        self.metadata.success = success
        self.metadata.complete = complete and self._error is None
        self.metadata.stop_time_ns = time.time_ns()
        self._writer.set_custom_data(EPISODE_METADATA_KEY, self.metadata.to_json())
        self._writer.close()
        if self._error is not None:
            raise RecordingError(f'{self.bag_dir}: writer thread failed: {self._error!r}; '
                                 'bag saved with complete=false')
        return self.metadata

    def abort(self) -> None:
        """Stop without a summary (the bag is left for the caller to delete)."""
        if self._closed:
            return
        self._closed = True
        self._stop_thread()
        self._writer.abort()

    def sync(self) -> None:
        """Wait until everything queued so far is in the OS (tests, checkpoints)."""
        self._queue.join()
        with self._writer_lock:
            self._writer.storage.bio.flush()  # type: ignore[union-attr]
            os.fsync(self._writer.storage.bio.fileno())  # type: ignore[union-attr]
