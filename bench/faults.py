# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Fault injection against the real code: each failure must leave the arm safe and data whole.

Eight faults, each run against what ships (no test doubles in the product path):

  sigkill          SIGKILL of a recorder process mid-episode (camera frames, joint states and
                   actions published over Fast DDS, episodes driven through /recorder/start|stop);
                   earlier episodes must stay byte-identical and readable, numbering must go on
                   after a restart, the killed episode's .partial must be recoverable.
  disk_full        An 8 MiB tmpfs fills mid-episode (min_free_mb:=1.0): the node stays up, says
                   why, refuses /recorder/start until space is back, keeps earlier episodes.
  bag_flips        1-3 random bit flips in a closed and in a recovered bag (.mcap, sometimes
                   metadata.yaml): every read equals the original or raises a one-line
                   BagFormatError/BagCorruptError naming the file.
  ckpt_flips       Bit flips in a CoMo checkpoint (.safetensors / .json) and weights replaced
                   by NaN, inf or huge values: CheckpointError, or the identical model.
  bad_joint_state  NaN / inf / -inf / short / missing-joint joint states into the arm node
                   (a stand-in xs_sdk driver records commands): nothing moves while the state
                   is bad, no command is ever non-finite, a good state lets it move again.
  estop            E-stop from volatile, best-effort and latched publishers, and one latched
                   before the arm node starts, while actions come at 20 Hz: 0 commands after it.
  bad_params       Bad parameters/arguments on the command line: exit 2, one last stderr line
                   naming the node/argument and the parameter, no traceback.
  second_recorder  A second recorder on a session in use (same and another ROS domain): exit 2
                   naming the session directory; the first keeps recording.

