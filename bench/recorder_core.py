# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Recording core write speed next to a raw sequential write of the same bytes, in one run.

Streams: N cameras x (640x480 rgb8 + 640x480 16UC1) at 30 Hz and joint states at 100 Hz,
pre-serialized to CDR as a raw rclpy subscription hands them over.

1. raw: the same message bytes appended to one file (f.write), then fsync.
2. core, sustained: RecordingSession.write as fast as the writer thread drains it
   (the producer waits while the queue is half full), then close + fsync.
3. core, real time: messages offered at their real rates for --seconds; reports
   drops (should be 0), the mean cost of write() in the caller, and CPU use.

    PYTHONPATH=. .venv/bin/python bench/recorder_core.py [--seconds 5] [--cameras 2]
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
import tempfile
import time

import numpy as np
from tqdm import tqdm

from lam_ros.recording import RecordingSession, TopicSpec
from lam_ros.recording.synthetic import ARM_JOINTS, CdrFactory

MB = 1e6


def make_schedule(cameras: int, seconds: float) -> tuple[list[TopicSpec], list[tuple]]:
    """Topics and (time_ns, topic, cdr) in publish order."""
    cdr = CdrFactory()
    rng = np.random.default_rng(0)
    color = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    depth = rng.integers(0, 4000, (480, 640), dtype=np.uint16)
    topics, events = [], []
    for c in range(cameras):
        for kind in ('color', 'depth'):
            topics.append(TopicSpec(f'/cam{c}/{kind}/image_raw', 'sensor_msgs/msg/Image', 30.0))
    topics.append(TopicSpec('/wx250s/joint_states', 'sensor_msgs/msg/JointState', 100.0))
    t0 = time.time_ns()
    for i in range(int(seconds * 30)):
        stamp = t0 + i * 33_333_333
        for c in range(cameras):
            events.append((stamp, f'/cam{c}/color/image_raw', cdr.image(color, 'rgb8', stamp)))
            events.append((stamp, f'/cam{c}/depth/image_raw', cdr.image(depth, '16UC1', stamp)))
    for i in range(int(seconds * 100)):
        stamp = t0 + i * 10_000_000
        events.append((stamp, '/wx250s/joint_states',
                       cdr.joint_state(ARM_JOINTS, np.zeros(6), stamp)))
    events.sort(key=lambda e: e[0])
    return topics, events


def fsync_tree(path: Path) -> None:
    for file in path.rglob('*.mcap'):
        with file.open('rb') as f:
            os.fsync(f.fileno())


def bench_raw(events: list[tuple], out: Path) -> float:
    start = time.perf_counter()
    with (out / 'raw.bin').open('wb') as f:
        for _, _, data in events:
            f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - start


def bench_sustained(topics, events, out: Path) -> tuple[float, int]:
    session = RecordingSession(out, 'sustained', 'wx250s', topics=topics)
    episode = session.start_episode()
    queue, half = episode._queue, episode._queue.maxsize // 2
    start = time.perf_counter()
    for stamp, topic, data in tqdm(events, desc='core sustained', leave=False):
        while queue.qsize() > half:
            time.sleep(0.0005)
        session.write(topic, stamp, data)
    bag = session.stop_episode()
    fsync_tree(bag)
    drops = sum(s.dropped for s in episode.streams.values())
    return time.perf_counter() - start, drops


def bench_realtime(topics, events, out: Path) -> dict:
    session = RecordingSession(out, 'realtime', 'wx250s', topics=topics)
    episode = session.start_episode()
    t_first = events[0][0]
    call_s = 0.0
    cpu0, start = time.process_time(), time.perf_counter()
    for stamp, topic, data in tqdm(events, desc='core real time', leave=False):
        delay = (stamp - t_first) * 1e-9 - (time.perf_counter() - start)
        if delay > 0:
            time.sleep(delay)
        now_ns = time.time_ns()
        t = time.perf_counter()
        session.write(topic, now_ns, data)
        call_s += time.perf_counter() - t
    offered_s = time.perf_counter() - start
    warnings = session.rate_warnings()
    bag = session.stop_episode()
    fsync_tree(bag)
    return {'offered_s': offered_s, 'total_s': time.perf_counter() - start,
            'cpu_s': time.process_time() - cpu0, 'call_us': call_s / len(events) * 1e6,
            'overflow': sum(s.overflow_drops for s in episode.streams.values()),
            'warnings': warnings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=5.0, help='recorded time per run')
    parser.add_argument('--cameras', type=int, default=2)
    parser.add_argument('--dir', default=None, help='where to write (default: a temp dir)')
    args = parser.parse_args()

    topics, events = make_schedule(args.cameras, args.seconds)
    total_mb = sum(len(e[2]) for e in events) / MB
    rate_mb = total_mb / args.seconds
    print(f'{len(events)} messages, {total_mb:.0f} MB for {args.seconds:g} s of recording '
          f'({rate_mb:.1f} MB/s real-time need), {os.cpu_count()} CPUs')
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        out = Path(tmp)
        raw_s = bench_raw(events, out)
        core_s, drops = bench_sustained(topics, events, out)
        real = bench_realtime(topics, events, out)
    raw_mbps, core_mbps = total_mb / raw_s, total_mb / core_s
    print(f'raw sequential write + fsync : {raw_mbps:8.1f} MB/s')
    print(f'core sustained (close+fsync) : {core_mbps:8.1f} MB/s  '
          f'= {core_mbps / raw_mbps:.2f} x raw, {drops} drops')
    print(f'core at real rate            : offered {real["offered_s"]:.2f} s, saved after '
          f'{real["total_s"]:.2f} s, {real["overflow"]} queue drops, write() '
          f'{real["call_us"]:.1f} us/call, CPU {real["cpu_s"] / real["total_s"] * 100:.0f}% '
          f'of one core; rate warnings: {real["warnings"] or "none"}')
    print(f'headroom: core sustained / real-time need = {core_mbps / rate_mb:.1f} x')


if __name__ == '__main__':
    main()
