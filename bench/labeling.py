# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Labelling throughput: ``lam-ros label`` and the labeler node beside the model's raw encode rate.

    PYTHONPATH=. .venv/bin/python bench/labeling.py [--episodes 40] [--size 64] [--batch-size 32]

Side by side, in frame pairs per second of wall time, for the default CoMo config:

* encode: ``model.encode_window`` on windows already in memory as float tensors
  (no reading, no decoding, no conversion): the limit the other two approach;
* CLI: ``label_dataset`` (what ``lam-ros label`` runs, minus the process start) on a
  dataset of simulated robot and human episodes (``lam_ros.sim.generate_episode``,
  ``write_dataset``; built once, cached under ``runs/bench_labeling/``): HDF5 reads and
  lzf decoding, uint8 -> float, the journal's fsynced entries and the merge included;
* node: ``lam-ros run labeler`` in its own process; this process publishes every frame
  of the dataset on the camera topic as fast as it can and counts the labels that come
  back over Fast DDS (first frame sent -> last label received).

The ratios CLI/encode and node/encode are what I/O, decoding and transport cost;
they can pass 100%: labelling encodes each frame once for the two pairs it is in
(CoMo's ``encode_sequence``), ``encode_window`` encodes it twice.
Each is also given per CPU-second (pairs / CPU time of the process doing the work):
on a machine whose cores other work shares, wall-clock rates fall with the load and
this does not. Speed does not depend on training, so the checkpoint holds seeded
random weights.
Like the CLI and the node, this process lets idle OpenMP workers sleep
(OMP_WAIT_POLICY=PASSIVE): on cores shared with other work, spinning workers that get
preempted stall every parallel region. The load average is printed with the numbers.
Last line: ``labeling pairs/s: CLI X, node Y (encode Z)``.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')   # before torch loads OpenMP
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lam_models.data.dataset import Dataset, write_dataset  # noqa: E402
from lam_models.latent import make_latent_model  # noqa: E402
from lam_models.latent.base import save_checkpoint  # noqa: E402
from lam_models.latent.label_dataset import label_dataset, load_labeler  # noqa: E402
from lam_models.latent.labeling import DEFAULT_BATCH_SIZE, window_indices  # noqa: E402

CACHE = REPO / 'runs' / 'bench_labeling'
CAMERA = 'bench_camera'


def load() -> str:
    """The 1-minute load average and the core count: above the count, work waits for a core."""
    return f'load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores'


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of another process so far (Linux /proc)."""
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


class Rate:
    """Pairs per second of wall time and per CPU-second."""

    def __init__(self, pairs: int, wall_s: float, cpu_s: float) -> None:
        self.wall, self.cpu = pairs / wall_s, pairs / cpu_s

    def __str__(self) -> str:
        return f'{self.wall:8.0f} pairs/s {self.cpu:8.0f} per CPU-s'


# -- inputs -----------------------------------------------------------------------------------
def dataset(episodes: int, size: int) -> Path:
    """Simulated robot and human episodes (alternating, seeds 0..) in a cached dataset file."""
    path = CACHE / f'sim_{episodes}x{size}px.h5'
    if path.is_file():
        return path
    os.environ.setdefault('MUJOCO_GL', 'egl')      # headless rendering, as the Makefile sets
    from lam_ros.sim import generate_episode

    CACHE.mkdir(parents=True, exist_ok=True)
    print(f'building {path} ({episodes} sim episodes, once)', flush=True)
    write_dataset((generate_episode('pick_place', seed, ('robot', 'human')[seed % 2],
                                    image_size=size) for seed in range(episodes)), path)
    return path


def checkpoint(size: int) -> Path:
    """The default CoMo config at ``size`` px with seeded random weights."""
    path = CACHE / f'como_{size}px'
    torch.manual_seed(0)
    save_checkpoint(path, make_latent_model('como', image_size=size))
    return path.with_suffix('.safetensors')


def all_frames(path: Path) -> list[np.ndarray]:
    with Dataset(path) as data:
        return [data.frames(name)[()] for name in data.episode_names]


# -- the three measurements ---------------------------------------------------------------------
def encode_rate(model: torch.nn.Module, episodes: list[np.ndarray], batch_size: int,
                repeats: int = 3) -> Rate:
    """``encode_window`` alone, every window preloaded as a float tensor; the best pass."""
    gap, context = model.config.frame_gap, model.config.context_frames
    windows = torch.cat([
        torch.from_numpy(frames[window_indices(np.arange(len(frames) - gap), gap, context)])
        for frames in episodes]).permute(0, 1, 4, 2, 3).float().div(255.0)
    rates = []
    with torch.inference_mode():
        for _ in range(repeats):
            started, cpu = time.perf_counter(), time.process_time()
            for batch in windows.split(batch_size):
                model.encode_window(batch)
            rates.append(Rate(len(windows), time.perf_counter() - started,
                              time.process_time() - cpu))
    return max(rates, key=lambda rate: rate.wall)


def cli_rate(path: Path, model_path: Path, batch_size: int, repeats: int = 3
             ) -> tuple[Rate, int]:
    """``label_dataset`` on a fresh copy of the dataset, from HDF5 reads to the merge.

    The best of ``repeats`` runs, as for encode: other work on the machine only adds time.
    """
    model, source = load_labeler(model_path, device='cpu')
    rates = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            copy = Path(tmp) / path.name
            shutil.copy(path, copy)
            started, cpu = time.perf_counter(), time.process_time()
            report = label_dataset(copy, model, source, batch_size, progress=False)
            rates.append(Rate(report.pairs, time.perf_counter() - started,
                              time.process_time() - cpu))
    return max(rates, key=lambda rate: rate.wall), report.pairs


def node_rate(episodes: list[np.ndarray], model_path: Path, batch_size: int
              ) -> tuple[Rate, int, int, dict]:
    """(rate, frames sent, labels received, the node's last status) over Fast DDS.

    CPU time is the node process's while it works (start-up not counted).
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from lam_models.data.images import array_to_image_fields
    from lam_ros.interfaces import topics

    env = {**os.environ, 'ROS_DOMAIN_ID': str(150 + os.getpid() % 80),
           'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST', 'PYTHONPATH': str(REPO),
           'FASTDDS_DEFAULT_PROFILES_FILE': str(REPO / 'config' / 'fastdds.xml')}
    os.environ.update({k: env[k] for k in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE',
                                           'FASTDDS_DEFAULT_PROFILES_FILE')})
    node_process = subprocess.Popen(
        [sys.executable, '-m', 'lam_ros.app.cli', 'run', 'labeler', '--ros-args',
         '-p', f'checkpoint:={model_path}', '-p', f'camera:={CAMERA}', '-p', 'device:=cpu',
         '-p', f'max_batch:={batch_size}', '-p', 'rate_hz:=0.0'],   # every frame: its stamps are ns
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rclpy.init()
    node = rclpy.create_node('labeling_bench')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    labels, status = [], [{}]
    node.create_subscription(Image, topics.PSEUDO_ACTION,
                             lambda _: labels.append(time.perf_counter()), 1000)
    node.create_subscription(String, '/labeler/status',
                             lambda m: status.append(json.loads(m.data)), 10)
    publisher = node.create_publisher(Image, topics.camera_topics(CAMERA)['color'], 10)
    messages = []
    for frames in episodes:
        for frame in frames:
            messages.append(Image(**array_to_image_fields(frame, 'rgb8')))
            messages[-1].header.stamp.nanosec = len(messages)  # increasing: no stream reset
    try:
        deadline = time.monotonic() + 60
        while publisher.get_subscription_count() == 0 or node.count_publishers(
                topics.PSEUDO_ACTION) == 0:
            if time.monotonic() > deadline or node_process.poll() is not None:
                raise SystemExit(f'labeler node did not come up: {node_process.stderr.read()}')
            executor.spin_once(timeout_sec=0.05)
        executor.spin_once(timeout_sec=0.5)                         # discovery settles
        started, node_cpu = time.perf_counter(), process_cpu_seconds(node_process.pid)
        for msg in messages:
            publisher.publish(msg)
            executor.spin_once(timeout_sec=0)
        silent_since = time.perf_counter()
        while time.perf_counter() - silent_since < 2.0:
            before = len(labels)
            executor.spin_once(timeout_sec=0.05)
            if len(labels) != before:
                silent_since = time.perf_counter()
        node_cpu = process_cpu_seconds(node_process.pid) - node_cpu
        deadline = time.monotonic() + 5                              # one more status report
        count = len(status)
        while len(status) == count and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
    finally:
        node_process.terminate()
        node_process.communicate(timeout=20)
        node.destroy_node()
        rclpy.shutdown()
    if not labels:
        raise SystemExit('the labeler node sent no labels')
    return Rate(len(labels), labels[-1] - started, node_cpu), len(messages), len(labels), \
        status[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--episodes', type=int, default=40, help='sim episodes (half human)')
    parser.add_argument('--size', type=int, default=64, help='frame and model size, px')
    parser.add_argument('--batch-size', type=int, default=DEFAULT_BATCH_SIZE)
    args = parser.parse_args()
    path, model_path = dataset(args.episodes, args.size), checkpoint(args.size)
    episodes = all_frames(path)
    model, source = load_labeler(model_path, device='cpu')
    pairs = sum(len(f) - model.config.frame_gap for f in episodes)
    print(f'{path.name}: {len(episodes)} episodes, {pairs} pairs at {args.size} px; default '
          f'CoMo (z {model.config.z_dim}); batch {args.batch_size}; '
          f'{torch.get_num_threads()} torch threads, OMP_WAIT_POLICY='
          f'{os.environ["OMP_WAIT_POLICY"]}; {load()}', flush=True)
    encode = encode_rate(model, episodes, args.batch_size)
    print(f'encode {encode}        encode_window on preloaded float windows ({load()})',
          flush=True)
    cli, labelled = cli_rate(path, model_path, args.batch_size)
    print(f'CLI    {cli} {cli.wall / encode.wall:5.0%}  label_dataset: {labelled} pairs, '
          f'HDF5 read to merge ({load()})', flush=True)
    node, sent, received, status = node_rate(episodes, model_path, args.batch_size)
    print(f'node   {node} {node.wall / encode.wall:5.0%}  {sent} frames sent at full speed, '
          f'{status.get("frames", "?")} reached the node (DDS keeps 10), '
          f'{status.get("dropped", "?")} found its queue full; {received} labels back '
          f'({load()})', flush=True)
    print(f'labeling pairs/s: CLI {cli.wall:.0f}, node {node.wall:.0f} '
          f'(encode {encode.wall:.0f})')


if __name__ == '__main__':
    main()