Nodes talk over Fast DDS (the project's config/fastdds.xml) on a fresh ROS_DOMAIN_ID per
trial (101..220, out of the test suite's 1..100), localhost only, ROS logs in a temp dir.
Randomness is seeded (--seed). Prints one table, then ``faults held: N of M``; exits 1
unless every fault held.

    .venv/bin/python bench/faults.py                 # all rows, full trial counts (~4 min)
    .venv/bin/python bench/faults.py --quick         # fewer trials
    .venv/bin/python bench/faults.py --only estop    # one row

Needs ``make setup`` (interbotix_xs_msgs built under build/xs_msgs/install; the script
re-executes itself with the env that makes rclpy find them) and root for the tmpfs
(else disk_full falls back to RLIMIT_FSIZE: EFBIG instead of ENOSPC).
"""
from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
import hashlib
import itertools
import json
import os
from pathlib import Path
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

ROBOT = 'wx250s'
CAMERA = 'cam'
SESSION = 's'
SMALL = (24, 32)           # frames of complete episodes
BIG = (240, 320)           # 225 KiB frames: a 1 MiB chunk after 5 of them
T0_NS = 1_700_000_000_000_000_000
FRAME_NS = 33_333_333
READY = np.array([0.0, -0.5, 0.5, 0.0, 0.5, 0.0])
ACTION_STEP = 0.001        # e-stop row: action i moves the waist to i * ACTION_STEP

_domains = itertools.count()
_processes: list[subprocess.Popen] = []   # every child this script starts, killed at exit
_mounts: list[Path] = []                   # every tmpfs it mounted, unmounted at exit


class Fault(Exception):
    """A check of a row failed: the row did not hold (the message says what happened)."""


def check(condition: object, message: str) -> None:
    """Raise ``Fault(message)`` unless ``condition``."""
    if not condition:
        raise Fault(message)


def one_line(text: str, limit: int = 160) -> str:
    """``text`` on one line, shortened to ``limit`` characters."""
    text = ' '.join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + '...'


# -- environment ----------------------------------------------------------------------------

def ensure_env() -> None:
    """Re-execute with interbotix_xs_msgs and the Fast DDS profile findable (as `make` sets)."""
    from lam_ros.interfaces.xs_interfaces import DEFAULT_PREFIX, xs_msgs_env

    if os.environ.get('LAM_FAULTS_ENV') == '1':
        return
    if not DEFAULT_PREFIX.is_dir():
        sys.exit(f'faults.py: {DEFAULT_PREFIX} is missing: run `make setup` first')
    env = {**os.environ, **xs_msgs_env(DEFAULT_PREFIX), 'LAM_FAULTS_ENV': '1'}
    env.setdefault('FASTDDS_DEFAULT_PROFILES_FILE', str(REPO / 'config' / 'fastdds.xml'))
    env.setdefault('MUJOCO_GL', 'egl')
    env.setdefault('PYOPENGL_PLATFORM', 'egl')
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def next_domain() -> int:
    """A ROS_DOMAIN_ID used by nothing else of this run (and not by the test suite's 1..100)."""
    return 101 + (os.getpid() + next(_domains)) % 120


def ros_env(domain: int) -> dict[str, str]:
    """Env of a child process on ``domain`` that imports this checkout."""
    env = {**os.environ, 'ROS_DOMAIN_ID': str(domain), 'PYTHONUNBUFFERED': '1'}
    env['PYTHONPATH'] = os.pathsep.join([str(REPO), env.get('PYTHONPATH', '')])
    return env


def new_context(domain: int):
    """A fresh rclpy Context on ``domain``."""
    import rclpy
    from rclpy.context import Context

    os.environ['ROS_DOMAIN_ID'] = str(domain)
    context = Context()
    rclpy.init(context=context, domain_id=domain)
    return context


def close_context(context) -> None:
    """Shut a context down (again is a no-op)."""
    import rclpy

    rclpy.try_shutdown(context=context)


def spin_until(executor, predicate: Callable[[], bool], timeout_s: float,
               step_s: float = 0.02) -> bool:
    """Spin ``executor`` until ``predicate()`` holds or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        executor.spin_once(timeout_sec=step_s)
    return predicate()


def start_process(command: list[str], env: dict[str, str], **kwargs) -> subprocess.Popen:
    """Popen that the script kills at exit whatever happens."""
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, **kwargs)
    _processes.append(process)
    return process


def stop_process(process: subprocess.Popen, sig: signal.Signals = signal.SIGKILL,
                 timeout_s: float = 20.0) -> tuple[int, str]:
    """Send ``sig`` (if still running); return exit code and stderr."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        _, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
    return process.returncode, stderr or ''


def cleanup() -> None:
    """Kill every child still running and unmount every tmpfs."""
    for process in _processes:
        if process.poll() is None:
            process.kill()
            try:
                process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                pass
    _processes.clear()
    for mount in reversed(_mounts):
        subprocess.run(['umount', '-l', str(mount)], capture_output=True, check=False)
    _mounts.clear()


def tree_hash(path: Path) -> dict[str, str]:
    """sha256 of every file under ``path``, by relative name."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob('*')) if p.is_file()}


# -- recorder process and its operator ------------------------------------------------------

def start_recorder(output_dir: Path, domain: int, params: tuple[str, ...] = (),
                   max_file_bytes: int | None = None) -> subprocess.Popen:
    """``python -m lam_ros.app.cli run recorder`` in robot mode with camera ``cam``."""
    command = [sys.executable, '-m', 'lam_ros.app.cli', 'run', 'recorder', '--ros-args',
               '-p', f'output_dir:={output_dir}', '-p', f'session:={SESSION}',
               '-p', 'mode:=robot', '-p', f'cameras:=[{CAMERA}]', '-p', f'robot_name:={ROBOT}',
               '-p', 'camera_silent_s:=0.0']   # episodes start before the first frame here
    for param in params:
        command += ['-p', param]

    def limit_file_size() -> None:  # writes past it fail with EFBIG (Python ignores SIGXFSZ)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
    return start_process(command, ros_env(domain),
                         preexec_fn=limit_file_size if max_file_bytes else None)


@dataclass
class Sent:
    """What was published for one episode (the bag must hold exactly this)."""

    frames: np.ndarray        # (T, H, W, 3) uint8
    stamps_ns: np.ndarray     # (T,) int64
    joints: np.ndarray        # (T, 7) joint state at each frame
    actions: np.ndarray       # (T, 7) action decided on each frame


class Operator:
    """The bench side of a recorder: camera + joint state + action publishers, its services.

    Its own DDS participant on ``domain``: a SIGKILLed recorder stays in the discovery
    database of a participant that knew it, and a request to the dead server is lost.
    """

    def __init__(self, domain: int) -> None:
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import QoSProfile
        from sensor_msgs.msg import CameraInfo, Image, JointState
        from std_msgs.msg import String
        from std_srvs.srv import SetBool, Trigger

        from lam_ros.hardware.camera_source import CameraIntrinsics
        from lam_ros.interfaces import topics

        self.context = new_context(domain)
        self.node = Node('faults_operator', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        names = topics.camera_topics(CAMERA)
        self.color_topic = names['color']
        self.joint_topic = topics.arm_topics(ROBOT)['joint_states']
        reliable = QoSProfile(depth=100)
        self.publishers = {
            'color': self.node.create_publisher(Image, names['color'], reliable),
            'color_info': self.node.create_publisher(CameraInfo, names['color_info'], reliable),
            'joints': self.node.create_publisher(JointState, self.joint_topic, reliable),
            'action': self.node.create_publisher(JointState, topics.ACTION, reliable)}
        self.start_client = self.node.create_client(Trigger, topics.RECORDER_START)
        self.stop_client = self.node.create_client(SetBool, topics.RECORDER_STOP)
        self.status: dict = {}
        self.node.create_subscription(String, '/recorder/status', self._on_status, 10)
        self.intrinsics = {size: CameraIntrinsics.pinhole(size[1], size[0], 30.0, 30.0,
                                                          size[1] / 2, size[0] / 2,
                                                          'cam_color_optical_frame')
                           for size in (SMALL, BIG)}
        self._frame_number = 0

    def _on_status(self, msg) -> None:
        self.status = json.loads(msg.data)

    def wait_for_recorder(self, timeout_s: float = 30.0) -> None:
        """Until the recorder's services answer and it subscribes to every published topic."""
        ready = spin_until(self.executor, lambda: (
            self.start_client.service_is_ready() and self.stop_client.service_is_ready()
            and all(p.get_subscription_count() for p in self.publishers.values())), timeout_s)
        check(ready, f'recorder did not come up in {timeout_s:.0f} s (services/subscriptions)')
        # service_is_ready() means our request writer matched the server; the server's
        # response writer may not have matched our reader yet, and Fast DDS then drops the
        # response (the request is still executed). A status message (1 Hz) means the
        # recorder has discovered this participant; a little more lets the rest settle.
        self.status = {}
        check(spin_until(self.executor, lambda: bool(self.status), 5.0),
              'no /recorder/status from the recorder in 5 s')
        spin_until(self.executor, lambda: False, 0.3)

    def call(self, client, request, timeout_s: float = 10.0):
        """Call a service; its response, or a Fault naming the service."""
        future = client.call_async(request)
        spin_until(self.executor, future.done, timeout_s)
        check(future.done(), f'{client.srv_name} did not answer in {timeout_s:.0f} s')
        return future.result()

    def try_start(self) -> tuple[bool, str]:
        """``/recorder/start``'s answer, refused or not."""
        from std_srvs.srv import Trigger

        response = self.call(self.start_client, Trigger.Request())
        if response.success:
            self.status = {}
        return response.success, response.message

    def start(self, expect_index: int | None = None) -> Path:
        """``/recorder/start``; the new episode's ``.partial`` directory."""
        success, message = self.try_start()
        check(success, f'/recorder/start refused: {message}')
        partial = Path(message).parent
        if expect_index is not None:
            check(partial.name == f'episode_{expect_index:06d}.partial',
                  f'numbering: got {partial.name}, expected episode_{expect_index:06d}.partial')
        return partial

    def stop(self, success: bool) -> Path:
        """``/recorder/stop``; the saved episode directory."""
        from std_srvs.srv import SetBool

        response = self.call(self.stop_client, SetBool.Request(data=success))
        check(response.success, f'/recorder/stop refused: {response.message}')
        return Path(response.message)

    def publish_step(self, pixels: np.ndarray, stamp_ns: int, joints: np.ndarray,
                     action: np.ndarray) -> int:
        """One color frame + camera_info, the joint state at it and the action decided on it.

        Returns the frame's header stamp (ns): the camera message carries float seconds, so
        it can differ from ``stamp_ns`` by a few hundred ns; the joint state gets the same.
        """
        from sensor_msgs.msg import JointState

        from lam_ros.hardware.camera_source import CameraFrame
        from lam_ros.interfaces.camera_msgs import frame_messages
        from lam_ros.recording.synthetic import ACTION_NAMES

        frame = CameraFrame(pixels, None, stamp_ns * 1e-9, 'system_time', time.time(),
                            self._frame_number, self.intrinsics[pixels.shape[:2]])
        self._frame_number += 1
        messages = frame_messages(frame)
        stamp = messages['color'].header.stamp
        stamp_ns = stamp.sec * 10**9 + stamp.nanosec
        for key, msg in messages.items():
            self.publishers[key].publish(msg)
        for key, values, stamp in (('joints', joints, stamp_ns),
                                   ('action', action, stamp_ns + 1000)):
            msg = JointState(name=list(ACTION_NAMES), position=[float(v) for v in values])
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10**9)
            self.publishers[key].publish(msg)
        return stamp_ns

    def publish_episode(self, rng: np.random.Generator, n_frames: int, size: tuple[int, int],
                        t0_ns: int, wait: bool = True) -> Sent:
        """Publish ``n_frames`` random steps; with ``wait`` until the recorder counted them."""
        sent = Sent(rng.integers(0, 256, (n_frames, *size, 3), np.uint8),
                    t0_ns + np.arange(n_frames, dtype=np.int64) * FRAME_NS,
                    rng.normal(size=(n_frames, 7)), rng.normal(size=(n_frames, 7)))
        for i in range(n_frames):
            sent.stamps_ns[i] = self.publish_step(sent.frames[i], int(sent.stamps_ns[i]),
                                                  sent.joints[i], sent.actions[i])
            self.executor.spin_once(timeout_sec=0.005)
        if wait:
            self.wait_recorded(n_frames)
        return sent

    def counts(self) -> dict[str, int]:
        """Messages per published topic in the episode in progress (the recorder's status)."""
        return {p.topic_name: int(self.status.get(p.topic_name, {}).get('count', 0))
                for p in self.publishers.values()}

    def wait_recorded(self, count: int, timeout_s: float = 15.0) -> None:
        """Until the status reports exactly ``count`` messages on every published topic."""
        got = spin_until(self.executor,
                         lambda: all(c == count for c in self.counts().values()), timeout_s)
        check(got, f'recorder counted {self.counts()} of {count} each')

    def fill_until_failed(self, timeout_s: float = 40.0) -> dict:
        """Publish big frames until the recorder's status says its episode failed."""
        deadline, index = time.monotonic() + timeout_s, 0
        pixels = np.zeros((*BIG, 3), np.uint8)
        while self.status.get('recorder', {}).get('state') != 'failed':
            check(time.monotonic() < deadline, f'recorder never failed: {self.status}')
            pixels[...] = index % 256
            self.publish_step(pixels, T0_NS + index * FRAME_NS, np.zeros(7), np.zeros(7))
            index += 1
            spin_until(self.executor, lambda: False, 0.05)
        return self.status['recorder']

    def close(self) -> None:
        """Leave the DDS graph (again is a no-op)."""
        if not self.context.ok():
            return
        self.executor.shutdown()
        self.node.destroy_node()
        close_context(self.context)


def read_bag(bag_dir: Path):
    """``read_episode`` of a recorder bag (camera ``cam``, /lam/action, the joint states)."""
    from lam_models.data.bags import read_episode
    from lam_ros.interfaces import topics

    return read_episode(bag_dir, camera_topic=topics.camera_topics(CAMERA)['color'],
                        action_topic=topics.ACTION,
                        joint_state_topic=topics.arm_topics(ROBOT)['joint_states'])


def matches(episode, sent: Sent, prefix_of: Path | None = None) -> str | None:
    """Why ``episode`` is not what was ``sent``, or None.

    ``prefix_of``: the bag is a recovered one (a cut-off recording): its frames must be the
    first ones sent, and its joint states and actions the first ones sent too. Where the
    cut fell between a frame and its joint state / action, the reader fills the last frame
    from the previous one (its documented resampling): only the values the bag holds are
    compared, and at most one frame may lack them.
    """
    n = len(episode.frames)
    if prefix_of is None and n != len(sent.frames):
        return f'{n} frames read, {len(sent.frames)} sent'
    if n == 0 or n > len(sent.frames):
        return f'{n} frames read of {len(sent.frames)} sent'
    held = {'joints': n, 'actions': n}
    if prefix_of is not None:
        from lam_models.data.bags import read_topic_stamps
        from lam_ros.interfaces import topics

        counts = {topic: len(stamps.receive_ns)
                  for topic, stamps in read_topic_stamps(prefix_of, headers=False).items()}
        held = {'joints': min(n, counts.get(topics.arm_topics(ROBOT)['joint_states'], 0)),
                'actions': min(n, counts.get(topics.ACTION, 0))}
        if min(held.values()) < n - 1:
            return f'{n} frames but only {held} joint states / actions'
    stamps = np.round(episode.timestamps * 1e9).astype(np.int64) - sent.stamps_ns[:n]  # ~200 ns
    nj, na = held['joints'], held['actions']
    checks = {'pixels': np.array_equal(episode.frames, sent.frames[:n]),
              'timestamps': np.all(np.abs(stamps) < 1000),
              'joint positions': np.array_equal(episode.joint_positions[:nj],
                                                sent.joints[:nj].astype(np.float32)),
              'actions': np.array_equal(episode.actions[:na],
                                        sent.actions[:na].astype(np.float32))}
    wrong = [name for name, ok in checks.items() if not ok]
    return f'{", ".join(wrong)} differ' if wrong else None


# -- row 1: SIGKILL mid-episode ---------------------------------------------------------------

def row_sigkill(trials: int, rng: np.random.Generator, work: Path, progress) -> str:
    """SIGKILL the recorder mid-episode ``trials`` times on one session; see the docstring."""
    from lam_models.data.bags import list_partial_episodes, read_episode_metadata
    from lam_ros.recording import recover_partial

    output_dir = work / 'sigkill'
    session_dir = output_dir / SESSION
    finished: dict[Path, tuple[dict[str, str], Sent, Path | None]] = {}  # hash, sent, recovered
    salvaged: list[int] = []
    index = 0
    domain = next_domain()
    recorder = start_recorder(output_dir, domain)
    operator = Operator(domain)
    trial = -1
    try:
        operator.wait_for_recorder()
        for trial in range(trials):
            # a complete episode
            operator.start(expect_index=index)
            sent = operator.publish_episode(rng, int(rng.integers(3, 9)), SMALL,
                                            T0_NS + (2 * trial) * 10**12)
            saved = operator.stop(bool(rng.integers(2)))
            check(saved == session_dir / f'episode_{index:06d}', f'saved as {saved}')
            problem = matches(read_bag(saved), sent)
            check(problem is None, f'trial {trial}: {saved.name} read back wrong: {problem}')
            finished[saved] = (tree_hash(saved), sent, None)
            index += 1

            # an episode killed mid-way: > 1 MiB on disk (a chunk flushed), then more frames
            partial = operator.start(expect_index=index)
            mcap = partial / partial.name.removesuffix('.partial') / \
                f'{partial.name.removesuffix(".partial")}.mcap'
            big = operator.publish_episode(rng, 6, BIG, T0_NS + (2 * trial + 1) * 10**12)
            on_disk = spin_until(operator.executor,
                                 lambda path=mcap: path.is_file() and path.stat().st_size > 2**20,
                                 10.0)
            check(on_disk, f'trial {trial}: {mcap} never passed 1 MiB')
            extra = operator.publish_episode(rng, int(rng.integers(0, 7)), BIG,
                                             int(big.stamps_ns[-1]) + FRAME_NS, wait=False)
            spin_until(operator.executor, lambda: False, float(rng.uniform(0.0, 0.3)))
            returncode, _ = stop_process(recorder, signal.SIGKILL)
            check(returncode == -signal.SIGKILL, f'trial {trial}: recorder exit {returncode}')
            operator.close()
            sent_killed = Sent(*(np.concatenate([a, b]) for a, b in zip(
                (big.frames, big.stamps_ns, big.joints, big.actions),
                (extra.frames, extra.stamps_ns, extra.joints, extra.actions))))

            check(partial.is_dir() and list_partial_episodes(session_dir) == [partial],
                  f'trial {trial}: partials {list_partial_episodes(session_dir)}, '
                  f'expected [{partial}]')
            final = session_dir / partial.name.removesuffix('.partial')
            check(not final.exists(), f'trial {trial}: {final} exists after SIGKILL')
            verify_finished(finished, f'trial {trial} after SIGKILL')
            partial_hash = tree_hash(partial)

            # restart on the same session: the .partial is left alone, numbering goes on
            domain = next_domain()
            recorder = start_recorder(output_dir, domain)
            operator = Operator(domain)
            operator.wait_for_recorder()
            check(tree_hash(partial) == partial_hash, f'trial {trial}: restart changed {partial}')
            recovered = recover_partial(partial)
            episode = read_bag(recovered)
            problem = matches(episode, sent_killed, prefix_of=recovered)
            check(problem is None and len(episode.frames) >= 4,
                  f'trial {trial}: recovered {recovered.name}: {problem or len(episode.frames)}')
            check(read_episode_metadata(recovered).complete is False,
                  f'trial {trial}: {recovered.name} not marked complete=false')
            salvaged.append(len(episode.frames))
            finished[recovered] = (tree_hash(recovered), sent_killed, recovered)
            index += 1
            progress.update(1)

        operator.start(expect_index=index)   # the last restart numbers on too
        sent = operator.publish_episode(rng, 4, SMALL, T0_NS + 999 * 10**12)
        last = operator.stop(True)
        check(matches(read_bag(last), sent) is None, f'{last.name} read back wrong')
        returncode, stderr = stop_process(recorder, signal.SIGINT)
        check(returncode == 0 and 'Traceback' not in stderr,
              f'SIGINT: exit {returncode}: {one_line(stderr[-300:])}')
        verify_finished(finished, 'at the end')
    except Fault as fault:
        names = sorted(p.name for p in session_dir.iterdir()) if session_dir.is_dir() else []
        state = 'running' if recorder.poll() is None else f'exit {recorder.returncode}'
        raise Fault(f'trial {trial}: {fault} (recorder {state}; last status '
                    f'{operator.status.get("recorder")}; session holds {names[-4:]})') from None
    finally:
        operator.close()
        stop_process(recorder)
    return (f'{trials} kills; {len(finished)} earlier episodes byte-identical + read back '
            f'after each; numbering went on to {index}; {trials}/{trials} .partial recovered '
            f'({min(salvaged)}-{max(salvaged)} frames each)')


def verify_finished(finished: dict, when: str) -> None:
    """Every saved episode still has its bytes and reads back as published."""
    for bag_dir, (digest, sent, prefix_of) in finished.items():
        check(bag_dir.is_dir() and tree_hash(bag_dir) == digest,
              f'{when}: {bag_dir.name} changed or lost')
        problem = matches(read_bag(bag_dir), sent, prefix_of=prefix_of)
        check(problem is None, f'{when}: {bag_dir.name} reads back wrong: {problem}')


# -- row 2: disk full -------------------------------------------------------------------------

def row_disk_full(trials: int, rng: np.random.Generator, work: Path, progress) -> str:
    """Fill a small tmpfs mid-episode; the recorder must survive and keep what it saved."""
    notes = []
    for trial in range(trials):
        notes.append(disk_full_trial(trial, rng, work))
        progress.update(1)
    return '; '.join(dict.fromkeys(notes))


def disk_full_trial(trial: int, rng: np.random.Generator, work: Path) -> str:
    """One disk-full trial (tmpfs when mountable, else RLIMIT_FSIZE)."""
    from lam_models.data.bags import list_partial_episodes
    from lam_ros.recording import RecordingError, recover_partial

    disk = work / f'disk{trial}'
    disk.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', str(disk)],
                             capture_output=True, text=True)
    tmpfs = mounted.returncode == 0
    if tmpfs:
        _mounts.append(disk)
        (disk / 'filler').write_bytes(bytes(5 * 2**20))
    domain = next_domain()
    recorder = start_recorder(disk, domain, params=('min_free_mb:=1.0',),
                              max_file_bytes=None if tmpfs else 2 * 2**20)
    operator = Operator(domain)
    session_dir = disk / SESSION
    try:
        operator.wait_for_recorder()
        operator.start(expect_index=0)
        sent = operator.publish_episode(rng, int(rng.integers(3, 8)), SMALL, T0_NS)
        saved = operator.stop(True)
        earlier = tree_hash(saved)

        partial = operator.start(expect_index=1)
        status = operator.fill_until_failed()
        want = 'no space left on device' if tmpfs else 'file too large'
        check(want in str(status.get('error')).lower() and str(partial) in status['error'],
              f'status error {status.get("error")!r} does not say {want!r} naming {partial}')
        check(recorder.poll() is None, 'recorder died when the disk filled')
        check(partial.is_dir(), f'{partial} is gone')
        check(tree_hash(saved) == earlier, f'{saved.name} changed when the disk filled')
        refused_note = ''
        if tmpfs:
            success, message = operator.try_start()
            check(not success and 'no space left' in message.lower(),
                  f'/recorder/start on a full disk: success={success} {message!r}')
            before = tree_hash(partial)
            try:
                recover_partial(partial)
            except RecordingError as error:
                check('unchanged' in str(error) and '\n' not in str(error),
                      f'recover_partial on a full disk: {one_line(error)}')
                check(tree_hash(partial) == before, 'recover_partial on a full disk changed it')
                refused_note = 'recover_partial refused while full (partial unchanged), '
            else:
                refused_note = 'recover_partial worked even while full, '
            (disk / 'filler').unlink()
        operator.start(expect_index=2)
        after = operator.publish_episode(rng, 3, SMALL, T0_NS + 10**12)
        resumed = operator.stop(True)
        check(matches(read_bag(resumed), after) is None, f'{resumed.name} read back wrong')
        if list_partial_episodes(session_dir) == [partial]:
            recovered = recover_partial(partial)
            frames = read_bag(recovered).frames
            check(len(frames) >= 1 and frames[:, 0, 0, 0].tolist() ==
                  [i % 256 for i in range(len(frames))], 'recovered frames are not the sent ones')
            recovered_note = f'recovered {len(frames)} frames once space was back'
        else:
            recovered_note = 'no .partial left to recover'
        returncode, stderr = stop_process(recorder, signal.SIGINT)
        check(returncode == 0 and 'Traceback' not in stderr,
              f'SIGINT: exit {returncode}: {one_line(stderr[-300:])}')
        check(tree_hash(saved) == earlier and matches(read_bag(saved), sent) is None,
              f'{saved.name} changed')
        where = 'tmpfs 8 MiB' if tmpfs else 'RLIMIT_FSIZE (no tmpfs: ' + \
            one_line(mounted.stderr, 60) + ')'
        return (f'{where}: node up, said {want!r}, start refused while full, earlier episode '
                f'intact, {refused_note}start accepted after freeing, {recovered_note}')
    finally:
        operator.close()
        stop_process(recorder)
        if tmpfs:
            subprocess.run(['umount', '-l', str(disk)], capture_output=True, check=False)
            _mounts.remove(disk)


# -- row 3: bit flips in bags -----------------------------------------------------------------

def write_bag(bag_dir: Path, close: bool = True) -> None:
    """150 frames (48x64) + actions + joint states, ~1.4 MB: two chunks. As test_integrity."""
    from lam_models.data.bags import EpisodeMetadata
    from lam_ros.recording import EpisodeWriter
    from lam_ros.recording.synthetic import ACTION_NAMES, CdrFactory

    cdr = CdrFactory()
    writer = EpisodeWriter(bag_dir, EpisodeMetadata(task='stack', instruction='stack it'),
                           cdr.typestore)
    camera, action, joints = '/cam/color', '/lam/action', '/wx250s/joint_states'
    writer.add_topic(camera, 'sensor_msgs/msg/Image', 30.0)
    writer.add_topic(action, 'sensor_msgs/msg/JointState', 30.0)
    writer.add_topic(joints, 'sensor_msgs/msg/JointState', 30.0)
    rng = np.random.default_rng(0)
    for i in range(150):
        stamp = T0_NS + i * 33_000_000
        writer.write(camera, stamp, cdr.image(rng.integers(0, 256, (48, 64, 3), np.uint8),
                                              'rgb8', stamp))
        writer.write(action, stamp + 1, cdr.joint_state(ACTION_NAMES, rng.normal(size=7),
                                                        stamp + 1))
        writer.write(joints, stamp + 2, cdr.joint_state(ACTION_NAMES, rng.normal(size=7),
                                                        stamp + 2))
    if close:
        writer.close(success=True)
    else:
        writer.sync()
        writer.abort()


def same_episode(a, b) -> bool:
    """Frames, timestamps, actions, joint positions and every metadata field equal."""
    arrays = ('frames', 'timestamps', 'actions', 'joint_positions')
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in arrays) and all(
        getattr(a, k) == getattr(b, k)
        for k in ('task', 'instruction', 'success', 'embodiment', 'metadata'))


