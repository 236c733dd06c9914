# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Recorder node in its own process over Fast DDS: saving, SIGKILL, signals, faults.

Faults: a full disk or failing writes mid-episode, a second recorder on one session.

The test process publishes small camera frames and drives ``/recorder/start`` and
``/recorder/stop`` like the teleop node does; the recorder runs exactly as
``lam-ros run recorder`` would start it, so signals hit the real runtime.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
import resource
import signal
import subprocess
import sys
import time

from conftest import REPO, python_executable, spin_until
import numpy as np
import pytest

from lam_models.data.bags import (
    list_partial_episodes,
    read_episode,
    read_episode_metadata,
    read_topic_stamps,
)
from lam_ros.recording import RecordingError, recover_partial

CAMERA = 'cam'
SESSION = 's1'
SIZE = (24, 32)
T0_NS = 1_700_000_000_000_000_000
FRAME_NS = 33_333_333


class RecorderProcess:
    """``python -m lam_ros.app.cli run recorder`` in human mode with one camera."""

    def __init__(self, output_dir: Path, env: dict[str, str], params: tuple[str, ...] = (),
                 max_file_bytes: int | None = None) -> None:
        command = [python_executable(), '-m', 'lam_ros.app.cli', 'run', 'recorder', '--ros-args',
                   '-p', f'output_dir:={output_dir}', '-p', f'session:={SESSION}',
                   '-p', 'mode:=human', '-p', f'cameras:=[{CAMERA}]',
                   '-p', 'camera_silent_s:=0.0']   # these tests start before the first frame
        for param in params:
            command += ['-p', param]
        env = {**env, 'PYTHONPATH': os.pathsep.join([str(REPO), env.get('PYTHONPATH', '')])}

        def limit_file_size() -> None:  # writes past it fail with EFBIG (Python ignores SIGXFSZ)
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=limit_file_size if max_file_bytes else None)

    def finish(self, sig: signal.Signals, timeout_s: float = 20.0) -> tuple[int, str]:
        """Send ``sig``; return the exit code and stderr."""
        self.process.send_signal(sig)
        _, stderr = self.process.communicate(timeout=timeout_s)
        return self.process.returncode, stderr

    def kill(self) -> None:
        """Make sure nothing outlives the test."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


class Operator:
    """The test side: a camera publisher, the recorder's services and its status topic.

    Each Operator is its own DDS participant: a SIGKILLed recorder stays in the
    discovery database of a participant that knew it for the 20 s lease, and a
    service request sent to the dead server instead of a new one is lost.
    """

    def __init__(self) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import QoSProfile
        from sensor_msgs.msg import CameraInfo, Image
        from std_msgs.msg import String
        from std_srvs.srv import SetBool, Trigger

        from lam_ros.hardware.camera_source import CameraIntrinsics
        from lam_ros.interfaces import topics

        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node('test_operator', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        names = topics.camera_topics(CAMERA)
        self.topic = names['color']
        reliable = QoSProfile(depth=100)
        self.publishers = {'color': self.node.create_publisher(Image, names['color'], reliable),
                           'color_info': self.node.create_publisher(
                               CameraInfo, names['color_info'], reliable)}
        self.start_client = self.node.create_client(Trigger, topics.RECORDER_START)
        self.stop_client = self.node.create_client(SetBool, topics.RECORDER_STOP)
        self.status: dict = {}
        self.node.create_subscription(String, '/recorder/status', self._on_status, 10)
        self.intrinsics = CameraIntrinsics.pinhole(SIZE[1], SIZE[0], 30.0, 30.0, 16.0, 12.0,
                                                   'cam_color_optical_frame')
        self._frame_number = 0

    def _on_status(self, msg) -> None:
        self.status = json.loads(msg.data)

    def wait_for_recorder(self, timeout_s: float = 20.0) -> None:
        """Until the recorder's services answer and it subscribes to both camera topics."""
        ready = spin_until(self.executor, lambda: (
            self.start_client.service_is_ready() and self.stop_client.service_is_ready()
            and all(p.get_subscription_count() for p in self.publishers.values())), timeout_s)
        assert ready, 'recorder process did not come up (services/subscriptions missing)'

    def call(self, client, request, timeout_s: float = 10.0):
        """Call a service and return its response, or fail naming the service."""
        future = client.call_async(request)
        spin_until(self.executor, future.done, timeout_s)
        assert future.done(), f'{client.srv_name} did not answer in {timeout_s} s'
        return future.result()

    def start(self) -> Path:
        """``/recorder/start``; returns the bag directory of the new episode."""
        success, message = self.try_start()
        assert success, message
        self.status = {}
        return Path(message)

    def try_start(self) -> tuple[bool, str]:
        """``/recorder/start``'s answer, refused or not."""
        from std_srvs.srv import Trigger

        response = self.call(self.start_client, Trigger.Request())
        return response.success, response.message

    def publish_big(self, index: int) -> None:
        """A 240x320 color frame (225 KiB) filled with ``index``: fills a small disk fast."""
        from sensor_msgs.msg import Image

        stamp_ns = T0_NS + index * FRAME_NS
        msg = Image(height=240, width=320, encoding='rgb8', step=960,
                    data=bytes([index % 256]) * (240 * 960))
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
        self.publishers['color'].publish(msg)

    def fill_until_failed(self, timeout_s: float = 30.0) -> dict:
        """Publish big frames until the recorder's status says its episode failed."""
        deadline, index = time.monotonic() + timeout_s, 0
        while self.status.get('recorder', {}).get('state') != 'failed':
            assert time.monotonic() < deadline, f'recorder did not fail: {self.status}'
            self.publish_big(index)
            index += 1
            spin_until(self.executor, lambda: False, 0.05)
        return self.status['recorder']

    def stop(self, success: bool) -> Path:
        """``/recorder/stop``; returns the saved episode directory."""
        from std_srvs.srv import SetBool

        response = self.call(self.stop_client, SetBool.Request(data=success))
        assert response.success, response.message
        return Path(response.message)

    def publish(self, pixels: np.ndarray, stamp_ns: int) -> None:
        """One color frame and its camera_info, stamped ``stamp_ns``."""
        from lam_ros.hardware.camera_source import CameraFrame
        from lam_ros.interfaces.camera_msgs import frame_messages

        frame = CameraFrame(pixels, None, stamp_ns * 1e-9, 'system_time', time.time(),
                            self._frame_number, self.intrinsics)
        self._frame_number += 1
        for key, msg in frame_messages(frame).items():
            self.publishers[key].publish(msg)

    def publish_episode(self, n_frames: int, seed: int) -> np.ndarray:
        """Publish ``n_frames`` random frames; return them once the recorder has them all."""
        frames = np.random.default_rng(seed).integers(0, 256, (n_frames, *SIZE, 3), np.uint8)
        for i, pixels in enumerate(frames):
            self.publish(pixels, T0_NS + seed * 10**12 + i * FRAME_NS)
            self.executor.spin_once(timeout_sec=0.005)
        self.wait_recorded(n_frames)
        return frames

    def recorded(self) -> int:
        """Color frames the recorder counted in the episode in progress (its status topic)."""
        return int(self.status.get(self.topic, {}).get('count', 0))

    def wait_recorded(self, count: int, timeout_s: float = 10.0) -> None:
        """Until the recorder's status reports exactly ``count`` color frames."""
        # Data and the stop request travel on different DDS entities: without this an
        # in-flight frame could arrive after the episode was closed. Equality, and a
        # different count per consecutive episode, keep a late status of the previous
        # episode from passing for this one.
        got = spin_until(self.executor, lambda: self.recorded() == count, timeout_s)
        assert got, f'recorder counted {self.recorded()}/{count} frames on {self.topic}'

    def close(self) -> None:
        """Leave the DDS graph (again is a no-op)."""
        import rclpy

        if not self.context.ok():
            return
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@pytest.fixture
def new_operator(ros_env):
    created: list[Operator] = []

    def new() -> Operator:
        created.append(Operator())
        return created[-1]

    yield new
    for operator in created:
        operator.close()


