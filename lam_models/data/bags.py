# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The one reader of recorded episodes (rosbag2 MCAP, via rosbags; no rclpy).

On-disk format, shared with the writer in ``lam_ros.recording``:

    <session_dir>/session.yaml             session manifest
    <session_dir>/episode_000000/          one rosbag2 directory per episode
        metadata.yaml                      custom_data['lam_episode'] = JSON EpisodeMetadata
        episode_000000.mcap
    <session_dir>/episode_000003.partial/  an episode still being written, or cut off by a
        episode_000003/                    SIGKILL: the bag (MCAP without summary, no
        lam_episode.json                   metadata.yaml) and its metadata as of the start

Episode metadata lives in the bag's ``metadata.yaml`` ``custom_data`` (rosbag2 >= 6
format) so ``ros2 bag info`` shows it and no extra topic is needed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
import json
import logging
from pathlib import Path
import re
from typing import Any

import numpy as np
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore
import yaml

from lam_models.data.episode import Episode
from lam_models.data.images import image_to_rgb

log = logging.getLogger(__name__)

EPISODE_METADATA_KEY = 'lam_episode'
PARTIAL_METADATA_FILE = 'lam_episode.json'
SESSION_MANIFEST = 'session.yaml'
EPISODE_DIR_PATTERN = re.compile(r'^episode_(\d{6})$')
PARTIAL_DIR_PATTERN = re.compile(r'^episode_(\d{6})\.partial$')

DEFAULT_CAMERA_TOPIC = '/camera/camera/color/image_raw'
DEFAULT_ACTION_TOPIC = '/lam/action'
IMAGE_TYPE = 'sensor_msgs/msg/Image'
JOINT_STATE_TYPE = 'sensor_msgs/msg/JointState'

# interbotix_xs_msgs used by the arm driver; not in rosbags' stock typestores.
INTERBOTIX_MSG_DEFINITIONS = {
    'interbotix_xs_msgs/msg/JointGroupCommand': 'string name\nfloat32[] cmd\n',
    'interbotix_xs_msgs/msg/JointSingleCommand': 'string name\nfloat32 cmd\n',
}


class BagFormatError(ValueError):
    """A bag or session directory does not hold what lam expects; the message names where."""


def make_typestore() -> Typestore:
    """Return the ROS 2 kilted typestore plus the interbotix_xs_msgs command types."""
    typestore = get_typestore(Stores.ROS2_KILTED)
    for msgtype, text in INTERBOTIX_MSG_DEFINITIONS.items():
        typestore.register(get_types_from_msg(text, msgtype))
    return typestore


def episode_dir_name(index: int) -> str:
    """Return the directory name of episode ``index`` (``episode_000042``)."""
    return f'episode_{index:06d}'


@dataclass
class EpisodeMetadata:
    """What an episode was, stored as JSON in the bag's custom_data."""

    session: str = ''
    episode_index: int = -1
    task: str = ''
    instruction: str = ''
    operator: str = ''
    embodiment: str = 'robot'
    robot_model: str = ''
    rates_hz: dict[str, float] = field(default_factory=dict)   # configured rate per topic
    software_version: str = ''
    success: bool | None = None
    start_time_ns: int = 0
    stop_time_ns: int = 0
    complete: bool = False
    notes: str = ''

    def to_json(self) -> str:
        """Serialize for custom_data / the partial-episode side file."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str) -> EpisodeMetadata:
        """Parse JSON written by ``to_json``; ``source`` names the file in errors."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BagFormatError(f'{source}: {EPISODE_METADATA_KEY} is not JSON: {exc}') from None
        if not isinstance(raw, dict):
            raise BagFormatError(f'{source}: {EPISODE_METADATA_KEY} is not a JSON object')
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            log.warning('%s: ignoring unknown episode metadata field(s) %s', source, unknown)
        return cls(**{k: v for k, v in raw.items() if k in known})


