# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Recorder node: one rosbag2 (MCAP) episode per demonstration.

Subscriptions are raw (serialized CDR bytes): the callback only hands bytes
and the receive time to ``RecordingSession``, whose writer thread does the
disk I/O, so 2 cameras with depth at 30 Hz fit on a 2-core machine.
Services ``/recorder/start``, ``/recorder/stop`` (SetBool: task success) and
``/recorder/discard``; on SIGINT/SIGTERM an episode in progress is saved
marked incomplete.

A write error (disk full) stops only the episode in progress (kept as
``episode_NNNNNN.partial/`` for ``recover_partial``); the node stays up, its
status says why, and ``/recorder/start`` answers success=false ("... no space
left on device ...") while less than ``min_free_mb`` is free. ``~/status``
(1 Hz, String JSON) holds per-topic counters of the episode in progress and,
under ``"recorder"``, ``state`` (idle, recording, failed, no_space),
``session_dir``, ``episode``, ``error`` and ``start_refused``.
"""
from __future__ import annotations

from collections.abc import Callable
import json
import time

from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger

from lam_models.data.episode import EMBODIMENTS
from lam_ros.app.runtime import ConfigError, LamNode, node_main
from lam_ros.control.kinematics import ROBOT_SPECS
from lam_ros.interfaces import topics
from lam_ros.recording.session import RecordingSession
from lam_ros.recording.writer import RecordingError, TopicSpec

MSG_CLASSES = {'sensor_msgs/msg/Image': Image, 'sensor_msgs/msg/CameraInfo': CameraInfo,
               'sensor_msgs/msg/JointState': JointState}


def recorded_topics(mode: str, robot_name: str, cameras: list[str], camera_rate_hz: float,
                    joint_state_rate_hz: float, record_depth: bool) -> list[TopicSpec]:
    """What an episode holds: images (+ depth) always; arm state and commands for robot demos."""
    specs = []
    for camera in cameras:
        names = topics.camera_topics(camera)
        specs += [TopicSpec(names['color'], 'sensor_msgs/msg/Image', camera_rate_hz),
                  TopicSpec(names['color_info'], 'sensor_msgs/msg/CameraInfo', camera_rate_hz)]
        if record_depth:
            specs.append(TopicSpec(names['depth'], 'sensor_msgs/msg/Image', camera_rate_hz))
    if mode == 'robot':
        arm = topics.arm_topics(robot_name)
        specs += [TopicSpec(arm['joint_states'], 'sensor_msgs/msg/JointState',
                            joint_state_rate_hz),
                  TopicSpec(topics.ACTION, 'sensor_msgs/msg/JointState'),
                  TopicSpec(arm['joint_group'], 'interbotix_xs_msgs/msg/JointGroupCommand'),
                  TopicSpec(arm['joint_single'], 'interbotix_xs_msgs/msg/JointSingleCommand')]
    return specs


class RecorderNode(LamNode):
    """Writes episodes of a session; start/stop/discard through services."""

    def __init__(self, node_name: str = 'recorder', **kwargs):
        super().__init__(node_name, **kwargs)
        mode = self.param('mode', 'robot', 'robot (teleop demos) or human (egocentric video)',
                          choices=EMBODIMENTS)
        robot_name = self.param('robot_name', 'wx250s', 'xs_sdk namespace',
                                pattern=topics.NAME_PATTERN)
        robot_model = self.param('robot_model', 'wx250s', 'Interbotix arm model',
                                 choices=sorted(ROBOT_SPECS))
        cameras = self.param('cameras', ['camera'], 'camera names (realsense namespaces)',
                             min_length=1, pattern=topics.NAME_PATTERN)
        output_dir = self.param('output_dir', '~/lam_data', 'root of recording sessions')
        session = self.param('session', '', "session name; '' = new, named by date+mode")
        self.operator = self.param('operator', '', 'who demonstrates')
        camera_rate = self.param('camera_rate_hz', 30.0, 'configured camera rate', above=0.0)
        joint_rate = self.param('joint_state_rate_hz', 100.0, 'configured joint state rate',
                                above=0.0)
        record_depth = self.param('record_depth', False, 'also record aligned depth')
        min_free_mb = self.param('min_free_mb', 256.0, 'refuse to start an episode below this',
                                 low=0.0)
        self.camera_silent_s = self.param(
            'camera_silent_s', 2.0, 'refuse to start an episode while the policy camera has '
            'sent nothing for this long (0: never refuse)', low=0.0, high=60.0)
        self.policy_camera_topic = topics.camera_topics(cameras[0])['color']
        self._policy_frame_at: float | None = None   # time.monotonic() of its last frame

        specs = recorded_topics(mode, robot_name, cameras, camera_rate, joint_rate, record_depth)
        session = session or time.strftime(f'%Y%m%d_%H%M%S_{mode}')
        try:
            self.session = RecordingSession(output_dir, session, robot_model, embodiment=mode,
                                            topics=specs, operator=self.operator, resume=True,
                                            min_free_bytes=int(min_free_mb * 2**20),
                                            on_failure=self._on_episode_failed,
                                            policy_camera_topic=self.policy_camera_topic)
        except RecordingError as error:
            raise ConfigError(str(error)) from None
        for partial in self.session.incomplete:
            self.get_logger().warning(f'{partial} was never saved (recorder killed); skipped')
        self.task = {'task': '', 'instruction': ''}

        for spec in specs:
            msg_class = MSG_CLASSES.get(spec.msgtype) or _xs_msg_class(spec.msgtype)
            self.create_subscription(msg_class, spec.topic, self._writer_for(spec.topic),
                                     QoSProfile(depth=100), raw=True)
        self.create_subscription(String, topics.TASK, self.on_task, topics.LATCHED)
        self.create_service(Trigger, topics.RECORDER_START, self.on_start)
        self.create_service(SetBool, topics.RECORDER_STOP, self.on_stop)
        self.create_service(Trigger, topics.RECORDER_DISCARD, self.on_discard)
        self.create_timer(1.0, self.on_status_timer)
        self.get_logger().info(f'session {self.session.session_dir}: next episode '
                               f'{self.session.next_index}, {len(specs)} topics')

    def _writer_for(self, topic: str):
        write = self.session.write

        def on_message(data: bytes) -> None:
            write(topic, time.time_ns(), data)

        def on_policy_frame(data: bytes) -> None:
            self._policy_frame_at = time.monotonic()
            write(topic, time.time_ns(), data)
        return on_policy_frame if topic == self.policy_camera_topic else on_message

    def on_task(self, msg: String) -> None:
        """Latest task description, stored in the next episode's metadata."""
        try:
            self.task = {'task': '', 'instruction': '', **json.loads(msg.data)}
        except (json.JSONDecodeError, TypeError):
            self.get_logger().error(f'{topics.TASK}: not a JSON object: {msg.data[:80]!r}')

    def _on_episode_failed(self, message: str) -> None:
        """A write error stopped the episode: say so now, not at the next status tick."""
        self.get_logger().error(message)
        self.publish_status()

    def on_start(self, request, response):
        """Open the next episode, unless the policy camera is silent.

        A camera that never started or a wrong serial: an episode without images is lost.
        """
        def start() -> str:
            last = self._policy_frame_at
            if self.camera_silent_s and (last is None
                                         or time.monotonic() - last > self.camera_silent_s):
                silent = 'has sent nothing' if last is None else \
                    f'has been silent for {time.monotonic() - last:.1f} s'
                raise RecordingError(f'policy camera {self.policy_camera_topic} {silent}: '
                                     'no episode without images (camera_silent_s)')
            return str(self.session.start_episode(self.task['task'],
                                                  self.task['instruction']).bag_dir)
        return self._answer(response, 'start', start)

    def on_stop(self, request, response):
        """Save the episode in progress; ``data`` is the task success flag."""
        def stop() -> str:
            episode = self.session.episode
            warnings = episode.rate_warnings() if episode else []
            saved = self.session.stop_episode(success=bool(request.data))
            for warning in warnings:
                self.get_logger().warning(warning)
            return str(saved)
        return self._answer(response, 'stop', stop)

    def on_discard(self, request, response):
        """Throw the episode in progress away (re-record it)."""
        def discard() -> str:
            self.session.discard_episode()
            return 'discarded'
        return self._answer(response, 'discard', discard)

    def _answer(self, response, request_name: str, action: Callable[[], str]):
        """One shape for every service: success + ``action()``'s message, or its error."""
        try:
            response.message, response.success = action(), True
        except RecordingError as error:
            self.report(f'{request_name} refused: {error}', 'error')
            response.success, response.message = False, str(error)
        return response

    def on_status_timer(self) -> None:
        """Notice a writer failure even when no message follows it, then publish status."""
        self.session.check_episode()  # calls _on_episode_failed, which publishes
        self.publish_status()

    def publish_status(self) -> None:
        """Per-stream counters of the episode in progress, recorder state, rate warnings."""
        session = self.session
        episode = session.episode
        status = {topic: stats.as_dict() for topic, stats in episode.streams.items()} \
            if episode is not None else {}
        refused = session.free_space_error()
        state = ('recording' if episode is not None else 'failed' if session.failure
                 else 'no_space' if refused else 'idle')
        status['recorder'] = {
            'state': state, 'session_dir': str(session.session_dir),
            'episode': str(episode.bag_dir.parent) if episode is not None else None,
            'error': session.failure, 'start_refused': refused}
        message = {'recording': f'recording {status["recorder"]["episode"]}',
                   'failed': session.failure, 'no_space': refused}.get(state, state)
        level = {'failed': 'error', 'no_space': 'warn'}.get(state, 'ok')
        self.report(message, level, log=level != 'ok', throttle_s=5.0, **status)
        for warning in episode.rate_warnings() if episode is not None else ():
            self.get_logger().warning(warning, throttle_duration_sec=5.0)

    def on_shutdown(self) -> None:
        """Keep what was recorded: the episode in progress is saved as incomplete."""
        try:
            saved = self.session.finalize_incomplete()
        except RecordingError as error:  # e.g. disk full: the episode stays .partial
            self.get_logger().error(f'shutdown mid-episode: {error}')
        else:
            if saved is not None:
                self.get_logger().warning(f'shutdown mid-episode: saved {saved} as incomplete')
        finally:
            self.session.close()


def _xs_msg_class(msgtype: str):
    from interbotix_xs_msgs import msg
    return getattr(msg, msgtype.rsplit('/', 1)[-1])


NODE_CLASS = RecorderNode


def main(args=None) -> int:
    """Run the recorder alone: ``ros2 run lam_ros recorder``."""
    return node_main(RecorderNode, args)