@pytest.fixture
def operator(new_operator) -> Operator:
    return new_operator()


@pytest.fixture
def start_recorder(tmp_path, ros_env):
    started: list[RecorderProcess] = []

    def start(output_dir: Path = tmp_path, **kwargs) -> RecorderProcess:
        started.append(RecorderProcess(output_dir, ros_env, **kwargs))
        return started[-1]

    yield start
    for recorder in started:
        recorder.kill()


def read_frames(bag_dir: Path) -> np.ndarray:
    """Camera frames of a saved episode, in stamp order."""
    from lam_ros.interfaces import topics

    return read_episode(bag_dir, camera_topic=topics.camera_topics(CAMERA)['color'],
                        action_topic=None).frames


def test_saved_episodes_read_back_and_a_killed_one_is_not_reused(tmp_path, new_operator,
                                                                 start_recorder):
    recorder, operator = start_recorder(), new_operator()
    operator.wait_for_recorder()
    sent, saved = [], []
    for seed, (n_frames, success) in enumerate([(7, True), (11, False)]):
        operator.start()
        sent.append(operator.publish_episode(n_frames, seed))
        saved.append(operator.stop(success))
    killed_bag = operator.start()
    operator.publish_episode(5, seed=2)
    recorder.process.kill()
    recorder.process.communicate()

    session_dir = tmp_path / SESSION
    assert [p.name for p in saved] == ['episode_000000', 'episode_000001']
    for bag_dir, frames, success in zip(saved, sent, [True, False]):
        assert np.array_equal(read_frames(bag_dir), frames), f'{bag_dir}: pixels differ'
        metadata = read_episode_metadata(bag_dir)
        assert metadata.complete and metadata.success is success
    assert killed_bag.parent.name == 'episode_000002.partial'
    assert list_partial_episodes(session_dir) == [session_dir / 'episode_000002.partial']
    assert not (session_dir / 'episode_000002').exists()

    operator.close()
    start_recorder()
    operator = new_operator()
    operator.wait_for_recorder()
    assert operator.start().parent.name == 'episode_000003.partial'
    frames = operator.publish_episode(4, seed=3)
    resumed = operator.stop(True)
    assert resumed.name == 'episode_000003'
    assert np.array_equal(read_frames(resumed), frames)
    assert (session_dir / 'episode_000002.partial').is_dir()  # left for recover_partial


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_signal_mid_episode_exits_cleanly_and_saves_it_incomplete(tmp_path, operator,
                                                                  start_recorder, sig):
    recorder = start_recorder()
    operator.wait_for_recorder()
    operator.start()
    frames = operator.publish_episode(6, seed=0)
    returncode, stderr = recorder.finish(sig)

    assert returncode == 0, stderr
    assert 'Traceback' not in stderr, stderr
    bag_dir = tmp_path / SESSION / 'episode_000000'
    assert not list_partial_episodes(tmp_path / SESSION)
    metadata = read_episode_metadata(bag_dir)
    assert metadata.complete is False and metadata.success is None
    assert np.array_equal(read_frames(bag_dir), frames)


