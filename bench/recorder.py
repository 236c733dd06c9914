# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The recorder node under a real collection load, every node in its own process over Fast DDS.

Publishers: one process per camera ('cam_high', 'cam_wrist': 640x480 rgb8 + aligned
16UC1 depth + camera_info at 30 Hz on realsense2_camera topic names) and one for
``/wx250s/joint_states`` at 100 Hz. Header stamps are the publishers' schedule
(t0 + i * period), so every message has a sequence number the bag can be checked
against. The recorder is ``lam-ros run recorder`` in robot mode (needs the
interbotix_xs_msgs built by ``tools/build_interfaces.py``; without them a plain
raw-subscriber node in this file drives a RecordingSession instead, and says so).

Prints, per stream: rate in the bag vs configured, drops (sequence numbers missing
from the bag, and the recorder's own writer-queue overflows), then MB/s written next
to a raw sequential write + fsync of the same size in the same folder, measured now.

    PYTHONPATH=. .venv/bin/python bench/recorder.py [--seconds 60] [--dir /data/tmp]
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import tempfile
import time

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from lam_ros.interfaces import topics  # noqa: E402
from lam_ros.interfaces.xs_interfaces import DEFAULT_PREFIX, xs_msgs_env  # noqa: E402

CAMERAS = ('cam_high', 'cam_wrist')
ROBOT = 'wx250s'
CAMERA_HZ, JOINT_HZ = 30.0, 100.0
SESSION = 'bench'
MB = 1e6


# -- publisher processes -------------------------------------------------------------------

def camera_messages(camera: str) -> dict:
    """One 640x480 color + aligned depth frame of ``camera``, as realsense2_camera sends it."""
    from lam_ros.hardware.camera_source import CameraFrame, CameraIntrinsics
    from lam_ros.interfaces.camera_msgs import frame_messages

    rng = np.random.default_rng(len(camera))
    intrinsics = CameraIntrinsics.pinhole(640, 480, 615.0, 615.0, 320.0, 240.0,
                                          f'{camera}_color_optical_frame')
    frame = CameraFrame(rng.integers(0, 256, (480, 640, 3), np.uint8),
                        rng.integers(0, 4000, (480, 640), np.uint16), time.time(),
                        'system_time', time.time(), 0, intrinsics, intrinsics)
    names = topics.camera_topics(camera)
    return {names[key]: msg for key, msg in frame_messages(frame).items()}


def joint_messages() -> dict:
    """``/wx250s/joint_states`` as xs_sdk sends it (arm joints + gripper fingers)."""
    from sensor_msgs.msg import JointState

    from lam_ros.recording.synthetic import ARM_JOINTS

    names = [*ARM_JOINTS, 'gripper', 'left_finger', 'right_finger']
    msg = JointState(name=names, position=[0.1] * len(names), velocity=[0.0] * len(names),
                     effort=[0.0] * len(names))
    return {topics.arm_topics(ROBOT)['joint_states']: msg}


def publish(stream: str, seconds: float) -> None:
    """Publish ``stream`` ('joints' or a camera name) on schedule; print a JSON summary."""
    import rclpy
    from rclpy.qos import QoSProfile

    rclpy.init()
    node = rclpy.create_node(f'bench_{stream}')
    messages = joint_messages() if stream == 'joints' else camera_messages(stream)
    rate_hz = JOINT_HZ if stream == 'joints' else CAMERA_HZ
    publishers = {topic: node.create_publisher(type(msg), topic, QoSProfile(depth=10))
                  for topic, msg in messages.items()}
    recorded = [p for t, p in publishers.items() if 'depth_to_color/camera_info' not in t]
    deadline = time.monotonic() + 30
    while not all(p.get_subscription_count() for p in recorded):
        if time.monotonic() > deadline:
            sys.exit(f'bench publisher {stream}: recorder never subscribed')
        time.sleep(0.05)

    period_ns = round(1e9 / rate_hz)
    count = int(seconds * rate_hz)
    print('ready', flush=True)
    t0_ns = int(sys.stdin.readline())  # the same start for every stream, set by the bench
    late_ns = []
    for i in range(count):
        due_ns = t0_ns + i * period_ns
        wait_ns = due_ns - time.time_ns()
        if wait_ns > 0:
            time.sleep(wait_ns * 1e-9)
        late_ns.append(time.time_ns() - due_ns)
        for topic, msg in messages.items():
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(due_ns, 1_000_000_000)
            publishers[topic].publish(msg)
    time.sleep(0.5)  # reliable QoS: let the last messages be acknowledged before leaving
    summary = {topic: {'published': count, 't0_ns': t0_ns, 'period_ns': period_ns,
                       'rate_hz': rate_hz, 'late_ms_p99': float(np.percentile(late_ns, 99)) / 1e6}
               for topic in messages}
    print(json.dumps(summary), flush=True)
    node.destroy_node()
    rclpy.shutdown()


# -- fallback recorder (no interbotix_xs_msgs) ---------------------------------------------

def plain_recorder(output_dir: str) -> None:
    """Raw subscriptions -> RecordingSession, one episode from start-up to SIGINT."""
    import rclpy
    from rclpy.qos import QoSProfile
    from rclpy.signals import SignalHandlerOptions

    from lam_ros.nodes.recorder_node import MSG_CLASSES, recorded_topics
    from lam_ros.recording import RecordingSession

    specs = [s for s in recorded_topics('robot', ROBOT, list(CAMERAS), CAMERA_HZ, JOINT_HZ, True)
             if s.msgtype in MSG_CLASSES]
    session = RecordingSession(output_dir, SESSION, ROBOT, topics=specs)
    session.start_episode()
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node('plain_recorder')

    def writer(topic: str) -> Callable[[bytes], None]:
        return lambda data: session.write(topic, time.time_ns(), data)

    for spec in specs:
        node.create_subscription(MSG_CLASSES[spec.msgtype], spec.topic, writer(spec.topic),
                                 QoSProfile(depth=100), raw=True)
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    print('ready', flush=True)
    while not stop:
        rclpy.spin_once(node, timeout_sec=0.05)
    stats = {s.topic: s.as_dict() for s in session.stats()}
    print(json.dumps({'bag': str(session.stop_episode(success=True)), 'stats': stats}),
          flush=True)


# -- Fast DDS configurations compared -------------------------------------------------------

# Default Fast DDS loses small messages published between big ones (camera_info between
# color and depth): a writer's shared-memory segment (512 KiB by default) is smaller than
# one 640x480 frame, so the small sample's buffer is recycled before the reader took it,
# and the reliable repair waits for a heartbeat (every 3 s) by which time the keep-last
# history (depth 10) has let it go. A segment that holds several frames removes the
# loss; a 50 ms heartbeat repairs whatever a transport still drops within the history.
TUNED_FASTDDS_PROFILE = (Path(__file__).resolve().parent.parent / 'config' / 'fastdds.xml'
                         ).read_text()


# -- the run -------------------------------------------------------------------------------

def recorded_rates() -> dict[str, float]:
    """Topic -> configured rate of what the recorder records here (robot mode, depth on)."""
    from lam_ros.nodes.recorder_node import recorded_topics

    specs = recorded_topics('robot', ROBOT, list(CAMERAS), CAMERA_HZ, JOINT_HZ, True)
    return {s.topic: s.rate_hz for s in specs if s.rate_hz}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far."""
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def xs_msgs_available(env: dict[str, str]) -> bool:
    """Whether interbotix_xs_msgs imports under ``env`` (built by tools/build_interfaces.py)."""
    check = subprocess.run([sys.executable, '-c', 'import interbotix_xs_msgs.msg'], env=env,
                           capture_output=True)
    return check.returncode == 0


class RecorderClient:
    """Start/stop the recorder node through its services; its status topic gives its counters.

    A fresh rclpy context (DDS participant) per run: one that knew the previous run's
    recorder would still route service requests to it until its lease expires.
    """

    def __init__(self) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from std_msgs.msg import String
        from std_srvs.srv import SetBool, Trigger

        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node('bench_operator', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.start_client = self.node.create_client(Trigger, topics.RECORDER_START)
        self.stop_client = self.node.create_client(SetBool, topics.RECORDER_STOP)
        self.status: dict = {}
        self.node.create_subscription(
            String, '/recorder/status', lambda msg: setattr(self, 'status', json.loads(msg.data)),
            10)

    def spin_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Spin until ``predicate()`` holds or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        while not predicate() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
        return predicate()

    def call(self, client, request) -> str:
        """Call a recorder service; exit naming it if it is missing or refuses."""
        if not self.spin_until(client.service_is_ready, 30):
            sys.exit(f'bench: {client.srv_name} never appeared')
        future = client.call_async(request)
        if not self.spin_until(future.done, 10) or not future.result().success:
            sys.exit(f'bench: {client.srv_name} failed: {future.result()}')
        return future.result().message

    def start(self) -> None:
        """Open an episode."""
        from std_srvs.srv import Trigger

        self.call(self.start_client, Trigger.Request())

    def stop(self, published: dict[str, int]) -> tuple[Path, dict]:
        """Wait until the recorder counted everything published (or 5 s), then save."""
        from std_srvs.srv import SetBool

        self.spin_until(lambda: all(self.status.get(t, {}).get('count') == n
                                    for t, n in published.items()), 5)
        stats = self.status
        return Path(self.call(self.stop_client, SetBool.Request(data=True))), stats

    def close(self) -> None:
        """Leave the DDS graph."""
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def start_recorder(output_dir: Path, env: dict[str, str], robot_mode: bool) -> subprocess.Popen:
    """The recorder node (robot mode), or this file's plain recorder without xs msgs."""
    if robot_mode:
        command = [sys.executable, '-m', 'lam_ros.app.cli', 'run', 'recorder', '--ros-args',
                   '-p', f'output_dir:={output_dir}', '-p', f'session:={SESSION}',
                   '-p', 'mode:=robot', '-p', f'robot_name:={ROBOT}',
                   '-p', f'cameras:=[{",".join(CAMERAS)}]', '-p', 'record_depth:=true',
                   '-p', 'camera_silent_s:=0.0']   # the episode starts before the publishers
        return subprocess.Popen(command, cwd=REPO, env=env)
    recorder = subprocess.Popen([sys.executable, __file__, '--plain-recorder', str(output_dir)],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    assert recorder.stdout is not None and recorder.stdout.readline().strip() == 'ready'
    return recorder


def run_publishers(seconds: float, env: dict[str, str], recorder_pid: int, label: str,
                   on_go: Callable[[], None]) -> tuple[dict, dict]:
    """Run the publisher processes to the end; their summaries, and CPU % while publishing.

    ``on_go`` runs once every publisher sees the recorder, before they all start together.
    """
    procs = {s: subprocess.Popen([sys.executable, __file__, '--publish', s, '--seconds',
                                  str(seconds)], cwd=REPO, env=env, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True) for s in [*CAMERAS, 'joints']}
    for stream, proc in procs.items():
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != 'ready':
            sys.exit(f'bench: publisher {stream} failed ({proc.wait()})')
    on_go()
    t0_ns = time.time_ns() + 300_000_000
    for proc in procs.values():
        assert proc.stdin is not None
        proc.stdin.write(f'{t0_ns}\n')
        proc.stdin.close()
    pids = {'recorder': recorder_pid, **{s: p.pid for s, p in procs.items()}}
    cpu0, start = {k: cpu_seconds(pid) for k, pid in pids.items()}, time.monotonic()
    for _ in tqdm(range(round(seconds)), desc=f'publishing ({label})', unit='s', leave=False):
        time.sleep(max(0.0, start + _ + 1 - time.monotonic()))
    cpu = {k: 100 * (cpu_seconds(pid) - cpu0[k]) / (time.monotonic() - start)
           for k, pid in pids.items()}
    summaries = {}
    for stream, proc in procs.items():
        out = proc.stdout.read() if proc.stdout else ''
        proc.wait(60)
        if proc.returncode != 0:
            sys.exit(f'bench: publisher {stream} failed ({proc.returncode})')
        summaries.update(json.loads(out.strip().splitlines()[-1]))
    return summaries, cpu


def read_back(bag_dir: Path, published: dict) -> dict:
    """Per topic: messages in the bag, publisher sequence numbers missing, rate in the bag."""
    from lam_models.data.bags import read_episode_metadata, read_topic_stamps

    if not read_episode_metadata(bag_dir).complete:
        sys.exit(f'bench: {bag_dir} was saved with complete=false')
    stamps = read_topic_stamps(bag_dir, list(published))
    seen, receive = {}, {}
    for topic, info in published.items():
        seen[topic] = np.round((stamps[topic].header_ns - info['t0_ns'])
                               / info['period_ns']).astype(int).tolist()
        receive[topic] = stamps[topic].receive_ns
    report = {}
    for topic, info in published.items():
        times = np.sort(np.asarray(receive[topic]))
        span_s = (times[-1] - times[0]) * 1e-9 if len(times) > 1 else 0.0
        missing = sorted(set(range(info['published'])) - set(seen[topic]))
        report[topic] = {'in_bag': len(seen[topic]), 'missing': len(missing),
                         'missing_s': (f'{missing[0] * info["period_ns"] * 1e-9:.1f}-'
                                       f'{missing[-1] * info["period_ns"] * 1e-9:.1f}'
                                       if missing else '-'),
                         'bag_hz': (len(times) - 1) / span_s if span_s else 0.0}
    return report


def raw_write_seconds(path: Path, size: int) -> float:
    """Time to write ``size`` bytes sequentially and fsync them (the disk's own speed)."""
    chunk = np.random.default_rng(0).integers(0, 256, 8 << 20, np.uint8).tobytes()
    start = time.perf_counter()
    with path.open('wb') as f:
        for offset in range(0, size, len(chunk)):
            f.write(chunk[:size - offset])
        f.flush()
        os.fsync(f.fileno())
    seconds = time.perf_counter() - start
    path.unlink()
    return seconds


def record_once(label: str, seconds: float, out: Path, env: dict[str, str],
                robot_mode: bool) -> None:
    """One recording under load, then its report and a raw disk write of the same size."""
    os.environ.update(env)  # this process's operator node joins the same domain
    os.sync()  # an earlier run's dirty pages must not stall this one's writer
    recorder = start_recorder(out, env, robot_mode)
    client = RecorderClient() if robot_mode else None
    try:
        published, cpu = run_publishers(seconds, env, recorder.pid, label,
                                        client.start if client else lambda: None)
        rates = recorded_rates()
        published = {t: info for t, info in published.items() if t in rates}
        counts = {t: info['published'] for t, info in published.items()}
        if client:
            bag_dir, stats = client.stop(counts)
            recorder.send_signal(signal.SIGINT)
            recorder.wait(30)
        else:
            time.sleep(2.0)  # let the last messages reach the writer
            recorder.send_signal(signal.SIGINT)
            result = json.loads(recorder.communicate(timeout=60)[0].strip().splitlines()[-1])
            bag_dir, stats = Path(result['bag']), result['stats']
    finally:
        if client:
            client.close()
        if recorder.poll() is None:
            recorder.kill()
    report = read_back(bag_dir, published)
    bag_bytes = sum(f.stat().st_size for f in bag_dir.rglob('*') if f.is_file())
    raw_s = raw_write_seconds(out / 'raw_write_test.bin', bag_bytes)

    print(f'\n== {label}')
    print(f'{"topic":52s} {"pub":>5s} {"bag":>5s} {"Hz bag/cfg":>12s} {"missing":>7s} '
          f'{"overflow":>8s} {"missing at s":>12s} {"pub late p99":>12s}')
    missing = sum(row['missing'] for row in report.values())
    overflow = sum(stats.get(t, {}).get('overflow_drops', 0) for t in published)
    for topic, info in published.items():
        row = report[topic]
        print(f'{topic:52s} {info["published"]:5d} {row["in_bag"]:5d} '
              f'{row["bag_hz"]:6.2f}/{rates[topic]:<5g} {row["missing"]:7d} '
              f'{stats.get(topic, {}).get("overflow_drops", 0):8d} {row["missing_s"]:>12s} '
              f'{info["late_ms_p99"]:9.1f} ms')
    total = sum(counts.values())
    print(f'dropped: {missing} of {total} messages missing from the bag '
          f'({100 * missing / total:.2f}%), {overflow} writer-queue overflows')
    write_mbps, raw_mbps = bag_bytes / MB / seconds, bag_bytes / MB / raw_s
    print(f'written: bag {bag_bytes / MB:.0f} MB / {seconds:g} s = {write_mbps:.1f} MB/s; raw '
          f'sequential write + fsync of {bag_bytes / MB:.0f} MB in the same folder: '
          f'{raw_mbps:.0f} MB/s; recording uses {write_mbps / raw_mbps:.2f} of it '
          f'({raw_mbps / write_mbps:.1f} x headroom)')
    print('CPU while publishing (% of one core): '
          + ', '.join(f'{k} {v:.0f}%' for k, v in cpu.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=60.0, help='publishing time per run')
    parser.add_argument('--dir', default=None, help='where bags go (default: a temp dir)')
    parser.add_argument('--fastdds', choices=['default', 'tuned', 'both'], default='both',
                        help='Fast DDS configuration(s) to run (see TUNED_FASTDDS_PROFILE)')
    parser.add_argument('--recorder', choices=['node', 'plain'], default='node',
                        help="'plain': this file's raw-subscriber recorder, not the node")
    parser.add_argument('--publish', help=argparse.SUPPRESS)
    parser.add_argument('--plain-recorder', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        return publish(args.publish, args.seconds)
    if args.plain_recorder:
        return plain_recorder(args.plain_recorder)

    base_env = {**os.environ, 'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
                'PYTHONUNBUFFERED': '1', 'RMW_IMPLEMENTATION': 'rmw_fastrtps_cpp',
                'PYTHONPATH': os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')])}
    base_env.pop('FASTDDS_DEFAULT_PROFILES_FILE', None)
    base_env.pop('FASTRTPS_DEFAULT_PROFILES_FILE', None)
    xs_env = {**base_env, **xs_msgs_env(DEFAULT_PREFIX, base_env)}
    robot_mode = args.recorder == 'node' and xs_msgs_available(xs_env)
    if robot_mode:
        base_env = xs_env
        which = 'RecorderNode (lam-ros run recorder, mode robot)'
    elif args.recorder == 'node':
        which = ('FALLBACK: plain raw-subscriber node + RecordingSession in this script '
                 '(interbotix_xs_msgs not built; run tools/build_interfaces.py)')
    else:
        which = 'plain raw-subscriber node + RecordingSession in this script (--recorder plain)'
    print(f'recorder: {which}; {os.cpu_count()} CPUs; {len(CAMERAS)} cameras 640x480 rgb8 + '
          f'16UC1 depth + camera_info @ {CAMERA_HZ:g} Hz, joint_states @ {JOINT_HZ:g} Hz; '
          f'{args.seconds:g} s per run; rmw_fastrtps_cpp')
    configs = ['default', 'tuned'] if args.fastdds == 'both' else [args.fastdds]
    with tempfile.TemporaryDirectory(dir=args.dir, prefix='bench_recorder_') as tmp:
        for run, config in enumerate(configs):
            out = Path(tmp) / config
            out.mkdir()
            env = {**base_env, 'ROS_DOMAIN_ID': str(150 + (os.getpid() + run) % 80)}
            label = 'Fast DDS defaults'
            if config == 'tuned':
                profile = out / 'fastdds_recording.xml'
                profile.write_text(TUNED_FASTDDS_PROFILE)
                env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(profile)
                label = 'Fast DDS tuned (32 MiB SHM segment, 50 ms heartbeat)'
            record_once(label, args.seconds, out, env, robot_mode)
            os.environ.pop('FASTDDS_DEFAULT_PROFILES_FILE', None)


if __name__ == '__main__':
    main()