def flip_bits(path: Path, rng: np.random.Generator, count: int, low: int = 0,
              high: int | None = None) -> None:
    """Flip ``count`` random bits of ``path`` within bytes [low, high)."""
    data = bytearray(path.read_bytes())
    for _ in range(count):
        at = int(rng.integers(low, high or len(data)))
        data[at] ^= 1 << int(rng.integers(8))
    path.write_bytes(bytes(data))


def row_bag_flips(trials: int, rng: np.random.Generator, work: Path, progress) -> str:
    """Flip bits in copies of a closed and a recovered bag; read each copy."""
    from lam_models.data.bags import BagFormatError, read_episode
    from lam_ros.recording import recover_partial

    root = work / 'bags'
    write_bag(root / 'closed')
    partial = root / 'session' / 'episode_000000.partial'
    write_bag(partial / 'episode_000000', close=False)
    originals = {'closed': root / 'closed', 'recovered': recover_partial(partial)}
    references = {kind: read_episode(path, camera_topic='/cam/color')
                  for kind, path in originals.items()}
    outcomes: Counter[str] = Counter()
    wrong: list[str] = []
    for trial in range(trials):
        kind = ('closed', 'recovered')[trial % 2]
        bag = work / f'flip{trial}'
        shutil.copytree(originals[kind], bag)
        mcap = next(bag.glob('*.mcap'))
        size = mcap.stat().st_size
        region = rng.choice(['anywhere', 'head', 'tail', 'yaml'], p=[0.4, 0.15, 0.25, 0.2])
        low, high, path = {'anywhere': (0, None, mcap), 'head': (0, 1024, mcap),
                           'tail': (size - 1024, None, mcap),
                           'yaml': (0, None, bag / 'metadata.yaml')}[region]
        flip_bits(path, rng, int(rng.integers(1, 4)), low, high)
        try:
            episode = read_episode(bag, camera_topic='/cam/color')
        except BagFormatError as error:
            message = str(error)
            if str(bag) in message and '\n' not in message:
                outcomes['refused'] += 1
            else:
                outcomes['unclear error'] += 1
                wrong.append(f'trial {trial} ({kind}, {region}): {one_line(message, 100)}')
        except Exception as error:  # anything but BagFormatError is not a clear error
            outcomes['unclear error'] += 1
            wrong.append(f'trial {trial} ({kind}, {region}): {type(error).__name__}: '
                         f'{one_line(error, 100)}')
        else:
            episode.metadata['bag_dir'] = str(originals[kind])
            if same_episode(episode, references[kind]):
                outcomes['identical'] += 1
            else:
                outcomes['silently wrong'] += 1
                wrong.append(f'trial {trial} ({kind}, {region} of {path.name}): silently wrong')
        shutil.rmtree(bag)
        progress.update(1)
    summary = (f'refused {outcomes["refused"]} / identical {outcomes["identical"]} / '
               f'silently wrong {outcomes["silently wrong"]} / unclear error '
               f'{outcomes["unclear error"]} (closed + recovered bags)')
    check(not wrong, summary + ': ' + '; '.join(wrong[:3]))
    return summary