def test_bag_holds_every_message_published_at_30_hz(tmp_path, operator, start_recorder):
    recorder = start_recorder()
    operator.wait_for_recorder()
    operator.start()
    rate_hz, seconds = 30.0, 3.0
    pixels = np.zeros((*SIZE, 3), np.uint8)
    published, start = 0, time.monotonic()
    while published < rate_hz * seconds:
        delay = start + published / rate_hz - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        pixels[...] = published % 256
        operator.publish(pixels, time.time_ns())
        published += 1
        operator.executor.spin_once(timeout_sec=0)
    operator.wait_recorded(published)
    bag_dir = operator.stop(True)
    recorder.finish(signal.SIGINT)

    counts = {topic: len(stamps.receive_ns)
              for topic, stamps in read_topic_stamps(bag_dir, headers=False).items()}
    for topic in (operator.topic, operator.publishers['color_info'].topic_name):
        assert abs(counts[topic] - published) <= 0.02 * published, (topic, counts, published)
    assert read_frames(bag_dir)[:, 0, 0, 0].tolist() == [i % 256 for i in range(published)]


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob('*'))
            if p.is_file()}


@pytest.fixture
def small_disk(tmp_path):
    """An 8 MiB tmpfs (needs root; skipped elsewhere) with a 5 MiB file to delete later."""
    disk = tmp_path / 'disk'
    disk.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f'cannot mount a tmpfs: {mounted.stderr.strip()}')
    try:
        (disk / 'filler').write_bytes(bytes(5 * 2**20))
        yield disk
    finally:
        subprocess.run(['umount', '-l', str(disk)], check=False)


