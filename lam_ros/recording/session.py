# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A recording session: numbered episodes, crash-safe saving, resume after a restart.

An episode is written inside ``episode_NNNNNN.partial/`` (the bag plus a JSON
copy of its metadata) and moved to ``episode_NNNNNN/`` only once its bag is
closed, so a crash can never leave a half-written bag that looks finished.
See ``lam_models.data.bags`` for the full layout.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
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
    list_episodes,
    list_partial_episodes,
    make_typestore,
)
import lam_ros
from lam_ros.recording.recover import recover_partial
from lam_ros.recording.stats import StreamStats, rate_warnings
from lam_ros.recording.writer import EpisodeWriter, RecordingError, TopicSpec

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
# Fields of session.yaml that a resumed session must agree with.
RESUME_CHECKED_FIELDS = ('robot_model', 'embodiment')


class SessionMismatchError(RecordingError):
    """A resumed session's manifest disagrees with how it is being opened."""


class RecordingSession:
    """Numbered episodes of one operator sitting, under ``<output_dir>/<session_name>/``.

    ``resume=True`` continues an existing session (numbering goes on after the
    highest index ever used, including unsaved ``.partial`` episodes, which are
    reported in ``incomplete``); ``resume=False`` refuses an existing session.
    """

    def __init__(self, output_dir: str | Path, session_name: str, robot_model: str,
                 embodiment: str = 'robot', topics: Sequence[TopicSpec] = (),
                 operator: str = '', resume: bool = False,
                 software_version: str = lam_ros.__version__,
                 typestore: Typestore | None = None, max_queue_messages: int = 4096) -> None:
        if embodiment not in ('robot', 'human'):
            raise RecordingError(f'embodiment must be robot or human, got {embodiment!r}')
        if not session_name or '/' in session_name or session_name.startswith('.'):
            raise RecordingError(f'bad session name {session_name!r}')
        self.session_dir = Path(output_dir).expanduser() / session_name
        self.session_name = session_name
        self.robot_model = robot_model
        self.embodiment = embodiment
        self.operator = operator
        self.software_version = software_version
        self.topics = list(topics)
        self.typestore = typestore or make_typestore()
        self.max_queue_messages = max_queue_messages
        self.episode: EpisodeWriter | None = None
        self._episode_index = -1

        manifest_path = self.session_dir / SESSION_MANIFEST
        if manifest_path.exists():
            if not resume:
                raise RecordingError(f'session {self.session_dir} exists already; '
                                     'pass resume=True to add episodes to it')
            self._check_manifest(manifest_path)
        else:
            self.session_dir.mkdir(parents=True, exist_ok=True)
            self._write_manifest(manifest_path)
        self.incomplete = list_partial_episodes(self.session_dir)
        for partial in self.incomplete:
            log.warning('session %s: %s was never saved (recorder killed); its number is '
                        'not reused; recover_partial() can salvage it', session_name, partial)

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

    def start_episode(self, task: str = '', instruction: str = '',
                      notes: str = '') -> EpisodeWriter:
        """Open the next episode's bag (in its .partial dir) with the session's topics."""
        if self.episode is not None:
            raise RecordingError(f'{self.session_dir}: episode {self._episode_index} is still '
                                 'recording; stop or discard it first')
        index = self.next_index
        partial = self._partial_dir(index)
        partial.mkdir()
        metadata = EpisodeMetadata(
            session=self.session_name, episode_index=index, task=task, instruction=instruction,
            operator=self.operator, embodiment=self.embodiment, robot_model=self.robot_model,
            software_version=self.software_version, start_time_ns=time.time_ns(), notes=notes)
        episode = EpisodeWriter(partial / episode_dir_name(index), metadata, self.typestore,
                                self.max_queue_messages)
        for spec in self.topics:
            episode.add_topic(spec.topic, spec.msgtype, spec.rate_hz, spec.qos)
        # Written after the topics so a SIGKILLed episode still knows its configured rates.
        (partial / PARTIAL_METADATA_FILE).write_text(metadata.to_json())
        self.episode, self._episode_index = episode, index
        return episode

    def write(self, topic: str, timestamp_ns: int, data: bytes) -> bool:
        """Hand a message to the current episode; False if none is recording or it was dropped."""
        episode = self.episode
        return episode.write(topic, timestamp_ns, data) if episode is not None else False

    def _save(self, success: bool | None, complete: bool) -> Path:
        episode, index = self.episode, self._episode_index
        assert episode is not None
        self.episode = None
        partial = self._partial_dir(index)
        final = self.session_dir / episode_dir_name(index)
        try:
            episode.close(success=success, complete=complete)
        finally:
            # Only a bag with metadata.yaml leaves .partial; a failed close stays marked.
            if (episode.bag_dir / 'metadata.yaml').is_file():
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
        episode.abort()
        shutil.rmtree(self._partial_dir(self._episode_index))

    def saved_episodes(self) -> list[Path]:
        """Finished episode directories, in index order."""
        return list_episodes(self.session_dir)

    def list_incomplete(self) -> list[Path]:
        """``.partial`` directories other than the one being recorded now."""
        current = self._partial_dir(self._episode_index) if self.episode else None
        return [p for p in list_partial_episodes(self.session_dir) if p != current]

    def recover_incomplete(self) -> list[Path]:
        """Salvage every killed episode (see ``recover_partial``); return the saved dirs."""
        recovered = []
        for partial in self.list_incomplete():
            try:
                recovered.append(recover_partial(partial, self.typestore))
            except RecordingError as exc:
                log.warning('session %s: left %s as is: %s', self.session_name, partial, exc)
        return recovered

    # -- live stats -------------------------------------------------------------------------

    def stats(self) -> list[StreamStats]:
        """Per-stream counters of the current episode (empty when idle)."""
        return list(self.episode.streams.values()) if self.episode else []

    def rate_warnings(self, min_fraction: float = 0.9) -> list[str]:
        """Streams of the current episode below ``min_fraction`` of their configured rate."""
        return rate_warnings(self.stats(), min_fraction)

    def describe(self) -> dict:
        """Session state for a status message."""
        return {'session_dir': str(self.session_dir), 'recording': self.is_recording,
                'episode_index': self._episode_index if self.episode else None,
                'saved': len(self.saved_episodes()), 'incomplete': len(self.list_incomplete()),
                'streams': [s.as_dict() for s in self.stats()],
                'metadata': asdict(self.episode.metadata) if self.episode else None}