# -- row 4: bit flips in checkpoints ----------------------------------------------------------

def row_ckpt_flips(trials: int, rng: np.random.Generator, work: Path, progress) -> str:
    """Flip bits in a CoMo checkpoint; replace its weights by NaN/inf/huge values."""
    from safetensors.torch import load_file, save_file
    import torch

    from lam_models.latent import CheckpointError, load_latent_model, make_latent_model

    torch.manual_seed(0)
    model = make_latent_model('como', image_size=32, width=16)
    reference_dir = work / 'ckpt'
    model.save(reference_dir / 'model')
    reference = {k: v.clone() for k, v in model.state_dict().items()}

    def load(directory: Path) -> str:
        """'refused', 'identical', or why the loaded model is not the saved one."""
        try:
            loaded = load_latent_model(directory / 'model')
        except CheckpointError as error:
            message = str(error)
            if str(directory) in message and '\n' not in message:
                return 'refused'
            return f'unclear CheckpointError: {one_line(message, 100)}'
        except Exception as error:  # anything but CheckpointError is not a clear error
            return f'unclear error {type(error).__name__}: {one_line(error, 100)}'
        state = loaded.state_dict()
        if loaded.config != model.config:
            saved, got = model.config.to_dict(), loaded.config.to_dict()
            changed = [f'{k} {saved.get(k)!r}->{got.get(k)!r}'
                       for k in sorted(set(saved) | set(got)) if saved.get(k) != got.get(k)]
            return f'loaded with config {", ".join(changed)}, weights identical'
        if set(state) != set(reference) or not all(torch.equal(state[k], reference[k])
                                                   for k in reference):
            with torch.no_grad():
                frames = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
                finite = bool(torch.isfinite(loaded.encode(frames, frames)).all())
            return f'loaded different weights (encode output {"finite" if finite else "NaN/inf"})'
        return 'identical'

    outcomes: Counter[str] = Counter()
    wrong: list[str] = []
    for trial in range(trials):
        directory = work / f'ckpt{trial}'
        shutil.copytree(reference_dir, directory)
        # anywhere in the weights, the safetensors header, anywhere in the sidecar, or a
        # digit of a model_config value in the sidecar (what a reader of it would trust)
        region = rng.choice(['weights', 'header', 'json', 'config'], p=[0.45, 0.15, 0.25, 0.15])
        path = directory / ('model.json' if region in ('json', 'config') else
                            'model.safetensors')
        if region == 'config':
            text = path.read_bytes()
            start = text.index(b'"model_config"')
            digits = [i for i in range(start, text.index(b'}', start)) if text[i:i + 1].isdigit()]
            at = int(rng.choice(digits))
            flip_bits(path, rng, 1, at, at + 1)
        else:
            flip_bits(path, rng, int(rng.integers(1, 4)), 0,
                      1024 if region == 'header' else None)
        outcome = load(directory)
        outcomes[outcome if outcome in ('refused', 'identical') else
                 'unclear error' if outcome.startswith('unclear') else 'silently wrong'] += 1
        if outcome not in ('refused', 'identical'):
            wrong.append(f'trial {trial} ({region}): {outcome}')
        shutil.rmtree(directory)
        progress.update(1)

    replaced = {}
    first = next(k for k, v in reference.items()   # a weight on the encode path
                 if k.startswith('frame_encoder') and v.is_floating_point() and v.numel() > 1)
    for name, value, rehash in [('NaN', float('nan'), False), ('NaN, sha256 updated',
                                                                float('nan'), True),
                                ('inf, sha256 updated', float('inf'), True),
                                ('1e38, sha256 kept', 1e38, False),
                                ('1e38, sha256 updated', 1e38, True)]:
        directory = work / f'ckpt_{len(replaced)}'
        shutil.copytree(reference_dir, directory)
        tensors = load_file(directory / 'model.safetensors')
        tensors[first] = torch.full_like(tensors[first], value)
        save_file(tensors, directory / 'model.safetensors')
        if rehash:
            sidecar = json.loads((directory / 'model.json').read_text())
            sidecar['weights_sha256'] = hashlib.sha256(
                (directory / 'model.safetensors').read_bytes()).hexdigest()
            (directory / 'model.json').write_text(json.dumps(sidecar))
        replaced[name] = load(directory)
        shutil.rmtree(directory)
    not_refused = [f'{name}: {outcome}' for name, outcome in replaced.items()
                   if outcome != 'refused']
    summary = (f'flips: refused {outcomes["refused"]} / identical {outcomes["identical"]} / '
               f'silently wrong {outcomes["silently wrong"]} / unclear error '
               f'{outcomes["unclear error"]}; replaced weights refused '
               f'{len(replaced) - len(not_refused)}/{len(replaced)}')
    check(not wrong and not not_refused,
          summary + ': ' + '; '.join(not_refused + wrong[:4]))
    return summary


