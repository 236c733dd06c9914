# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Live per-stream statistics of a recording, updated in the subscription callback.

The callback does only constant work here: a counter bump and, for messages
that start with a std_msgs/Header, an 8-byte read of the stamp straight from
the CDR bytes (offset 4, after the encapsulation header) to count frames the
publisher skipped.
"""
from __future__ import annotations

from dataclasses import dataclass
import struct

_STAMP_LE = struct.Struct('<iI')
_STAMP_BE = struct.Struct('>iI')


@dataclass(slots=True)
class StreamStats:
    """Counters of one recorded topic."""

    topic: str
    msgtype: str
    rate_hz: float | None          # configured rate; None: no rate expectation
    has_header: bool               # first field is std_msgs/Header: stamps give gaps
    count: int = 0
    bytes: int = 0
    first_receive_ns: int = 0
    last_receive_ns: int = 0
    last_stamp_ns: int = 0
    stamp_gap_drops: int = 0       # frames missing between consecutive header stamps
    overflow_drops: int = 0        # messages dropped because the writer queue was full

    def record(self, receive_ns: int, data: bytes) -> None:
        """Account one received message."""
        if self.count == 0:
            self.first_receive_ns = receive_ns
        self.count += 1
        self.bytes += len(data)
        self.last_receive_ns = receive_ns
        if self.has_header and self.rate_hz:
            sec, nanosec = (_STAMP_LE if data[1] == 1 else _STAMP_BE).unpack_from(data, 4)
            stamp_ns = sec * 1_000_000_000 + nanosec
            if self.last_stamp_ns:
                missed = round((stamp_ns - self.last_stamp_ns) * self.rate_hz * 1e-9) - 1
                if missed > 0:
                    self.stamp_gap_drops += missed
            self.last_stamp_ns = stamp_ns

    @property
    def achieved_hz(self) -> float:
        """Mean receive rate since the first message (0 until two messages arrived)."""
        span_ns = self.last_receive_ns - self.first_receive_ns
        return (self.count - 1) / (span_ns * 1e-9) if self.count > 1 and span_ns > 0 else 0.0

    @property
    def dropped(self) -> int:
        """All frames known lost: skipped upstream plus dropped here."""
        return self.stamp_gap_drops + self.overflow_drops

    def as_dict(self) -> dict[str, float | int | str | None]:
        """Snapshot for logging / a status topic."""
        return {'topic': self.topic, 'count': self.count, 'bytes': self.bytes,
                'rate_hz': self.rate_hz, 'achieved_hz': round(self.achieved_hz, 2),
                'stamp_gap_drops': self.stamp_gap_drops, 'overflow_drops': self.overflow_drops}


def rate_warnings(streams: list[StreamStats], min_fraction: float = 0.9,
                  min_span_s: float = 1.0) -> list[str]:
    """Name each stream whose achieved rate is below ``min_fraction`` of its configured rate.

    Uses only message receive times, so it works under sim time too. A stream is
    judged once the recording has run ``min_span_s``; one with no message by
    then is reported as silent.
    """
    now_ns = max((s.last_receive_ns for s in streams), default=0)
    start_ns = min((s.first_receive_ns for s in streams if s.count), default=0)
    if not now_ns or (now_ns - start_ns) * 1e-9 < min_span_s:
        return []
    warnings = []
    for stream in streams:
        if not stream.rate_hz:
            continue
        if stream.count == 0:
            warnings.append(f'{stream.topic}: no messages (configured {stream.rate_hz:g} Hz)')
        elif (stream.last_receive_ns - stream.first_receive_ns) * 1e-9 >= min_span_s \
                and stream.achieved_hz < min_fraction * stream.rate_hz:
            warnings.append(f'{stream.topic}: {stream.achieved_hz:.1f} Hz < configured '
                            f'{stream.rate_hz:g} Hz ({stream.dropped} dropped)')
    return warnings