def _load_bag_info(bag_dir: Path) -> dict[str, Any]:
    path = bag_dir / 'metadata.yaml'
    if not path.is_file():
        raise BagFormatError(f'{path} does not exist (not a finished rosbag2 directory)')
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise BagFormatError(f'{path} is unreadable: {exc}') from None
    info = loaded.get('rosbag2_bagfile_information') if isinstance(loaded, dict) else None
    if not isinstance(info, dict):
        raise BagFormatError(f'{path} has no rosbag2_bagfile_information mapping')
    return info


def read_episode_metadata(bag_dir: str | Path) -> EpisodeMetadata:
    """Return the EpisodeMetadata of a finished bag (from metadata.yaml custom_data)."""
    bag_dir = Path(bag_dir)
    info = _load_bag_info(bag_dir)
    custom = info.get('custom_data') or {}
    if EPISODE_METADATA_KEY not in custom:
        raise BagFormatError(
            f'{bag_dir / "metadata.yaml"}: custom_data has no {EPISODE_METADATA_KEY!r} entry '
            '(not recorded by lam_ros)')
    return EpisodeMetadata.from_json(custom[EPISODE_METADATA_KEY], str(bag_dir / 'metadata.yaml'))


def _stamp_ns(msg: Any, receive_ns: int) -> int:
    """Header stamp in ns; the receive time when the publisher left the stamp at zero.

    Alignment works on integer ns: float64 seconds since 1970 only resolve ~0.2 us.
    """
    stamp = msg.header.stamp
    if stamp.sec == 0 and stamp.nanosec == 0:
        return receive_ns
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def _ns_to_seconds(stamps_ns: np.ndarray) -> np.ndarray:
    return (stamps_ns // 1_000_000_000) + (stamps_ns % 1_000_000_000) * 1e-9


def _read_joint_states(reader: Reader, typestore: Typestore, topic: str,
                       bag_dir: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return (stamps (N,) int64 ns, positions (N, J) float32, joint names) of a JointState."""
    connections = [c for c in reader.connections if c.topic == topic]
    stamps, rows, names = [], [], None
    for connection, receive_ns, raw in reader.messages(connections=connections):
        msg = typestore.deserialize_cdr(raw, connection.msgtype)
        if names is None:
            names = list(msg.name)
        elif list(msg.name) != names:
            raise BagFormatError(
                f'{bag_dir}: {topic} field name changed from {names} to {list(msg.name)}')
        if len(msg.position) != len(names):
            raise BagFormatError(
                f'{bag_dir}: {topic} has {len(msg.position)} positions for {len(names)} names')
        stamps.append(_stamp_ns(msg, receive_ns))
        rows.append(np.asarray(msg.position, dtype=np.float32))
    if not rows:
        raise BagFormatError(f'{bag_dir}: topic {topic} has no messages')
    stamps_ns = np.asarray(stamps, dtype=np.int64)
    order = np.argsort(stamps_ns, kind='stable')
    return stamps_ns[order], np.stack(rows)[order], names or []


def _previous_sample(sample_times: np.ndarray, values: np.ndarray,
                     query_times: np.ndarray) -> np.ndarray:
    """Value of the latest sample at or before each query time (the first one before it)."""
    index = np.searchsorted(sample_times, query_times, side='right') - 1
    return values[np.clip(index, 0, len(values) - 1)]


def _next_sample(sample_times: np.ndarray, values: np.ndarray,
                 query_times: np.ndarray) -> np.ndarray:
    """Value of the first sample at or after each query time (the last one after it).

    An action belongs to the frame it was decided on: the command issued right
    after the frame arrived, as in an observe-then-act control loop.
    """
    index = np.searchsorted(sample_times, query_times, side='left')
    return values[np.clip(index, 0, len(values) - 1)]


def _check_topic(reader: Reader, topic: str, msgtype: str, bag_dir: Path) -> bool:
    """True if ``topic`` is in the bag with ``msgtype``; raise if it has another type."""
    found = {c.msgtype for c in reader.connections if c.topic == topic}
    if not found:
        return False
    if found != {msgtype}:
        raise BagFormatError(f'{bag_dir}: topic {topic} has type {sorted(found)}, '
                             f'expected {msgtype}')
    return True


def _pick_joint_state_topic(reader: Reader, exclude: str, bag_dir: Path) -> str | None:
    candidates = sorted({c.topic for c in reader.connections
                         if c.msgtype == JOINT_STATE_TYPE and c.topic != exclude
                         and c.topic.endswith('joint_states')})
    if len(candidates) > 1:
        raise BagFormatError(f'{bag_dir}: several joint state topics {candidates}; '
                             'pass joint_state_topic=')
    return candidates[0] if candidates else None


def read_episode(bag_dir: str | Path, camera_topic: str = DEFAULT_CAMERA_TOPIC,
                 action_topic: str | None = DEFAULT_ACTION_TOPIC,
                 joint_state_topic: str | None = None,
                 typestore: Typestore | None = None) -> Episode:
    """Load one episode bag as an Episode aligned on the camera frames.

    Frame times are the camera header stamps. ``actions[t]`` is the first
    command at or after frame t (the one decided on it); joint positions are
    the latest state at or before it. ``joint_state_topic=None`` picks the one
    ``*joint_states`` JointState topic if there is one. A robot episode must
    have ``action_topic``; a human one may lack it (actions stay None).
    """
    bag_dir = Path(bag_dir)
    meta = read_episode_metadata(bag_dir)
    typestore = typestore or make_typestore()
    try:
        reader = Reader(bag_dir)
        reader.open()
    except Exception as exc:  # rosbags raises several types for broken bags
        raise BagFormatError(f'{bag_dir}: cannot open bag: {exc}') from exc
    try:
        topics = sorted({c.topic for c in reader.connections})
        if not _check_topic(reader, camera_topic, IMAGE_TYPE, bag_dir):
            raise BagFormatError(f'{bag_dir}: camera topic {camera_topic} not in bag '
                                 f'(topics: {topics})')
        frames, times = [], []
        connections = [c for c in reader.connections if c.topic == camera_topic]
        for connection, receive_ns, raw in reader.messages(connections=connections):
            msg = typestore.deserialize_cdr(raw, connection.msgtype)
            try:
                frames.append(image_to_rgb(msg))
            except ValueError as exc:
                raise BagFormatError(f'{bag_dir}: topic {camera_topic} field encoding: '
                                     f'{exc}') from None
            times.append(_stamp_ns(msg, receive_ns))
        if not frames:
            raise BagFormatError(f'{bag_dir}: camera topic {camera_topic} has no messages')
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:
            raise BagFormatError(f'{bag_dir}: {camera_topic} frame size changes: {shapes}')
        frame_ns = np.asarray(times, dtype=np.int64)
        order = np.argsort(frame_ns, kind='stable')
        frame_ns = frame_ns[order]
        metadata: dict[str, Any] = {**asdict(meta), 'bag_dir': str(bag_dir),
                                    'camera_topic': camera_topic, 'topics': topics}

        actions = None
        if action_topic and _check_topic(reader, action_topic, JOINT_STATE_TYPE, bag_dir):
            stamps, values, names = _read_joint_states(reader, typestore, action_topic, bag_dir)
            actions = _next_sample(stamps, values, frame_ns)
            metadata.update(action_topic=action_topic, action_names=names)
        elif action_topic and meta.embodiment == 'robot':
            raise BagFormatError(f'{bag_dir}: robot episode has no action topic {action_topic} '
                                 f'(topics: {topics})')

        joint_positions = None
        if joint_state_topic is None:
            joint_state_topic = _pick_joint_state_topic(reader, action_topic or '', bag_dir)
        elif not _check_topic(reader, joint_state_topic, JOINT_STATE_TYPE, bag_dir):
            raise BagFormatError(f'{bag_dir}: joint state topic {joint_state_topic} not in bag '
                                 f'(topics: {topics})')
        if joint_state_topic:
            stamps, values, names = _read_joint_states(reader, typestore, joint_state_topic,
                                                       bag_dir)
            joint_positions = _previous_sample(stamps, values, frame_ns)
            metadata.update(joint_state_topic=joint_state_topic, joint_names=names)
    finally:
        reader.close()

    return Episode(
        frames=np.stack(frames)[order], timestamps=_ns_to_seconds(frame_ns),
        embodiment='human' if meta.embodiment == 'human' else 'robot',
        actions=actions, joint_positions=joint_positions, task=meta.task,
        instruction=meta.instruction, success=meta.success, metadata=metadata)


@dataclass
class TopicStamps:
    """When each message of one topic was received and what its header says (ns)."""

    receive_ns: np.ndarray
    header_ns: np.ndarray | None   # None for headerless types or with headers=False


def read_topic_stamps(bag_dir: str | Path, topics: list[str] | None = None,
                      headers: bool = True) -> dict[str, TopicStamps]:
    """Per topic, in bag order: receive times and header stamps (rates, drops, alignment).

    ``headers=False`` skips deserializing messages (cheap for large images).
    """
    bag_dir = Path(bag_dir)
    typestore = make_typestore()
    receive: dict[str, list[int]] = {}
    header: dict[str, list[int]] = {}
    with Reader(bag_dir) as reader:
        connections = [c for c in reader.connections if topics is None or c.topic in topics]
        missing = sorted(set(topics or ()) - {c.topic for c in connections})
        if missing:
            raise BagFormatError(f'{bag_dir}: topics {missing} not in bag')
        for connection, receive_ns, raw in reader.messages(connections=connections):
            receive.setdefault(connection.topic, []).append(receive_ns)
            if headers and has_header(typestore, connection.msgtype):
                msg = typestore.deserialize_cdr(raw, connection.msgtype)
                header.setdefault(connection.topic, []).append(_stamp_ns(msg, receive_ns))
    return {topic: TopicStamps(np.asarray(ns, dtype=np.int64),
                               np.asarray(header[topic], dtype=np.int64)
                               if topic in header else None)
            for topic, ns in receive.items()}


def has_header(typestore: Typestore, msgtype: str) -> bool:
    """Whether messages of ``msgtype`` start with a std_msgs/Header."""
    first_field = typestore.fielddefs[msgtype][1][:1]
    return bool(first_field) and first_field[0][1][1] == 'std_msgs/msg/Header'


def list_episodes(session_dir: str | Path) -> list[Path]:
    """Return the finished episode bag directories of a session, in index order."""
    session_dir = Path(session_dir)
    if not session_dir.is_dir():
        raise BagFormatError(f'session directory {session_dir} does not exist')
    return sorted(p for p in session_dir.iterdir()
                  if p.is_dir() and EPISODE_DIR_PATTERN.match(p.name))


def list_partial_episodes(session_dir: str | Path) -> list[Path]:
    """Return the ``episode_*.partial`` directories (episodes cut off before saving)."""
    session_dir = Path(session_dir)
    return sorted(p for p in session_dir.iterdir()
                  if p.is_dir() and PARTIAL_DIR_PATTERN.match(p.name))


def read_session(session_dir: str | Path, **read_kwargs: Any) -> list[Episode]:
    """Load every complete episode of a session; incomplete ones are skipped with a warning.

    ``read_kwargs`` go to ``read_episode`` (topics, typestore).
    """
    read_kwargs.setdefault('typestore', make_typestore())
    episodes = []
    for partial in list_partial_episodes(session_dir):
        log.warning('skipping %s: episode was never saved (recorder killed?)', partial)
    for bag_dir in list_episodes(session_dir):
        if not read_episode_metadata(bag_dir).complete:
            log.warning('skipping %s: episode is marked incomplete (complete=false)', bag_dir)
            continue
        episodes.append(read_episode(bag_dir, **read_kwargs))
    return episodes