# -- rows 5 and 6: the arm node ---------------------------------------------------------------

class Rig:
    """An ArmNode plus a stand-in xs_sdk driver (robot info, records commands), one executor."""

    def __init__(self, context) -> None:
        from interbotix_xs_msgs.msg import JointGroupCommand
        from interbotix_xs_msgs.srv import RobotInfo
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.logging import LoggingSeverity
        from sensor_msgs.msg import JointState
        from std_msgs.msg import String

        from lam_ros.control.kinematics import robot_spec
        from lam_ros.interfaces import topics
        from lam_ros.nodes.arm_node import ArmNode

        self.spec = robot_spec(ROBOT)
        arm = topics.arm_topics(ROBOT)
        self.driver = rclpy.create_node('driver', context=context)
        self.commands: list[np.ndarray] = []
        self.status: list[str] = []
        self.driver.create_subscription(JointGroupCommand, arm['joint_group'],
                                        lambda m: self.commands.append(np.array(m.cmd)), 100)
        self.driver.create_service(RobotInfo, arm['get_robot_info'], self._robot_info)
        self.state_pub = self.driver.create_publisher(JointState, arm['joint_states'], 10)
        self.action_pub = self.driver.create_publisher(JointState, topics.ACTION, 10)
        self.driver.create_subscription(String, '/arm/status',
                                        lambda m: self.status.append(m.data), 50)
        self._joint_state, self._gripper = JointState, topics.GRIPPER
        self.arm = ArmNode(context=context)
        self.arm.get_logger().set_level(LoggingSeverity.ERROR)  # its status topic is checked
        self.executor = SingleThreadedExecutor(context=context)
        for node in (self.driver, self.arm):
            self.executor.add_node(node)

    def _robot_info(self, request, response):
        n = len(self.spec.joints)
        response.joint_names = list(self.spec.joints)
        response.joint_lower_limits = list(self.spec.lower[:n])
        response.joint_upper_limits = list(self.spec.upper[:n])
        response.joint_velocity_limits = [3.14] * n
        return response

    def spin(self, seconds: float) -> None:
        """Spin for ``seconds``."""
        spin_until(self.executor, lambda: False, seconds)

    def ready(self) -> None:
        """Until the arm node has its limits; then a good state."""
        check(spin_until(self.executor, lambda: self.arm.safety is not None, 15.0),
              'arm node never got robot info')
        self.send_state(READY)
        self.spin(0.2)

    def send_state(self, positions, names=None) -> None:
        """A joint state as xs_sdk would publish it."""
        self.state_pub.publish(self._joint_state(
            name=list(self.spec.joints if names is None else names),
            position=[float(p) for p in positions]))

    def send_action(self, target) -> None:
        """An arm target + gripper open on /lam/action."""
        self.action_pub.publish(self._joint_state(name=[*self.spec.joints, self._gripper],
                                                  position=[*map(float, target), 1.0]))

    def commands_after_actions(self, targets, state=None) -> list[np.ndarray]:
        """Commands the driver received for ``targets`` (``state`` re-sent before each)."""
        self.spin(0.2)
        self.commands.clear()
        for target in targets:
            if state is not None:
                self.send_state(*state)
            self.send_action(target)
            self.spin(0.05)
        self.spin(0.3)
        return list(self.commands)

    def close(self) -> None:
        """Destroy both nodes."""
        self.executor.shutdown()
        self.arm.destroy_node()
        self.driver.destroy_node()


