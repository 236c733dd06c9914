# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Where the package's shared files live: a source checkout, a pip prefix or a colcon install."""
from __future__ import annotations

import os
from pathlib import Path
import sys

PACKAGE = 'lam_ros'


def share_dir() -> Path:
    """Directory holding ``config/`` and ``launch/`` (the ament share directory when installed)."""
    source_root = Path(__file__).resolve().parents[2]
    if (source_root / 'package.xml').is_file() and (source_root / 'config').is_dir():
        return source_root
    prefixes = [sys.prefix] + os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep)
    for prefix in filter(None, prefixes):
        candidate = Path(prefix) / 'share' / PACKAGE
        if (candidate / 'config').is_dir():
            return candidate
    raise FileNotFoundError(f'cannot find share/{PACKAGE}/config under {prefixes}')


def config_file(name: str) -> Path:
    """A file under ``config/``, e.g. ``collect.yaml``."""
    return share_dir() / 'config' / name
