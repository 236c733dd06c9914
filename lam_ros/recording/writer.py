# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""One episode -> one rosbag2 MCAP directory, written by a background thread.

``write`` is called from the subscription callback with the serialized CDR
bytes: it counts, hands the bytes to a bounded queue and returns; it never
blocks. A full queue drops the message and counts it (``overflow_drops``).

The MCAP carries CRC-32s (rosbags writes zeros there): one per chunk, one over
the data section (DataEnd) and one over the summary (Footer), so the reader in
``lam_models.data.bags`` refuses a bag with flipped bits instead of returning
altered frames or actions.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import os
from pathlib import Path
import queue
import struct
import threading
import time
from typing import Any
import zlib

from rosbags.interfaces import Qos
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.storage_mcap import McapWriter
from rosbags.typesys.store import Typestore
from typing_extensions import override

from lam_models.data.bags import (
    EpisodeMetadata,
    episode_custom_data,
    has_header,
    make_typestore,
)
from lam_ros.recording.stats import StreamStats, rate_warnings

ROSBAG2_VERSION = 9
_STOP = None


class RecordingError(RuntimeError):
    """The recorder cannot go on (bad topic, writer failure); the message says which."""


# MCAP spec offsets: a record is opcode (1) + length (8); a Chunk's CRC follows its
# start time, end time and uncompressed size (3 x 8); the Footer is 29 bytes + magic (8).
_RECORD_HEAD = 9
_CHUNK_CRC_OFFSET = _RECORD_HEAD + 24
_FOOTER_TAIL = _RECORD_HEAD + 20 + 8
_DATA_END_SIZE = _RECORD_HEAD + 4
_U32 = struct.Struct('<I')


class _CrcFile:
    """The MCAP file, keeping the CRC-32 of all bytes written (the data-section CRC).

    ``patch`` replaces 4 bytes at a file offset as they pass (a chunk's CRC field),
    so the running CRC covers what is really on disk.
    """

    def __init__(self, raw: Any, crc: int) -> None:
        self.raw, self.crc = raw, crc
        self.patch: tuple[int, bytes] | None = None
        self.crc_at: dict[int, int] | None = None  # file offset -> CRC of the bytes before it

    def write(self, data: bytes | memoryview) -> int:
        offset, view = self.raw.tell(), memoryview(data)
        if self.patch is not None and offset <= self.patch[0] < offset + len(view):
            at, (_, crc) = self.patch[0] - offset, self.patch
            if view[at:at + 4] != bytes(4):
                raise RecordingError('rosbags no longer writes a zero chunk CRC; '
                                     'update lam_ros.recording.writer')
            self.patch = None
            return self.write(view[:at]) + self.write(crc) + self.write(view[at + 4:])
        if self.crc_at is not None:
            self.crc_at[offset] = self.crc
        self.crc = zlib.crc32(view, self.crc)
        return self.raw.write(view)

    def tell(self) -> int:
        return self.raw.tell()

    def flush(self) -> None:
        self.raw.flush()

    def fileno(self) -> int:
        return self.raw.fileno()

    def close(self) -> None:
        self.raw.close()


class CrcMcapWriter(McapWriter):
    """rosbags' MCAP storage writer with the chunk, data-section and summary CRCs filled in."""

    def __init__(self, path: Path, compression: Any) -> None:
        super().__init__(path, compression)
        self.bio.flush()  # magic + Header so far: start the data-section CRC from them
        self.bio = _CrcFile(self.bio, zlib.crc32(self.path.read_bytes()))

    @override
    def close_chunk(self) -> None:
        crc = zlib.crc32(self.chunk.bio.getbuffer())  # of the uncompressed records
        self.bio.patch = (self.bio.tell() + _CHUNK_CRC_OFFSET, _U32.pack(crc))
        super().close_chunk()

    @override
    def close(self, version: int, metadata: str) -> None:
        self.bio.crc_at = {}
        super().close(version, metadata)
        with self.path.open('r+b') as f:  # DataEnd and Footer CRCs, now that offsets are known
            size = f.seek(0, os.SEEK_END)
            f.seek(size - _FOOTER_TAIL + _RECORD_HEAD)
            summary_start = int.from_bytes(f.read(8), 'little')
            data_end = summary_start - _DATA_END_SIZE
            f.seek(data_end + _RECORD_HEAD)
            f.write(_U32.pack(self.bio.crc_at[data_end]))
            summary_crc_at = size - 8 - 4
            f.seek(summary_start)
            summary_crc = zlib.crc32(f.read(summary_crc_at - summary_start))
            f.write(_U32.pack(summary_crc))


class _Writer(Writer):
    STORAGE_PLUGINS = {**Writer.STORAGE_PLUGINS, StoragePlugin.MCAP: CrcMcapWriter}


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
        self._writer = _Writer(self.bag_dir, version=ROSBAG2_VERSION,
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

    @property
    def error(self) -> BaseException | None:
        """The writer thread's failure (e.g. ENOSPC); the session stops the episode on it."""
        return self._error

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
        for key, value in episode_custom_data(self.metadata).items():
            self._writer.set_custom_data(key, value)
        try:
            self._writer.close()
        except OSError as exc:  # summary not written (disk full): close the file, keep the bag
            self._error = self._error or exc
            try:
                self._writer.abort()
            except OSError:
                pass  # flushing the buffer failed again; the file is closed regardless
            raise RecordingError(f'{self.bag_dir}: closing the bag failed: {exc}') from exc
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
