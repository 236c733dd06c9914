# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The one reader of recorded episodes (rosbag2 MCAP; no rclpy).

MCAP records are read with the reference ``mcap`` library and every byte an Episode is
built from is CRC-checked (chunks, data section, summary, the metadata JSON): a
damaged bag raises BagCorruptError naming the file rather than returning
altered frames or actions. Messages are deserialized with rosbags' typestore.

On-disk format, shared with the writer in ``lam_ros.recording``:

    <session_dir>/session.yaml             session manifest
    <session_dir>/episode_000000/          one rosbag2 directory per episode
        metadata.yaml                      custom_data['lam_episode'] = JSON EpisodeMetadata,
                                           custom_data['lam_episode_crc32'] = its CRC-32
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
import struct
from typing import Any, BinaryIO, Iterable, Iterator
import zlib

from mcap.opcode import Opcode
from mcap.reader import SeekingReader
from mcap.records import Channel, Chunk, DataEnd, Message, Schema
from mcap.stream_reader import CRCValidationError, StreamReader, breakup_chunk
import numpy as np
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore
import yaml

from lam_models.data.episode import Episode
from lam_models.data.images import image_to_rgb

log = logging.getLogger(__name__)

EPISODE_METADATA_KEY = 'lam_episode'
EPISODE_METADATA_CRC_KEY = 'lam_episode_crc32'
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


class BagCorruptError(BagFormatError):
    """A bag's bytes are damaged (a CRC mismatch, a record that does not parse)."""


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
    policy_camera_topic: str = ''   # the recorder's policy camera ('': recorded before it said)

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
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BagFormatError(f'{path} is unreadable: {exc}'.replace('\n', ' ')) from None
    info = loaded.get('rosbag2_bagfile_information') if isinstance(loaded, dict) else None
    if not isinstance(info, dict):
        raise BagFormatError(f'{path} has no rosbag2_bagfile_information mapping')
    return info


def episode_custom_data(metadata: EpisodeMetadata) -> dict[str, str]:
    """metadata.yaml custom_data for an episode: its JSON and that JSON's CRC-32.

    The CRC lets the reader refuse a metadata.yaml with flipped bits (a changed
    task or success flag) rather than return it.
    """
    text = metadata.to_json()
    return {EPISODE_METADATA_KEY: text,
            EPISODE_METADATA_CRC_KEY: f'{zlib.crc32(text.encode()):08x}'}


def _episode_metadata(bag_dir: Path, info: dict[str, Any]) -> EpisodeMetadata:
    source = bag_dir / 'metadata.yaml'
    custom = info.get('custom_data') or {}
    if not isinstance(custom, dict) or EPISODE_METADATA_KEY not in custom:
        raise BagFormatError(f'{source}: custom_data has no {EPISODE_METADATA_KEY!r} entry '
                             '(not recorded by lam_ros)')
    text, stored = custom[EPISODE_METADATA_KEY], custom.get(EPISODE_METADATA_CRC_KEY)
    if not isinstance(text, str):
        raise BagFormatError(f'{source}: {EPISODE_METADATA_KEY} is not a string')
    if stored is None:
        raise BagCorruptError(f'{source}: custom_data has no {EPISODE_METADATA_CRC_KEY!r}, so '
                              'the episode metadata cannot be verified')
    if str(stored) != f'{zlib.crc32(text.encode()):08x}':
        raise BagCorruptError(f'{source}: {EPISODE_METADATA_KEY} fails its CRC check '
                              f'(stored {stored}, computed {zlib.crc32(text.encode()):08x}): '
                              'corrupted file')
    return EpisodeMetadata.from_json(text, str(source))


def read_episode_metadata(bag_dir: str | Path) -> EpisodeMetadata:
    """Return the EpisodeMetadata of a finished bag (from metadata.yaml custom_data)."""
    bag_dir = Path(bag_dir)
    return _episode_metadata(bag_dir, _load_bag_info(bag_dir))


