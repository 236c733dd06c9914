# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""bench/latent_metrics.py end to end in its --quick mode (about a minute on 2 cores)."""
import os
from pathlib import Path
import re
import subprocess
import sys

ROOT = Path(__file__).resolve().parents[1]


def test_latent_bench_quick_runs_from_a_fresh_output_directory(tmp_path):
    out = tmp_path / 'fresh' / 'bench'        # nothing of it exists yet: the cache is made
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'MUJOCO_GL': os.environ.get('MUJOCO_GL',
                                                                            'egl')}
    result = subprocess.run([sys.executable, 'bench/latent_metrics.py', '--quick', '--out',
                             str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert re.fullmatch(r'latent targets met: \d of 6', lines[-1]), lines[-1]
    header = next(line for line in lines if line.startswith('metric'))
    assert 'supervised z32' in header and 'pixdiff z32' in header
    # the label-trained reference has no decoder: no reconstruction numbers, said so
    assert any(line.startswith('reference') and 'n/a (no decoder)' in line for line in lines)
    assert list((out / 'cache').glob('*.h5'))