BAD_STATES = ('nan', 'inf', '-inf', 'short', 'missing joint')


def bad_state(kind: str, rng: np.random.Generator, joints: tuple[str, ...]):
    """(positions, names) of one bad joint state of ``kind``, and a description."""
    q = READY + rng.uniform(-0.05, 0.05, len(joints))
    j = int(rng.integers(len(joints)))
    if kind in ('nan', 'inf', '-inf'):
        q[j] = float(kind)
        return (q, joints), f'{joints[j]}={kind}'
    if kind == 'short':
        n = int(rng.integers(0, len(joints)))
        return (q[:n], joints), f'{n} positions'
    keep = [i for i in range(len(joints)) if i != j]
    return (q[keep], [joints[i] for i in keep]), f'no {joints[j]}'


def row_bad_joint_state(trials: int, rng: np.random.Generator, work: Path, progress) -> str:
    """``trials`` per bad-state kind: nothing moves while the state is bad."""
    held_commands = 0
    actions_sent = 0
    for kind in BAD_STATES:
        for trial in range(trials):
            context = new_context(next_domain())
            rig = None
            try:
                rig = Rig(context)
                rig.ready()
                where = f'{kind} trial {trial}'
                check(rig.commands_after_actions([READY + 0.01] * 2, state=(READY,)),
                      f'{where}: no command for a good state and action (rig broken)')
                state, what = bad_state(kind, rng, rig.spec.joints)
                rig.send_state(*state)
                safety = rig.arm.safety
                check(spin_until(rig.executor, lambda s=safety: s.state_fault is not None, 3.0),
                      f'{where}: bad state ({what}) never noticed')
                far = READY.copy()
                far[int(rng.integers(6))] += 1.2 * rng.choice([-1, 1])
                outside = READY + np.array([0, 0.5, 0.5, 0, 0.3, 0])   # ee below the table
                targets = [far, outside, READY + rng.uniform(-0.01, 0.01, 6)] * 3
                rng.shuffle(targets)
                commands = rig.commands_after_actions(targets, state=state)
                actions_sent += len(targets)
                held_commands += len(commands)
                check(not commands, f'{where}: {len(commands)} commands sent while the joint '
                      f'state was bad ({what}): {[c.round(3).tolist() for c in commands[:1]]}')
                check(any('bad joint state' in s for s in rig.status),
                      f'{where}: status never said "bad joint state": {rig.status[-3:]}')
                rig.send_state(READY)
                check(spin_until(rig.executor, lambda s=safety: s.state_fault is None, 3.0),
                      f'{where}: a good state did not clear the fault')
                sent = rig.commands_after_actions([READY + 0.01] * 3, state=(READY,))
                check(sent, f'{where}: no command after a good state came back')
                step = rig.arm.safety_config.max_step_rad
                check(np.max(np.abs(sent[0] - READY)) <= step + 1e-6,
                      f'{where}: first command after recovery jumps '
                      f'{np.max(np.abs(sent[0] - READY)):.3f} rad')
                check(all(np.all(np.isfinite(c)) for c in rig.commands),
                      f'{where}: a non-finite command was sent')
            finally:
                if rig is not None:
                    rig.close()
                close_context(context)
            progress.update(1)
    return (f'{len(BAD_STATES)} kinds x {trials}: {held_commands} commands for {actions_sent} '
            f'actions while bad (1.2 rad step, outside workspace, small); all finite; moves '
            f'again after a good state')