def header_stamp_ns(msg: Any, receive_ns: int) -> int:
    """Header stamp in ns; the receive time when the publisher left the stamp at zero.

    Alignment works on integer ns: float64 seconds since 1970 only resolve ~0.2 us.
    """
    stamp = msg.header.stamp
    if stamp.sec == 0 and stamp.nanosec == 0:
        return receive_ns
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def _ns_to_seconds(stamps_ns: np.ndarray) -> np.ndarray:
    return (stamps_ns // 1_000_000_000) + (stamps_ns % 1_000_000_000) * 1e-9


def _read_joint_states(messages: list[tuple[int, bytes]], typestore: Typestore, topic: str,
                       bag_dir: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return (stamps (N,) int64 ns, positions (N, J) float32, joint names) of a JointState."""
    stamps, rows, names = [], [], None
    for receive_ns, raw in messages:
        msg = typestore.deserialize_cdr(raw, JOINT_STATE_TYPE)
        if names is None:
            names = list(msg.name)
        elif list(msg.name) != names:
            raise BagFormatError(
                f'{bag_dir}: {topic} field name changed from {names} to {list(msg.name)}')
        if len(msg.position) != len(names):
            raise BagFormatError(
                f'{bag_dir}: {topic} has {len(msg.position)} positions for {len(names)} names')
        stamps.append(header_stamp_ns(msg, receive_ns))
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


STALE_FRAME_PERIODS = 2.5   # a command decided on a frame this many periods old: stalled camera


def _warn_stale_frames(bag_dir: Path, camera_topic: str, frame_ns: np.ndarray,
                       command_ns: np.ndarray, seen: np.ndarray) -> None:
    """Say how many commands had only an old frame to be decided on (a camera that stalled).

    Their rows are kept (a row per command keeps the episode's steps whole), with that frame
    repeated: an episode with many is one to record again.
    """
    if len(frame_ns) < 2:
        return
    period = float(np.median(np.diff(frame_ns)))
    stale = int(np.sum(command_ns - frame_ns[seen] > STALE_FRAME_PERIODS * period))
    if stale:
        log.warning('%s: %d of %d commands were decided on a %s frame over %.3g s old (the '
                    'camera stalled?)', bag_dir, stale, len(command_ns), camera_topic,
                    STALE_FRAME_PERIODS * period / 1e9)


def _check_topic(types: dict[str, set[str]], topic: str, msgtype: str, bag_dir: Path) -> bool:
    """True if ``topic`` is in the bag with ``msgtype``; raise if it has another type."""
    found = types.get(topic)
    if not found:
        return False
    if found != {msgtype}:
        raise BagFormatError(f'{bag_dir}: topic {topic} has type {sorted(found)}, '
                             f'expected {msgtype}')
    return True


def _pick_joint_state_topic(types: dict[str, set[str]], exclude: str,
                            bag_dir: Path) -> str | None:
    candidates = sorted(topic for topic, found in types.items()
                        if JOINT_STATE_TYPE in found and topic != exclude
                        and topic.endswith('joint_states'))
    if len(candidates) > 1:
        raise BagFormatError(f'{bag_dir}: several joint state topics {candidates}; '
                             'pass joint_state_topic=')
    return candidates[0] if candidates else None


def read_episode(bag_dir: str | Path, camera_topic: str | None = None,
                 action_topic: str | None = DEFAULT_ACTION_TOPIC,
                 joint_state_topic: str | None = None,
                 typestore: Typestore | None = None, rows: str = 'frames') -> Episode:
    """Load one episode bag as an Episode aligned on the camera frames.

    ``camera_topic=None``: the policy camera the recorder says it had (``EpisodeMetadata``),
    else ``DEFAULT_CAMERA_TOPIC``. Frame times are the camera header stamps. ``actions[t]``
    is the first command at or after frame t (the one decided on it); joint positions are
    the latest state at or before it. ``joint_state_topic=None`` picks the one
    ``*joint_states`` JointState topic if there is one. A robot episode must
    have ``action_topic``; a human one may lack it (actions stay None).
    ``rows='commands'``: one row per command instead, with the newest frame at or before
    it (the one it was decided on), as the policy acts: a 30 fps camera beside 10 Hz
    commands thinned on a grid of its own would, at some phases of the two clocks, give one
    command to two rows and skip the next. An episode without commands keeps its frames.

    Raises BagFormatError (a ValueError) naming the file for anything wrong, and
    its subclass BagCorruptError when the bytes fail a CRC check or do not parse.
    """
    if rows not in ('frames', 'commands'):
        raise ValueError(f"read_episode rows must be 'frames' or 'commands', got {rows!r}")
    bag_dir = Path(bag_dir)
    info = _load_bag_info(bag_dir)
    meta = _episode_metadata(bag_dir, info)
    camera_topic = camera_topic or meta.policy_camera_topic or DEFAULT_CAMERA_TOPIC
    typestore = typestore or make_typestore()
    types: dict[str, set[str]] = {}
    frames, times = [], []
    joint_states: dict[str, list[tuple[int, bytes]]] = {}  # small: kept raw until picked
    for topic, msgtype, receive_ns, raw in _messages(_mcap_path(bag_dir, info), types):
        if topic == camera_topic and msgtype == IMAGE_TYPE:
            msg = typestore.deserialize_cdr(raw, msgtype)
            try:
                frames.append(image_to_rgb(msg))
            except ValueError as exc:
                raise BagFormatError(f'{bag_dir}: topic {camera_topic} field encoding: '
                                     f'{exc}') from None
            times.append(header_stamp_ns(msg, receive_ns))
        elif msgtype == JOINT_STATE_TYPE:
            joint_states.setdefault(topic, []).append((receive_ns, raw))

    topics = sorted(types)
    if not _check_topic(types, camera_topic, IMAGE_TYPE, bag_dir):
        raise BagFormatError(f'{bag_dir}: camera topic {camera_topic} not in bag '
                             f'(topics: {topics})')
    if not frames:
        raise BagFormatError(f'{bag_dir}: camera topic {camera_topic} has no messages')
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise BagFormatError(f'{bag_dir}: {camera_topic} frame size changes: {shapes}')
    frame_ns = np.asarray(times, dtype=np.int64)
    order = np.argsort(frame_ns, kind='stable')
    frame_ns = frame_ns[order]
    row_ns = frame_ns   # a row's time: its frame's, or with rows='commands' its command's
    metadata: dict[str, Any] = {**asdict(meta), 'bag_dir': str(bag_dir),
                                'camera_topic': camera_topic, 'topics': topics}

    actions = None
    if action_topic and _check_topic(types, action_topic, JOINT_STATE_TYPE, bag_dir):
        stamps, values, names = _read_joint_states(joint_states.get(action_topic, []),
                                                   typestore, action_topic, bag_dir)
        if rows == 'commands':
            seen = np.searchsorted(frame_ns, stamps, side='right') - 1   # -1: before any frame
            kept = seen >= 0
            if not kept.any():
                raise BagFormatError(f'{bag_dir}: every command on {action_topic} came before '
                                     f'the first frame of {camera_topic}')
            _warn_stale_frames(bag_dir, camera_topic, frame_ns, stamps[kept], seen[kept])
            order, frame_ns = order[seen[kept]], frame_ns[seen[kept]]
            actions, row_ns = values[kept], stamps[kept]
        else:
            actions = _next_sample(stamps, values, frame_ns)
        metadata.update(action_topic=action_topic, action_names=names)
    elif action_topic and meta.embodiment == 'robot':
        raise BagFormatError(f'{bag_dir}: robot episode has no action topic {action_topic} '
                             f'(topics: {topics})')

    joint_positions = None
    if joint_state_topic is None:
        joint_state_topic = _pick_joint_state_topic(types, action_topic or '', bag_dir)
    elif not _check_topic(types, joint_state_topic, JOINT_STATE_TYPE, bag_dir):
        raise BagFormatError(f'{bag_dir}: joint state topic {joint_state_topic} not in bag '
                             f'(topics: {topics})')
    if joint_state_topic:
        stamps, values, names = _read_joint_states(joint_states.get(joint_state_topic, []),
                                                   typestore, joint_state_topic, bag_dir)
        joint_positions = _previous_sample(stamps, values, frame_ns)
        metadata.update(joint_state_topic=joint_state_topic, joint_names=names)
    elif meta.embodiment == 'robot':
        log.warning("%s: robot episode without a joint_states topic (the recorder's "
                    'robot_name?): it trains no state', bag_dir)

    return Episode(
        frames=np.stack(frames)[order], timestamps=_ns_to_seconds(row_ns),
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
    types: dict[str, set[str]] = {}
    receive: dict[str, list[int]] = {}
    header: dict[str, list[int]] = {}
    for topic, msgtype, receive_ns, raw in _messages(_mcap_path(bag_dir), types):
        if topics is not None and topic not in topics:
            continue
        receive.setdefault(topic, []).append(receive_ns)
        if headers and has_header(typestore, msgtype):
            msg = typestore.deserialize_cdr(raw, msgtype)
            header.setdefault(topic, []).append(header_stamp_ns(msg, receive_ns))
    missing = sorted(set(topics or ()) - set(types))
    if missing:
        raise BagFormatError(f'{bag_dir}: topics {missing} not in bag')
    return {topic: TopicStamps(np.asarray(ns, dtype=np.int64),
                               np.asarray(header[topic], dtype=np.int64)
                               if topic in header else None)
            for topic, ns in receive.items()}


def has_header(typestore: Typestore, msgtype: str) -> bool:
    """Whether messages of ``msgtype`` start with a std_msgs/Header."""
    first_field = typestore.fielddefs[msgtype][1][:1]
    return bool(first_field) and first_field[0][1][1] == 'std_msgs/msg/Header'


# -- MCAP: every byte CRC-checked ------------------------------------------------------------
# A record is opcode (1) + length (8); the Footer is 29 bytes, then the closing magic (8).
_MCAP_MAGIC = b'\x89MCAP0\r\n'
_FOOTER = struct.Struct('<BQQQI')
_FOOTER_TAIL = _FOOTER.size + len(_MCAP_MAGIC)


def _mcap_path(bag_dir: Path, info: dict[str, Any] | None = None) -> Path:
    """The bag's one .mcap file, as named in metadata.yaml."""
    info = info if info is not None else _load_bag_info(bag_dir)
    files, storage = info.get('relative_file_paths'), info.get('storage_identifier')
    if storage != 'mcap' or not isinstance(files, list) or len(files) != 1 \
            or not isinstance(files[0], str):
        raise BagFormatError(f'{bag_dir / "metadata.yaml"}: expected storage_identifier mcap and '
                             f'one relative_file_paths entry, found {storage!r}, {files!r}')
    path = bag_dir / Path(files[0]).name
    if not path.is_file():
        raise BagFormatError(f'{path} does not exist (named in {bag_dir / "metadata.yaml"})')
    return path


def _chunk_topics(f: BinaryIO, path: Path, size: int) -> list[list[str]] | None:
    """Check the Footer and the summary's CRC; per chunk in file order, the topics it holds.

    None for a bag without summary (one rebuilt by ``lam_ros.recording.recover``).
    """
    if size < len(_MCAP_MAGIC) + _FOOTER_TAIL:
        raise BagCorruptError(f'{path}: {size} bytes, too short for an MCAP file')
    f.seek(size - _FOOTER_TAIL)
    tail = f.read(_FOOTER_TAIL)
    opcode, length, summary_start, _, summary_crc = _FOOTER.unpack_from(tail)
    if opcode != Opcode.FOOTER or length != _FOOTER.size - 9 or tail[-8:] != _MCAP_MAGIC:
        raise BagCorruptError(f'{path}: no MCAP footer at the end (truncated or corrupted file)')
    if summary_start == 0:
        return None
    if not len(_MCAP_MAGIC) < summary_start < size - _FOOTER_TAIL:
        raise BagCorruptError(f'{path}: footer points to summary at byte {summary_start} of '
                              f'{size} (corrupted file)')
    if summary_crc == 0:
        raise BagCorruptError(f'{path}: summary has no CRC, so the bag cannot be verified '
                              '(not written by lam_ros.recording)')
    f.seek(summary_start)
    crc = zlib.crc32(f.read(size - len(_MCAP_MAGIC) - 4 - summary_start))
    if crc != summary_crc:
        raise BagCorruptError(f'{path}: summary section fails its CRC check (stored '
                              f'{summary_crc:#010x}, computed {crc:#010x}): corrupted file')
    f.seek(0)
    summary = SeekingReader(f, record_size_limit=size).get_summary()
    assert summary is not None
    names = {cid: channel.topic for cid, channel in summary.channels.items()}
    return [sorted({names.get(cid, f'channel {cid}') for cid in index.message_index_offsets})
            for index in sorted(summary.chunk_indexes, key=lambda i: i.chunk_start_offset)]


def _messages(path: Path, types: dict[str, set[str]]) -> Iterator[tuple[str, str, int, bytes]]:
    """(topic, msgtype, receive ns, CDR bytes) of every message, in file order.

    Fills ``types`` (topic -> message types) as channels appear. Each chunk's CRC
    is checked before its messages are yielded, the summary's before the first,
    and the data section's (every byte before the summary) once the last is out:
    a caller that reads to the end never returns data from a damaged file.
    """
    size = path.stat().st_size
    schemas: dict[int, str] = {}
    channels: dict[int, tuple[str, str]] = {}
    data_crc_checked, chunk_number = False, -1
    with path.open('rb') as f:
        try:
            chunk_topics = _chunk_topics(f, path, size)
            f.seek(0)
            reader = StreamReader(f, emit_chunks=True, validate_crcs=True,
                                  record_size_limit=size)
            for record in reader.records:
                records: Iterable[Any] = (record,)
                if isinstance(record, Chunk):
                    chunk_number += 1
                    try:
                        records = breakup_chunk(record, validate_crc=True)
                    except CRCValidationError as exc:
                        start = f.tell() - 49 - len(record.compression) - len(record.data)
                        held = (f'topics {", ".join(chunk_topics[chunk_number])}'
                                if chunk_topics and chunk_number < len(chunk_topics)
                                else 'no summary to name its topics')
                        raise BagCorruptError(
                            f'{path}: chunk {chunk_number} at byte {start} ({held}) fails '
                            f'its CRC check (stored {exc.expected:#010x}, computed '
                            f'{exc.actual:#010x}): corrupted file') from None
                elif isinstance(record, DataEnd):
                    data_crc_checked = record.data_section_crc != 0  # StreamReader checked it
                for item in records:
                    if isinstance(item, Schema):
                        schemas[item.id] = item.name
                    elif isinstance(item, Channel):
                        if item.message_encoding != 'cdr' or item.schema_id not in schemas:
                            raise BagFormatError(
                                f'{path}: topic {item.topic} has encoding '
                                f'{item.message_encoding!r} / schema {item.schema_id}; '
                                'expected cdr with a ROS 2 message schema')
                        channels[item.id] = (item.topic, schemas[item.schema_id])
                        types.setdefault(item.topic, set()).add(schemas[item.schema_id])
                    elif isinstance(item, Message):
                        if item.channel_id not in channels:
                            raise BagCorruptError(f'{path}: message on unknown channel '
                                                  f'{item.channel_id} (corrupted file)')
                        topic, msgtype = channels[item.channel_id]
                        yield topic, msgtype, item.log_time, item.data
        except BagFormatError:
            raise
        except CRCValidationError as exc:  # the only other CRC the StreamReader checks
            raise BagCorruptError(f'{path}: data section fails its CRC check (stored '
                                  f'{exc.expected:#010x}, computed {exc.actual:#010x}): '
                                  'corrupted file') from None
        except Exception as exc:  # mcap raises many types for damaged bytes
            raise BagCorruptError(f'{path}: not a readable MCAP file ({type(exc).__name__}: '
                                  f'{exc})') from None
    if not data_crc_checked:
        raise BagCorruptError(f'{path}: no data-section CRC (DataEnd missing or 0), so the bag '
                              'cannot be verified (not written by lam_ros.recording?)')


# -- sessions ---------------------------------------------------------------------------------
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


def _is_session(path: Path) -> bool:
    return (path / SESSION_MANIFEST).is_file() or any(
        p.is_dir() and (EPISODE_DIR_PATTERN.match(p.name) or PARTIAL_DIR_PATTERN.match(p.name))
        for p in path.iterdir())


def _check_session_dir(session_dir: Path) -> None:
    """Raise, naming the path and what was expected, unless it looks like a session."""
    expected = f'expected a session directory with {SESSION_MANIFEST} and episode_NNNNNN/ bags'
    if not session_dir.exists():
        raise BagFormatError(f'session directory {session_dir} does not exist ({expected})')
    if not session_dir.is_dir():
        raise BagFormatError(f'{session_dir} is a file, not a session directory ({expected})')
    if _is_session(session_dir):
        return
    sessions = sorted(p.name for p in session_dir.iterdir() if p.is_dir() and _is_session(p))
    hint = (f'; did you mean one of its subdirectories {", ".join(sessions)}?' if sessions
            else ' and it holds no session either')
    raise BagFormatError(f'{session_dir} is not a session directory (no {SESSION_MANIFEST}, '
                         f'no episode_* bags){hint}')


def read_session(session_dir: str | Path, strict: bool = False,
                 **read_kwargs: Any) -> list[Episode]:
    """Load every complete episode of a session; the others are skipped with a warning.

    Unsaved (``.partial``) and incomplete episodes are always skipped. An episode
    that cannot be read (truncated, corrupted) is skipped with a warning naming
    the bag and why, so one bad file does not cost the session; ``strict=True``
    raises instead. ``read_kwargs`` go to ``read_episode`` (topics, typestore).
    """
    return list(iter_session(session_dir, strict, **read_kwargs))


def iter_session(session_dir: str | Path, strict: bool = False,
                 **read_kwargs: Any) -> Iterator[Episode]:
    """``read_session`` one episode at a time, so a long session never sits in memory whole.

    The session directory is checked here, before the first episode is asked for.
    """
    session_dir = Path(session_dir)
    _check_session_dir(session_dir)
    read_kwargs.setdefault('typestore', make_typestore())
    return _session_episodes(session_dir, strict, read_kwargs)


def _session_episodes(session_dir: Path, strict: bool,
                      read_kwargs: dict[str, Any]) -> Iterator[Episode]:
    for partial in list_partial_episodes(session_dir):
        log.warning('skipping %s: episode was never saved (recorder killed?)', partial)
    bags = list_episodes(session_dir)
    for bag_dir in bags:
        try:
            if not read_episode_metadata(bag_dir).complete:
                log.warning('skipping %s: episode is marked incomplete (complete=false)', bag_dir)
                continue
            episode = read_episode(bag_dir, **read_kwargs)
        except (BagFormatError, OSError) as exc:
            if strict:
                raise
            log.warning('skipping %s: cannot be read: %s', bag_dir, exc)
            continue
        yield episode
    if not bags:
        log.warning('%s: session has no saved episodes', session_dir)
