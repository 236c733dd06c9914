# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Salvage an episode whose recorder was killed (SIGKILL, power cut) mid-recording.

Such an MCAP has every chunk the writer flushed (about 1 MiB each) but no
summary, footer or metadata.yaml (so has one whose disk filled up). Recovery
copies the file up to its last complete record into a new file, appends a
summary-less DataEnd + Footer (valid MCAP: readers scan it) and writes
metadata.yaml from the scan, marked complete=false. The original is replaced
only once the copy and metadata.yaml are written and fsynced: on a full disk
recovery fails with the ``.partial`` directory exactly as it was.
"""
from __future__ import annotations

import os
from pathlib import Path
import shutil
import struct
import zlib

from rosbags.interfaces import ConnectionExtRosbag2
from rosbags.rosbag2 import Reader
from rosbags.rosbag2.metadata import dump_qos_v9
from rosbags.typesys.store import Typestore
import yaml

from lam_models.data.bags import (
    PARTIAL_DIR_PATTERN,
    PARTIAL_METADATA_FILE,
    EpisodeMetadata,
    episode_custom_data,
    make_typestore,
)
from lam_ros.recording.writer import ROSBAG2_VERSION, RecordingError

MCAP_MAGIC = b'\x89MCAP0\r\n'
_RECORD_HEAD = struct.Struct('<BQ')
_OP_FOOTER, _OP_DATA_END, _LAST_OP = 0x02, 0x0F, 0x10
# DataEnd (+ the CRC-32 of the data section, which the reader checks), then Footer
# (no summary: offsets 0, crc 0), then the closing magic.
_DATA_END = _RECORD_HEAD.pack(_OP_DATA_END, 4)
_FOOTER = _RECORD_HEAD.pack(_OP_FOOTER, 20) + struct.pack('<QQI', 0, 0, 0) + MCAP_MAGIC


def _end_of_complete_records(path: Path) -> int:
    """Byte offset just after the last complete MCAP record of a cut-off file."""
    size = path.stat().st_size
    with path.open('rb') as f:
        if f.read(8) != MCAP_MAGIC:
            raise RecordingError(f'{path} does not start with the MCAP magic')
        good = offset = 8
        while offset + _RECORD_HEAD.size <= size:
            f.seek(offset)
            opcode, length = _RECORD_HEAD.unpack(f.read(_RECORD_HEAD.size))
            end = offset + _RECORD_HEAD.size + length
            if not 0 < opcode <= _LAST_OP or opcode in (_OP_FOOTER, _OP_DATA_END) or end > size:
                break
            good = offset = end
    return good


def recover_partial(partial_dir: str | Path, typestore: Typestore | None = None) -> Path:
    """Turn ``episode_NNNNNN.partial/`` into a readable ``episode_NNNNNN/`` (complete=false)."""
    partial_dir = Path(partial_dir)
    match = PARTIAL_DIR_PATTERN.match(partial_dir.name)
    if not match:
        raise RecordingError(f'{partial_dir} is not an episode_NNNNNN.partial directory')
    name = partial_dir.name.removesuffix('.partial')
    bag_dir, final = partial_dir / name, partial_dir.parent / name
    if final.exists():
        raise RecordingError(f'cannot recover {partial_dir}: {final} exists already')
    meta_path = partial_dir / PARTIAL_METADATA_FILE
    metadata = (EpisodeMetadata.from_json(meta_path.read_text(), str(meta_path))
                if meta_path.is_file() else EpisodeMetadata(episode_index=int(match.group(1))))

    if not (bag_dir / 'metadata.yaml').is_file():  # else: killed between close and rename
        mcap = bag_dir / f'{name}.mcap'
        if not mcap.is_file():
            raise RecordingError(f'cannot recover {partial_dir}: {mcap} does not exist')
        tmp = partial_dir / f'{name}.recovering.mcap'  # .mcap: rosbags picks the reader by suffix
        try:
            _recover_mcap(mcap, tmp, metadata, typestore or make_typestore())
        except OSError as exc:
            raise RecordingError(f'cannot recover {partial_dir}: writing {exc.filename or tmp} '
                                 f'failed ({exc.strerror or exc}); {mcap} is unchanged') from exc
        finally:
            tmp.unlink(missing_ok=True)
            (bag_dir / 'metadata.yaml.tmp').unlink(missing_ok=True)
    os.replace(bag_dir, final)
    shutil.rmtree(partial_dir)
    _fsync_dir(partial_dir.parent)
    return final


def _recover_mcap(mcap: Path, tmp: Path, metadata: EpisodeMetadata,
                  typestore: Typestore) -> None:
    """Write the repaired copy and metadata.yaml next to ``mcap``, then swap them in.

    Until the two renames at the end nothing of the original is changed, so any
    failure before them (disk full) leaves a ``.partial`` that can be recovered later.
    """
    bag_dir = mcap.parent
    stat = mcap.stat()
    end = _end_of_complete_records(mcap)
    crc = 0
    with mcap.open('rb') as src, tmp.open('wb') as dst:
        while (copied := dst.tell()) < end:
            block = src.read(min(2**20, end - copied))
            if not block:
                raise RecordingError(f'cannot recover {mcap}: it shrank while being read')
            dst.write(block)
            crc = zlib.crc32(block, crc)
        dst.write(_DATA_END + struct.pack('<I', crc) + _FOOTER)
        dst.flush()
        os.fsync(dst.fileno())
    # stop_time_ns below comes from the mtime: a second run must see the same one.
    os.utime(tmp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    try:
        with Reader(tmp) as reader:
            connections, count = list(reader.connections), reader.message_count
            start, stop = reader.start_time, reader.end_time - 1  # end_time is exclusive
    except Exception as exc:  # rosbags raises several types for broken files
        raise RecordingError(f'cannot recover {mcap}: {exc}') from exc
    if count == 0:
        raise RecordingError(f'cannot recover {mcap.parent.parent}: no complete chunk was '
                             'written')
    metadata.complete = False
    metadata.stop_time_ns = stat.st_mtime_ns  # wall clock of the last write, like start_time_ns
    metadata.notes = (metadata.notes + ' ' if metadata.notes else '') + \
        f'recovered from an episode that was never closed ({count} messages salvaged)'
    meta_tmp = _write_bag_metadata(bag_dir, mcap.name, connections, start, stop, count,
                                   metadata, typestore)
    # The bag first, then its metadata.yaml: a crash in between leaves no metadata.yaml,
    # so the next run scans the (already repaired) bag again.
    os.replace(tmp, mcap)
    os.replace(meta_tmp, bag_dir / 'metadata.yaml')
    _fsync_dir(bag_dir)


def _fsync_dir(path: Path) -> None:
    """Make renames in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_bag_metadata(bag_dir: Path, file_name: str, connections: list, start: int,
                        stop: int, count: int, metadata: EpisodeMetadata,
                        typestore: Typestore) -> Path:
    """Write metadata.yaml as rosbags' Writer.close does (version 9), fsynced, to a tmp file.

    The caller renames the returned ``metadata.yaml.tmp`` once the bag is in place.
    """
    def duration() -> dict:  # fresh dicts: yaml would write shared ones as &id aliases
        return {'nanoseconds': max(0, stop - start)}

    def starting() -> dict:
        return {'nanoseconds_since_epoch': start}

    topics = []
    for connection in connections:
        ext = connection.ext
        assert isinstance(ext, ConnectionExtRosbag2)
        digest = connection.digest or (typestore.hash_rihs01(connection.msgtype)
                                       if connection.msgtype in typestore.fielddefs else '')
        topics.append({'topic_metadata': {
            'name': connection.topic, 'type': connection.msgtype,
            'serialization_format': ext.serialization_format,
            'offered_qos_profiles': dump_qos_v9(ext.offered_qos_profiles),
            'type_description_hash': digest}, 'message_count': connection.msgcount})
    info = {
        'version': ROSBAG2_VERSION, 'storage_identifier': 'mcap',
        'relative_file_paths': [file_name], 'duration': duration(), 'starting_time': starting(),
        'message_count': count, 'topics_with_message_count': topics,
        'compression_format': '', 'compression_mode': '',
        'files': [{'path': file_name, 'starting_time': starting(), 'duration': duration(),
                   'message_count': count}],
        'custom_data': episode_custom_data(metadata), 'ros_distro': 'rosbags',
    }
    tmp = bag_dir / 'metadata.yaml.tmp'
    with tmp.open('w') as f:
        f.write(yaml.safe_dump({'rosbag2_bagfile_information': info}, sort_keys=False))
        f.flush()
        os.fsync(f.fileno())
    return tmp