ESTOP_KINDS = ('volatile', 'best_effort', 'latched', 'latched before start')


def row_estop(trials: int, rng: np.random.Generator, work: Path, progress) -> str:
    """E-stop from each kind of publisher while actions come at 20 Hz."""
    notes = []
    for kind in ESTOP_KINDS:
        for trial in range(trials):
            notes.append(estop_trial(kind, trial, rng))
            progress.update(1)
    late = [n for n in notes if n > 1]
    return (f'{len(notes)} e-stops ({", ".join(ESTOP_KINDS)}): 0 commands after arrival '
            f'at 20 Hz actions' + (f'; best-effort needed a 2nd publish {len(late)}x'
                                   if late else ''))


def estop_trial(kind: str, trial: int, rng: np.random.Generator) -> int:
    """One e-stop; returns how many times it was published."""
    import rclpy
    from rclpy.qos import QoSProfile, qos_profile_sensor_data
    from std_msgs.msg import Bool

    from lam_ros.interfaces import topics

    qos = {'volatile': QoSProfile(depth=10), 'best_effort': qos_profile_sensor_data,
           'latched': topics.LATCHED, 'latched before start': topics.LATCHED}[kind]
    where = f'{kind} trial {trial}'
    context = new_context(next_domain())
    rig = operator = None
    try:
        operator = rclpy.create_node('estop_operator', context=context)
        estop = operator.create_publisher(Bool, topics.ESTOP, qos)
        if kind == 'latched before start':
            estop.publish(Bool(data=True))
        rig = Rig(context)
        rig.executor.add_node(operator)
        rig.ready()
        if kind == 'latched before start':
            check(spin_until(rig.executor, lambda: rig.arm.safety.estopped, 3.0),
                  f'{where}: the e-stop latched before start never arrived')
        else:
            check(spin_until(rig.executor, lambda: estop.get_subscription_count() >= 1, 5.0),
                  f'{where}: the arm node never subscribed to {topics.ESTOP}')
            rig.spin(0.3)
        rig.commands.clear()
        estop_at = int(rng.integers(10, 21)) if kind != 'latched before start' else -1
        arrived = 0 if kind == 'latched before start' else None   # first action index after
        publishes, last_publish = int(kind == 'latched before start'), 0
        i = 0
        while arrived is None or i < arrived + 40:
            check(i < 200, f'{where}: the e-stop never arrived ({publishes} publishes)')
            if arrived is None and rig.arm.safety.estopped:
                arrived = i
            if i == estop_at or (publishes and arrived is None and i - last_publish >= 20
                                 and publishes < 3):
                estop.publish(Bool(data=True))
                publishes, last_publish = publishes + 1, i
            rig.send_state(READY)
            target = READY.copy()
            target[0] += ACTION_STEP * i
            rig.send_action(target)
            rig.spin(0.05)
            i += 1
        rig.spin(0.3)
        indices = [int(round(float(c[0]) / ACTION_STEP)) for c in rig.commands]
        after = [k for k in indices if k >= arrived]
        if kind != 'latched before start':
            check(len([k for k in indices if k < estop_at]) >= estop_at // 2,
                  f'{where}: only {len(indices)} commands before the e-stop (rig broken)')
        check(not after, f'{where}: {len(after)} commands for actions sent after the e-stop '
              f'arrived (action {arrived}): {after[:5]}')
        check(rig.arm.safety.estopped, f'{where}: e-stop released by itself')
        return publishes
    finally:
        if rig is not None:
            rig.close()
        if operator is not None:
            operator.destroy_node()
        close_context(context)


# -- row 7: bad parameters --------------------------------------------------------------------

BAD_PARAMETERS = [  # (arguments, words the last stderr line must hold)
    (['run', 'arm', '--ros-args', '-p', 'max_step_rad:=-0.15'], ["'arm'", 'max_step_rad']),
    (['run', 'arm', '--ros-args', '-p', 'joint_margin_rad:=-0.5'],
     ["'arm'", 'joint_margin_rad']),
    (['run', 'arm', '--ros-args', '-p', 'stale_after_s:=-1.0'], ["'arm'", 'stale_after_s']),
    (['run', 'arm', '--ros-args', '-p', 'robot_model:=wx999'], ["'arm'", 'robot_model']),
    (['run', 'teleop', '--ros-args', '-p', 'rate_hz:=fast'], ["'teleop'", 'rate_hz']),
    (['run', 'sim', '--ros-args', '-p', 'camera_rate_hz:=-5.0'], ["'sim'", 'camera_rate_hz']),
    (['collect', 'episodes:=-1'], ['episodes:=']),
    (['collect', 'cameras:=[]'], ['cameras:=']),
]


