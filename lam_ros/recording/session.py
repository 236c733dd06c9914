# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A recording session: numbered episodes, crash-safe saving, resume after a restart.

An episode is written inside ``episode_NNNNNN.partial/`` (the bag plus a JSON
copy of its metadata) and moved to ``episode_NNNNNN/`` only once its bag is
closed, so a crash can never leave a half-written bag that looks finished.
See ``lam_models.data.bags`` for the full layout.

A write error (disk full) stops only the episode being written: it stays as
``episode_NNNNNN.partial/`` for ``recover_partial``, earlier episodes are never
touched, and ``start_episode`` refuses new episodes while less than
``min_free_bytes`` is free. The session directory is locked (``flock`` on
``recorder.lock``) for the session's lifetime, so two recorders never write into
one session; the kernel drops the lock when the process dies, even by SIGKILL.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
import errno
import fcntl
import logging
import os
from pathlib import Path
import shutil
import time

from rosbags.typesys.store import Typestore
import yaml

from lam_models.data.bags import (
    EPISODE_DIR_PATTERN,
    PARTIAL_DIR_PATTERN,
    PARTIAL_METADATA_FILE,
    SESSION_MANIFEST,
    EpisodeMetadata,
    episode_dir_name,
    list_partial_episodes,
    make_typestore,
)
import lam_ros
from lam_ros.recording.stats import StreamStats, rate_warnings
from lam_ros.recording.writer import EpisodeWriter, RecordingError, TopicSpec

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
# Fields of session.yaml that a resumed session must agree with.
RESUME_CHECKED_FIELDS = ('robot_model', 'embodiment')
LOCK_FILE = 'recorder.lock'
# Below this much free space no episode starts: a recording must not fill the disk up.
DEFAULT_MIN_FREE_BYTES = 64 * 2**20


class SessionMismatchError(RecordingError):
    """A resumed session's manifest disagrees with how it is being opened."""


class SessionLockedError(RecordingError):
    """Another recorder (this process or another) has the session directory open."""


class NoSpaceError(RecordingError):
    """Too little free space to start an episode."""


