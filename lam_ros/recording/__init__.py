# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Episode recording core (rosbag2 MCAP, no rclpy); the recorder node wraps it."""
from lam_ros.recording.recover import recover_partial
from lam_ros.recording.session import RecordingSession, SessionMismatchError
from lam_ros.recording.stats import StreamStats, rate_warnings
from lam_ros.recording.writer import EpisodeWriter, RecordingError, TopicSpec

__all__ = ['EpisodeWriter', 'RecordingError', 'RecordingSession', 'SessionMismatchError',
           'StreamStats', 'TopicSpec', 'rate_warnings', 'recover_partial']
