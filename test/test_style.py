# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""ament_lint's checks (flake8/pep257 via ruff, copyright) and the house's layout rules."""
import ast
from pathlib import Path
import re
import subprocess
import sys

import pytest

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


# ---------------------------------------------------------------- the house's own rules
TOPIC_CALLS = {'create_publisher', 'create_subscription', 'create_service', 'create_client'}
TOPIC_OWNER = REPO / 'lam_ros' / 'interfaces' / 'topics.py'


def _topic_literals(path: Path) -> list[str]:
    """Topic/service names written as literals: in a pub/sub/service call, or a /lam/... string."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, 'attr', None) in TOPIC_CALLS \
                and len(node.args) >= 2 and isinstance(node.args[1], (ast.Constant, ast.JoinedStr)):
            found.append(f'{path.relative_to(REPO)}:{node.lineno} {ast.unparse(node.args[1])}')
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                re.match(r'^/(lam|sim|recorder|arm|joy|diagnostics)(/|$)', node.value):
            found.append(f'{path.relative_to(REPO)}:{node.lineno} {node.value!r}')
    return found


def test_topic_names_are_written_only_in_the_topics_module():
    offenders = [hit for path in (REPO / 'lam_ros').rglob('*.py') if path != TOPIC_OWNER
                 for hit in _topic_literals(path)]
    assert not offenders, f'topic names belong in lam_ros/interfaces/topics.py: {offenders}'


def test_the_bag_readers_default_topics_are_the_graphs():
    from lam_models.data import bags
    from lam_ros.interfaces import topics

    assert bags.DEFAULT_CAMERA_TOPIC == topics.camera_topics('camera')['color']
    assert bags.DEFAULT_ACTION_TOPIC == topics.ACTION


def test_the_graphs_sim_cameras_are_the_simulators():
    from lam_ros.app.graph import SIM_POLICY_CAMERAS
    from lam_ros.sim.scene import CAMERA_NAMES

    assert sorted(SIM_POLICY_CAMERAS) == sorted(CAMERA_NAMES)


def test_the_lam_ros_root_holds_only_the_packages_face():
    loose = sorted(p.name for p in (REPO / 'lam_ros').glob('*.py') if p.name != '__init__.py')
    assert not loose, f'modules at the lam_ros/ root (put them in a sub-package by role): {loose}'


def _architecture_folders() -> set[str]:
    text = (REPO / 'ARCHITECTURE.md').read_text()
    table = text[text.index('| folder |'):text.index('\n\n', text.index('| folder |'))]
    return {cell for row in table.splitlines()[2:]
            for cell in re.findall(r'`([\w./-]+/)`', row.split('|')[1])}


def _tree_folders() -> set[str]:
    """Top-level folders in git, with lam_ros/ and lam_models/ shown by their sub-packages."""
    tracked = subprocess.run(['git', 'ls-files'], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    folders = set()
    for path in tracked:
        parts = path.split('/')
        if len(parts) < 2 or parts[0].startswith('.'):
            continue
        if parts[0] in ('lam_ros', 'lam_models'):
            if len(parts) > 2:
                folders.add(f'{parts[0]}/{parts[1]}/')
        else:
            folders.add(f'{parts[0]}/')
    return folders


def test_architecture_table_lists_exactly_the_folders_of_the_tree():
    documented, tree = _architecture_folders(), _tree_folders()
    assert documented == tree, (f'in ARCHITECTURE.md only: {sorted(documented - tree)}; '
                                f'in the tree only: {sorted(tree - documented)}')


@pytest.mark.parametrize('graph', ['collect', 'deploy'])
def test_every_key_of_the_parameter_files_is_declared_by_its_node(rclpy_context, graph):
    from lam_ros.app.cli import node_class
    from lam_ros.app.graph import load_params_file
    from lam_ros.app.runtime import check_declared, overrides

    path = REPO / 'config' / f'{graph}.yaml'
    params = load_params_file(str(path))
    nodes = []
    try:
        for name, section in params.items():
            if name == '**':
                continue
            # the keyboard teleop (the node's default device) needs a terminal, which pytest's
            # stdin is not
            device = {'device': 'scripted'} if name == 'teleop' else {}
            nodes.append(node_class(name)(context=rclpy_context, parameter_overrides=overrides(
                {**params.get('**', {}), **section, **device})))
            undeclared = [key for key in section if not nodes[-1].has_parameter(key)]
            assert not undeclared, f'{path}: node {name!r} does not declare {undeclared}'
        check_declared(nodes, params, str(path))   # the runner's check agrees
    finally:
        for node in nodes:
            node.on_shutdown()
            node.destroy_node()


def test_the_workspace_box_is_refused_in_one_nodes_section_and_an_unknown_shared_key_too(
        rclpy_context):
    """Set under arm: only, the controller and teleop would plan in a box the arm refuses."""
    from lam_ros.app.runtime import ConfigError, check_declared
    from lam_ros.nodes.arm_node import ArmNode

    node = ArmNode(context=rclpy_context)
    try:
        box = {'workspace_min': [0.12, -0.2, 0.05]}
        check_declared([node], {'**': box, 'arm': {'max_step_rad': 0.1}}, 'deploy.yaml')
        with pytest.raises(ConfigError, match=r"deploy.yaml: set \['workspace_min'\] under "
                                              r"/\*\* \(for every node\), not under 'arm'"):
            check_declared([node], {'arm': box}, 'deploy.yaml')
        with pytest.raises(ConfigError, match=r"deploy.yaml: no node has parameter\(s\) "
                                              r"\['workspace_mim'\] \(section /\*\*\)"):
            check_declared([node], {'**': {'workspace_mim': [0, 0, 0]}}, 'deploy.yaml')
    finally:
        node.on_shutdown()
        node.destroy_node()