def row_bad_params(trials: int, rng: np.random.Generator, work: Path, progress) -> str:
    """Each bad parameter: exit 2, a last stderr line naming node/argument and parameter."""
    failures = []
    for arguments, words in BAD_PARAMETERS:
        command = [sys.executable, '-m', 'lam_ros.app.cli', *arguments]
        shown = ' '.join(arguments).replace('--ros-args -p ', '')
        try:
            done = subprocess.run(command, cwd=REPO, env=ros_env(next_domain()),
                                  capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            failures.append(f'{shown}: still running after 60 s')
            progress.update(1)
            continue
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else ''
        problems = ([f'exit {done.returncode}'] if done.returncode != 2 else []) + \
            (['traceback'] if 'Traceback' in done.stderr else []) + \
            [f'no {w}' for w in words if w not in last]
        if problems:
            failures.append(f'{shown}: {", ".join(problems)} ({one_line(last, 80)!r})')
        progress.update(1)
    check(not failures, '; '.join(failures))
    return (f'{len(BAD_PARAMETERS)} commands (arm x4, teleop, sim, collect x2): exit 2, one '
            f'line naming node/argument + parameter, no traceback')


# -- row 8: a second recorder on a session ----------------------------------------------------

def row_second_recorder(trials: int, rng: np.random.Generator, work: Path, progress) -> str:
    """A second recorder on the same session, same and other ROS domain; the first goes on."""
    output_dir = work / 'second'
    session_dir = output_dir / SESSION
    notes = []
    for trial in range(trials):
        domain = next_domain()
        first = start_recorder(output_dir, domain)
        operator = Operator(domain)
        try:
            operator.wait_for_recorder()
            for which, second_domain in (('same domain', domain),
                                         ('other domain', next_domain())):
                second = start_recorder(output_dir, second_domain)
                try:
                    _, stderr = second.communicate(timeout=60)
                    returncode = second.returncode
                except subprocess.TimeoutExpired:
                    returncode, stderr = 'none (still running after 60 s)', ''
                    stop_process(second)
                lines = [line for line in stderr.splitlines() if line.strip()]
                last = lines[-1] if lines else ''
                check(returncode == 2, f'{which}: second recorder exit {returncode} '
                      f'({one_line(last, 100)!r})')
                check('Traceback' not in stderr, f'{which}: traceback in stderr')
                check(f'session {session_dir} is in use by another recorder' in last
                      and f'pid {first.pid}' in last,
                      f'{which}: last stderr line {one_line(last, 140)!r}')
            check(first.poll() is None, 'the first recorder died')
            operator.start()
            sent = operator.publish_episode(rng, int(rng.integers(3, 8)), SMALL,
                                            T0_NS + trial * 10**12)
            saved = operator.stop(True)
            problem = matches(read_bag(saved), sent)
            check(problem is None, f"first recorder's episode after: {problem}")
            returncode, stderr = stop_process(first, signal.SIGINT)
            check(returncode == 0 and 'Traceback' not in stderr,
                  f'first recorder SIGINT exit {returncode}')
            notes.append(saved.name)
        finally:
            operator.close()
            stop_process(first)
        progress.update(2)
    return (f'{2 * trials} second recorders (same + other domain) exit 2 naming {SESSION}/ and '
            f'the holder pid; the first recorded {", ".join(notes)} after')


# -- table ------------------------------------------------------------------------------------

@dataclass
class Row:
    """One fault: its key for --only, table label, trials (full, quick), function."""

    key: str
    label: str
    trials: tuple[int, int]
    unit: str
    run: Callable


ROWS = [
    Row('sigkill', 'SIGKILL recorder mid-episode', (10, 3), 'kills', row_sigkill),
    Row('disk_full', 'disk full mid-episode (tmpfs)', (2, 1), 'disks', row_disk_full),
    Row('bag_flips', 'bit flips in bags', (100, 12), 'bags', row_bag_flips),
    Row('ckpt_flips', 'bit flips / bad weights in checkpoints', (200, 20), 'ckpts',
        row_ckpt_flips),
    Row('bad_joint_state', 'NaN/inf/short/missing joint states', (4, 1), 'per kind',
        row_bad_joint_state),
    Row('estop', 'e-stop: volatile/best-effort/latched/early', (3, 1), 'per kind', row_estop),
    Row('bad_params', 'bad parameters at start-up', (1, 1), 'cmds', row_bad_params),
    Row('second_recorder', 'second recorder on a session', (1, 1), 'runs',
        row_second_recorder),
]


def total_trials(row: Row, n: int) -> int:
    """Trials a row reports (per-kind rows multiply)."""
    if row.key == 'bad_joint_state':
        return n * len(BAD_STATES)
    if row.key == 'estop':
        return n * len(ESTOP_KINDS)
    if row.key == 'bad_params':
        return len(BAD_PARAMETERS)
    if row.key == 'second_recorder':
        return 2 * n
    return n


def print_table(results: list[tuple[str, int, bool, float, str]]) -> None:
    """Print the table: fault | trials | held | s | what happened, aligned."""
    header = ('fault', 'trials', 'held', 's', 'what happened')
    rows = [(label, str(trials), 'yes' if held else 'NO', f'{seconds:.0f}', what)
            for label, trials, held, seconds, what in results]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [' | '.join([*(c.ljust(w) for c, w in zip(r[:4], widths)), r[4]])
             for r in [header, *rows]]
    print(lines[0])
    print('-+-'.join('-' * w for w in widths) + '-+-' + '-' * 13)
    print('\n'.join(lines[1:]))


def main() -> int:
    """Run the chosen rows, print the table and ``faults held: N of M``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='fewer trials per row')
    parser.add_argument('--only', choices=[r.key for r in ROWS], action='append',
                        help='run only this row (repeatable)')
    parser.add_argument('--seed', type=int, default=8, help='seed of every random choice')
    args = parser.parse_args()
    ensure_env()
    rows = [r for r in ROWS if not args.only or r.key in args.only]
    results = []
    with tempfile.TemporaryDirectory(prefix='lam_faults_') as tmp:
        work = Path(tmp)
        os.environ.update({'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
                           'ROS_LOG_DIR': str(work / 'ros_log'),
                           'RMW_IMPLEMENTATION': 'rmw_fastrtps_cpp'})
        try:
            for row in rows:
                n = row.trials[1 if args.quick else 0]
                rng = np.random.default_rng([args.seed, ROWS.index(row)])  # same with --only
                row_dir = work / row.key
                row_dir.mkdir()
                trials = total_trials(row, n)
                start = time.monotonic()
                with tqdm(total=trials, desc=row.key, unit='trial', leave=False,
                          file=sys.stderr) as progress:
                    try:
                        what, held = row.run(n, rng, row_dir, progress), True
                    except Fault as fault:
                        what, held = str(fault), False
                    except Exception as error:  # an unexpected error: the row did not hold
                        what, held = f'{type(error).__name__}: {one_line(error, 200)}', False
                        traceback.print_exc(file=sys.stderr)
                    finally:
                        cleanup()
                results.append((row.label, trials, held, time.monotonic() - start, what))
        finally:
            cleanup()
    print_table(results)
    held = sum(r[2] for r in results)
    print(f'faults held: {held} of {len(results)}')
    return 0 if held == len(results) else 1


if __name__ == '__main__':
    sys.exit(main())
