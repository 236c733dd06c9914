# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""ament_python package setup for lam_ros (and its pure-Python lam_models).

``ros2 run`` looks for executables in ``<prefix>/lib/lam_ros``. colcon gets
there through setup.cfg's install_scripts, which pip ignores, so the node
wrappers are also shipped as data files: both installs end up with them.
"""
from glob import glob
import os
import runpy
import sys

from setuptools import find_packages, setup

PACKAGE = 'lam_ros'
HERE = os.path.dirname(os.path.abspath(__file__))
NODE_EXECUTABLES = runpy.run_path(
    os.path.join(HERE, 'lam_ros', 'app', 'executables.py'))['NODE_EXECUTABLES']


def node_wrappers() -> list[str]:
    """Write one tiny launcher per node, run by the interpreter doing the install."""
    out_dir = os.path.join('build', 'ros_executables')
    os.makedirs(os.path.join(HERE, out_dir), exist_ok=True)
    paths = []
    for name, entry in sorted(NODE_EXECUTABLES.items()):
        module, func = entry.split(':')
        path = os.path.join(out_dir, name)
        with open(os.path.join(HERE, path), 'w') as f:
            f.write(f'#!{sys.executable}\n'
                    f'import sys\nfrom {module} import {func}\nsys.exit({func}())\n')
        os.chmod(os.path.join(HERE, path), 0o755)
        paths.append(path)
    return paths


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(include=['lam_ros', 'lam_ros.*', 'lam_models', 'lam_models.*']),
    package_data={'lam_ros': ['sim/assets/*', 'sim/assets/**/*']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', glob('launch/*.launch.py')),
        ('share/' + PACKAGE + '/config', glob('config/*.yaml') + glob('config/*.xml')),
        ('share/' + PACKAGE + '/config/latent', glob('config/latent/*.yaml')),
        ('share/' + PACKAGE + '/config/policy', glob('config/policy/*.yaml')),
        ('lib/' + PACKAGE, node_wrappers()),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='lam_ros maintainers',
    maintainer_email='lam-ros@example.org',
    description='Teach an Interbotix WidowX from human demonstrations with latent motion models.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'lam-ros = lam_ros.app.cli:main',
        ],
    },
)