def test_disk_full_mid_episode_keeps_the_node_and_refuses_start_until_space_is_back(
        small_disk, operator, start_recorder):
    recorder = start_recorder(small_disk, params=('min_free_mb:=1.0',))
    operator.wait_for_recorder()
    operator.start()
    frames = operator.publish_episode(5, seed=0)
    saved = operator.stop(True)
    earlier = snapshot(saved)
    session_dir = small_disk / SESSION

    operator.start()
    status = operator.fill_until_failed()
    partial = session_dir / 'episode_000001.partial'
    assert 'no space left on device' in status['error'] and str(partial) in status['error']
    assert recorder.process.poll() is None and partial.is_dir()
    success, message = operator.try_start()
    assert not success and message.startswith(f'{session_dir}: no space left on device'), message
    before = snapshot(partial)
    with pytest.raises(RecordingError, match='No space left on device.*is unchanged'):
        recover_partial(partial)
    assert snapshot(partial) == before

    (small_disk / 'filler').unlink()
    assert operator.start().parent.name == 'episode_000002.partial'
    after = operator.publish_episode(3, seed=2)
    assert operator.stop(True).name == 'episode_000002'
    returncode, stderr = recorder.finish(signal.SIGINT)
    assert returncode == 0 and 'Traceback' not in stderr, stderr
    assert snapshot(saved) == earlier and np.array_equal(read_frames(saved), frames)
    assert np.array_equal(read_frames(session_dir / 'episode_000002'), after)
    salvaged = read_frames(recover_partial(partial))
    assert len(salvaged) >= 4 and salvaged[:, 0, 0, 0].tolist() == list(range(len(salvaged)))


def test_start_is_refused_while_the_policy_camera_is_silent(operator, start_recorder):
    """A camera that never started (a wrong serial): episodes without images are lost demos."""
    start_recorder(params=('camera_silent_s:=2.0',))
    operator.wait_for_recorder()
    success, message = operator.try_start()
    assert not success and message == (f'policy camera {operator.topic} has sent nothing: no '
                                        'episode without images (camera_silent_s)'), message
    operator.publish(np.zeros((*SIZE, 3), np.uint8), T0_NS)
    deadline = time.monotonic() + 10
    while not success and time.monotonic() < deadline:   # once the frame has arrived
        spin_until(operator.executor, lambda: False, 0.2)
        success, message = operator.try_start()
    assert success, message


def test_write_error_mid_episode_keeps_the_partial_and_the_next_episode_works(
        tmp_path, operator, start_recorder):
    recorder = start_recorder(max_file_bytes=2 * 2**20)  # no mount needed: EFBIG, not ENOSPC
    operator.wait_for_recorder()
    operator.start()
    status = operator.fill_until_failed()
    partial = tmp_path / SESSION / 'episode_000000.partial'
    assert 'file too large' in status['error'] and str(partial) in status['error']
    assert recorder.process.poll() is None
    operator.start()
    frames = operator.publish_episode(4, seed=1)
    saved = operator.stop(True)
    assert saved.name == 'episode_000001' and np.array_equal(read_frames(saved), frames)
    returncode, stderr = recorder.finish(signal.SIGTERM)
    assert returncode == 0 and 'Traceback' not in stderr, stderr
    assert partial.is_dir()


def test_second_recorder_on_a_session_exits_with_one_line_naming_it(tmp_path, operator,
                                                                    start_recorder, ros_env):
    first = start_recorder()
    operator.wait_for_recorder()
    # Another ROS domain: the lock, not DDS, keeps the two apart (else they interleave).
    second = RecorderProcess(tmp_path, {**ros_env, 'ROS_DOMAIN_ID': str(
        (int(ros_env['ROS_DOMAIN_ID']) + 50) % 100 + 1)})
    try:
        _, stderr = second.process.communicate(timeout=60)
    finally:
        second.kill()
    lines = [line for line in stderr.splitlines() if line.startswith('lam_ros')]
    assert second.process.returncode == 2, stderr
    assert lines == [f'lam_ros: error: session {tmp_path / SESSION} is in use by another '
                     f'recorder (pid {first.process.pid}, lock '
                     f'{tmp_path / SESSION / "recorder.lock"}); stop it or choose another '
                     'session name'], stderr
    operator.start()
    frames = operator.publish_episode(3, seed=0)
    assert np.array_equal(read_frames(operator.stop(True)), frames)


if __name__ == '__main__':
    sys.exit(pytest.main([__file__, '-q']))