class RecordingSession:
    """Numbered episodes of one operator sitting, under ``<output_dir>/<session_name>/``.

    ``resume=True`` continues an existing session (numbering goes on after the
    highest index ever used, including unsaved ``.partial`` episodes, which are
    reported in ``incomplete``); ``resume=False`` refuses an existing session.
    ``on_failure`` is called with ``failure`` when a write error stops an episode.
    ``close()`` (or leaving a ``with`` block) releases the session directory.
    """

    def __init__(self, output_dir: str | Path, session_name: str, robot_model: str,
                 embodiment: str = 'robot', topics: Sequence[TopicSpec] = (),
                 operator: str = '', resume: bool = False,
                 software_version: str = lam_ros.__version__,
                 typestore: Typestore | None = None, max_queue_messages: int = 4096,
                 min_free_bytes: int = DEFAULT_MIN_FREE_BYTES,
                 on_failure: Callable[[str], None] | None = None,
                 policy_camera_topic: str = '') -> None:
        if embodiment not in ('robot', 'human'):
            raise RecordingError(f'embodiment must be robot or human, got {embodiment!r}')
        if not session_name or '/' in session_name or session_name.startswith('.'):
            raise RecordingError(f'bad session name {session_name!r}')
        self.session_dir = Path(output_dir).expanduser() / session_name
        self.session_name = session_name
        self.robot_model = robot_model
        self.embodiment = embodiment
        self.operator = operator
        self.policy_camera_topic = policy_camera_topic   # each episode's metadata says it
        self.software_version = software_version
        self.topics = list(topics)
        self.typestore = typestore or make_typestore()
        self.max_queue_messages = max_queue_messages
        self.min_free_bytes = min_free_bytes
        self.on_failure = on_failure
        self.episode: EpisodeWriter | None = None
        self._episode_index = -1
        # Why the last episode stopped on its own (write error); None once one starts again.
        self.failure: str | None = None

        self.session_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd: int | None = self._lock()
        try:
            manifest_path = self.session_dir / SESSION_MANIFEST
            if manifest_path.exists():
                if not resume:
                    raise RecordingError(f'session {self.session_dir} exists already; '
                                         'pass resume=True to add episodes to it')
                self._check_manifest(manifest_path)
            else:
                self._write_manifest(manifest_path)
        except BaseException:
            self.close()
            raise
        self.incomplete = list_partial_episodes(self.session_dir)
        for partial in self.incomplete:
            log.warning('session %s: %s was never saved (recorder killed); its number is '
                        'not reused; recover_partial() can salvage it', session_name, partial)

    # -- lock ---------------------------------------------------------------------------------

    def _lock(self) -> int:
        """Take the session's flock, or name the directory and the pid that holds it."""
        path = self.session_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors='replace').strip()
            os.close(fd)
            raise SessionLockedError(
                f'session {self.session_dir} is in use by another recorder '
                f'({f"pid {holder}, " if holder else ""}lock {path}); stop it or choose '
                'another session name') from None
        try:  # the pid is only for the message above: a full disk must not stop a resume
            os.ftruncate(fd, 0)
            os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)
        except OSError:
            pass
        return fd

    def close(self) -> None:
        """Release the session directory (an episode in progress is left as it is)."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> RecordingSession:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- manifest ---------------------------------------------------------------------------

    def _write_manifest(self, path: Path) -> None:
        manifest = {'format': MANIFEST_FORMAT, 'session_name': self.session_name,
                    'robot_model': self.robot_model, 'embodiment': self.embodiment,
                    'operator': self.operator, 'software_version': self.software_version,
                    'created': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
                    'topics': {t.topic: {'msgtype': t.msgtype, 'rate_hz': t.rate_hz}
                               for t in self.topics}}
        tmp = path.with_suffix('.yaml.tmp')
        tmp.write_text(yaml.safe_dump(manifest, sort_keys=False))
        tmp.replace(path)

    def _check_manifest(self, path: Path) -> None:
        try:
            manifest = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise RecordingError(f'{path} is unreadable: {exc}') from None
        if not isinstance(manifest, dict):
            raise RecordingError(f'{path} is not a mapping')
        for name in RESUME_CHECKED_FIELDS:
            if manifest.get(name) != getattr(self, name):
                raise SessionMismatchError(
                    f'{path}: field {name} is {manifest.get(name)!r} but the session is being '
                    f'resumed with {name}={getattr(self, name)!r}')

    # -- episodes ---------------------------------------------------------------------------

    @property
    def next_index(self) -> int:
        """Index the next episode will get: one past every index used on disk."""
        used = [int(m.group(1)) for p in self.session_dir.iterdir()
                if (m := EPISODE_DIR_PATTERN.match(p.name) or PARTIAL_DIR_PATTERN.match(p.name))]
        return max(used, default=-1) + 1

    @property
    def is_recording(self) -> bool:
        """True between start_episode and stop/discard/finalize."""
        return self.episode is not None

    def _partial_dir(self, index: int) -> Path:
        return self.session_dir / f'{episode_dir_name(index)}.partial'

    def free_space_error(self) -> str | None:
        """Why no episode can start for lack of disk space, or None if there is enough."""
        free = shutil.disk_usage(self.session_dir).free
        if free >= self.min_free_bytes:
            return None
        return (f'{self.session_dir}: no space left on device: {free / 2**20:.1f} MiB free, '
                f'an episode needs {self.min_free_bytes / 2**20:.1f} MiB; free some space '
                'and start again')

    def start_episode(self, task: str = '', instruction: str = '',
                      notes: str = '') -> EpisodeWriter:
        """Open the next episode's bag (in its .partial dir) with the session's topics."""
        if self.episode is not None:
            raise RecordingError(f'{self.session_dir}: episode {self._episode_index} is still '
                                 'recording; stop or discard it first')
        if (no_space := self.free_space_error()) is not None:
            raise NoSpaceError(no_space)
        index = self.next_index
        partial = self._partial_dir(index)
        partial.mkdir()
        metadata = EpisodeMetadata(
            session=self.session_name, episode_index=index, task=task, instruction=instruction,
            operator=self.operator, embodiment=self.embodiment, robot_model=self.robot_model,
            software_version=self.software_version, start_time_ns=time.time_ns(), notes=notes,
            policy_camera_topic=self.policy_camera_topic)
        episode = None
        try:
            episode = EpisodeWriter(partial / episode_dir_name(index), metadata, self.typestore,
                                    self.max_queue_messages)
            for spec in self.topics:
                episode.add_topic(spec.topic, spec.msgtype, spec.rate_hz, spec.qos)
            # Written after the topics so a SIGKILLed episode still knows its configured rates.
            (partial / PARTIAL_METADATA_FILE).write_text(metadata.to_json())
        except OSError as error:  # nothing recorded yet: leave no trace of this episode
            if episode is not None:
                _abort_quietly(episode)
            shutil.rmtree(partial, ignore_errors=True)
            raise RecordingError(f'{partial}: cannot start the episode: {_reason(error)}') \
                from error
        self.episode, self._episode_index = episode, index
        self.failure = None
        return episode

    def write(self, topic: str, timestamp_ns: int, data: bytes) -> bool:
        """Hand a message to the current episode; False if none is recording or it was dropped.

        A failed writer thread stops the episode here (see ``failure``) instead of
        raising into the subscription callback, which would take the node down.
        """
        episode = self.episode
        if episode is None:
            return False
        if episode.error is None:
            try:
                return episode.write(topic, timestamp_ns, data)
            except RecordingError:
                if episode.error is None:
                    raise  # a bad topic, not the disk
        self._stop_failed()
        return False

    def check_episode(self) -> str | None:
        """Stop the current episode if its writer failed; return ``failure`` (or None).

        ``write`` notices a failure on the next message; call this periodically so a
        failure is reported even when no message follows it.
        """
        episode = self.episode
        if episode is not None and episode.error is not None:
            self._stop_failed()
        return self.failure

    def _stop_failed(self, error: BaseException | None = None) -> str:
        """Stop the current episode after a write error, keeping it as ``.partial``."""
        episode, index = self.episode, self._episode_index
        assert episode is not None
        self.episode = None
        error = error or episode.error
        _abort_quietly(episode)
        # A bag whose close failed half way must be rescanned by recover_partial, not moved.
        (episode.bag_dir / 'metadata.yaml').unlink(missing_ok=True)
        partial = self._partial_dir(index)
        self.failure = (f'{partial}: episode stopped: {_reason(error)} writing '
                        f'{episode.bag_dir.name}.mcap; kept for recover_partial, earlier '
                        'episodes are untouched')
        if self.on_failure is not None:
            self.on_failure(self.failure)
        else:
            log.error('%s', self.failure)
        return self.failure

    def _save(self, success: bool | None, complete: bool) -> Path:
        episode, index = self.episode, self._episode_index
        assert episode is not None
        if episode.error is not None:
            raise RecordingError(self._stop_failed())
        self.episode = None
        partial = self._partial_dir(index)
        final = self.session_dir / episode_dir_name(index)
        try:
            episode.close(success=success, complete=complete)
        except RecordingError as error:  # the summary could not be written (disk full)
            self.episode = episode
            raise RecordingError(self._stop_failed(error.__cause__ or error)) from None
        os.replace(episode.bag_dir, final)
        shutil.rmtree(partial)
        return final

    def stop_episode(self, success: bool | None = None) -> Path:
        """Close and save the current episode (complete=true); return its directory."""
        if self.episode is None:
            raise RecordingError(f'{self.session_dir}: no episode is recording')
        return self._save(success, complete=True)

    def finalize_incomplete(self) -> Path | None:
        """Save the current episode marked complete=false (call on SIGINT/SIGTERM)."""
        if self.episode is None:
            return None
        return self._save(None, complete=False)

    def discard_episode(self) -> None:
        """Throw the current episode away; its number is reused by the next one (re-record)."""
        if self.episode is None:
            raise RecordingError(f'{self.session_dir}: no episode is recording')
        episode, self.episode = self.episode, None
        _abort_quietly(episode)
        shutil.rmtree(self._partial_dir(self._episode_index))

    # -- live stats -------------------------------------------------------------------------

    def stats(self) -> list[StreamStats]:
        """Per-stream counters of the current episode (empty when idle)."""
        return list(self.episode.streams.values()) if self.episode else []

    def rate_warnings(self, min_fraction: float = 0.9) -> list[str]:
        """Streams of the current episode below ``min_fraction`` of their configured rate."""
        return rate_warnings(self.stats(), min_fraction)


def _abort_quietly(episode: EpisodeWriter) -> None:
    """Stop an episode's writer; closing its file flushes, which fails again on a full disk."""
    try:
        episode.abort()
    except OSError:
        pass  # the file descriptor is closed even when the final flush fails


def _reason(error: BaseException | None) -> str:
    """'no space left on device' for ENOSPC, else the error itself, in one line."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return 'no space left on device'
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return repr(error)
