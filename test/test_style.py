# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The checks ament_lint would run on a ROS Python package: flake8/pep257 (via ruff), copyright."""
from pathlib import Path
import subprocess
import sys

REPO = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ('lam_ros', 'lam_models', 'launch', 'test', 'bench', 'tools')
HEADER = ('# Copyright 2026 lam_ros contributors', '# SPDX-License-Identifier: Apache-2.0')


def python_files():
    files = [REPO / 'setup.py']
    for folder in SOURCE_DIRS:
        files += sorted((REPO / folder).rglob('*.py'))
    return [f for f in files if '.venv' not in f.parts]


def test_ruff_lint_passes():
    result = subprocess.run([sys.executable, '-m', 'ruff', 'check', '--no-cache',
                             *map(str, python_files())],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_python_file_has_the_copyright_header():
    missing = [str(f.relative_to(REPO)) for f in python_files()
               if tuple(f.read_text().splitlines()[:2]) != HEADER]
    assert not missing, f'files without the two-line copyright header: {missing}'


def test_lam_models_never_imports_ros():
    offenders = []
    for path in (REPO / 'lam_models').rglob('*.py'):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith(('import rclpy', 'from rclpy', 'import lam_ros',
                                    'from lam_ros')):
                offenders.append(f'{path.relative_to(REPO)}:{number}')
    assert not offenders, offenders
