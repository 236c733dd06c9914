# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The ego view both embodiments share, and the per-episode appearance randomization."""
import mujoco
import numpy as np
import pytest

from lam_ros.control.kinematics import FINGER_CLOSED, FINGER_OPEN, top_down_rotation
from lam_ros.sim import WidowXEnv, WidowXSim, generate_episode, make_task, solve_ik
from lam_ros.sim.appearance import sample_appearance
from lam_ros.sim.scene import AVATAR_FINGER, HAND_FINGER_OPEN, HAND_FINGER_TOUCH, build_model

SIZE = 64
# Workspace points (base frame): near right, centre on the table, far left, high left.
POINTS = ([0.15, -0.2, 0.05], [0.3, 0.0, 0.03], [0.42, 0.2, 0.1], [0.2, 0.25, 0.2])


@pytest.fixture(scope='module')
def envs():
    robot = WidowXEnv('push', camera=None)
    human = WidowXEnv('push', embodiment='human', camera=None)
    yield robot, human
    robot.close()
    human.close()


def project(sim: WidowXSim, point) -> np.ndarray | None:
    """Pixel (u, v) of a world point in the ego image, None behind the camera."""
    pose = sim.camera_pose('ego')
    local = pose[:3, :3].T @ (np.asarray(point, dtype=float) - pose[:3, 3])
    optical = np.array([local[0], -local[1], -local[2]])   # MuJoCo camera -> ROS optical
    if optical[2] <= 0.01:
        return None
    return (sim.camera_info('ego', SIZE, SIZE).k @ (optical / optical[2]))[:2]


def in_frame(uv) -> bool:
    return uv is not None and 0 <= uv[0] < SIZE and 0 <= uv[1] < SIZE


def entry(sim: WidowXSim, chain) -> np.ndarray:
    """Where an arm (points from its effector back to its root) enters the image."""
    last = None
    for start, end in zip(chain[:-1], chain[1:]):
        for t in np.linspace(0.0, 1.0, 30):
            uv = project(sim, (1 - t) * np.asarray(start) + t * np.asarray(end))
            if not in_frame(uv):
                return last
            last = uv
    return last


def put_arm(sim: WidowXSim, point) -> None:
    pose = np.eye(4)
    pose[:3, :3] = top_down_rotation(0.0)
    pose[:3, 3] = point
    q, ok = solve_ik(sim.spec, pose, np.array([0.0, -0.2, 0.4, 0.0, 1.3, 0.0]))
    assert ok
    sim.reset(q)


def changed_near(sim: WidowXSim, visible: str, uv, radius: int = 3) -> int:
    """Pixels around ``uv`` that differ between the scene with and without the effector."""
    sim.visible = visible
    with_effector = sim.render('ego', SIZE, SIZE).astype(int)
    sim.visible = 'robot' if visible == 'human' else 'human'   # hand parked / arm hidden
    without = sim.render('ego', SIZE, SIZE).astype(int)
    sim.visible = visible
    u, v = np.round(uv).astype(int)
    window = np.s_[max(v - radius, 0):v + radius + 1, max(u - radius, 0):u + radius + 1]
    return int((np.abs(with_effector - without)[window].sum(axis=-1) > 30).sum())


@pytest.mark.parametrize('seed', [0, 7])
def test_ego_sees_gripper_and_hand_reaching_in_from_the_same_side(envs, seed):
    robot, human = envs
    robot.reset(seed=seed)
    human.reset(seed=seed)
    for point in POINTS:
        put_arm(robot.sim, point)
        human.sim.set_hand(np.array(point), 0.0, 1.0, teleport=True)
        mujoco.mj_forward(human.sim.model, human.sim.data)
        ee = robot.sim.ee_pose()[:3, 3]
        tcp = human.sim.hand_pose()[0]
        ee_uv, tcp_uv = project(robot.sim, ee), project(human.sim, tcp)
        assert in_frame(ee_uv) and in_frame(tcp_uv), (point, ee_uv, tcp_uv)
        assert changed_near(robot.sim, 'robot', ee_uv) > 0, point
        assert changed_near(human.sim, 'human', tcp_uv) > 0, point
        # The arm comes in from the robot base behind the workspace, and so does the human's.
        body = robot.sim.data.xpos
        names = ('wrist_link', 'upper_forearm_link', 'upper_arm_link', 'shoulder_link')
        robot_chain = [ee, *(body[robot.sim._body(n)] for n in names), np.zeros(3)]
        robot_in, human_in = entry(robot.sim, robot_chain), entry(
            human.sim, [tcp, *human.sim.hand_arm()])
        assert robot_in[0] < SIZE / 2 and human_in[0] < SIZE / 2, (point, robot_in, human_in)
        assert (robot_in - ee_uv) @ (human_in - tcp_uv) > 0, (point, robot_in, human_in)


def test_seeds_change_the_look_and_the_same_seed_repeats_it(envs):
    robot, _ = envs
    looks = []
    for seed in (3, 4, 3):
        robot.reset(seed=seed)
        model = robot.sim.model
        looks.append((robot.render(), robot.sim.camera_pose('ego'),
                      model.geom_rgba.copy(), model.light_dir.copy(), model.light_diffuse.copy()))
    (first, pose, rgba, light, diffuse), other, again = looks
    assert np.array_equal(first, again[0]) and np.array_equal(pose, again[1])
    assert not np.array_equal(first, other[0])
    assert np.linalg.norm(pose[:3, 3] - other[1][:3, 3]) > 1e-3
    assert not np.allclose(rgba, other[2]) and not np.allclose(light, other[3])
    assert not np.allclose(diffuse, other[4])


def test_robot_and_human_episodes_of_a_seed_share_camera_pose_and_look(envs):
    robot, human = envs
    for seed in (5, 6):
        robot.reset(seed=seed)
        human.reset(seed=seed)
        assert np.array_equal(robot.sim.camera_pose('ego'), human.sim.camera_pose('ego'))
        assert robot.sim.appearance == human.sim.appearance == sample_appearance(seed)
    robot.reset(seed=5)
    assert not np.array_equal(robot.sim.camera_pose('ego'), human.sim.camera_pose('ego'))


def test_head_jitters_a_few_centimetres_and_drifts_smoothly(envs):
    robot, _ = envs
    default = WidowXSim('wx250s', make_task('push').objects)
    nominal = default.camera_pose('ego')
    default.close()
    robot.reset(seed=2)
    poses = [robot.sim.camera_pose('ego')]
    for _ in range(30):
        robot.step(np.array([0, 0, 0, 0, 0, 0, 1.0]))
        poses.append(robot.sim.camera_pose('ego'))
    for pose in poses:
        shift = np.linalg.norm(pose[:3, 3] - nominal[:3, 3])
        turn = np.degrees(np.arccos(np.clip((np.trace(pose[:3, :3].T @ nominal[:3, :3]) - 1)
                                            / 2, -1, 1)))
        assert shift < 0.07 and turn < 7.0, (shift, turn)
    steps = [np.linalg.norm(b[:3, 3] - a[:3, 3]) for a, b in zip(poses, poses[1:])]
    assert 0 < max(steps) < 0.004                      # smooth: < 4 mm per 0.1 s
    assert np.linalg.norm(poses[-1][:3, 3] - poses[0][:3, 3]) > 5e-4   # but it moves


def test_randomization_off_is_the_default_look():
    sim = WidowXSim('wx250s', make_task('push').objects)
    before = sim.render('ego', SIZE, SIZE), sim.render('third_person', SIZE, SIZE)
    sim.set_appearance(sample_appearance(11))
    assert not np.array_equal(sim.render('ego', SIZE, SIZE), before[0])
    sim.set_appearance(None)
    assert np.array_equal(sim.render('ego', SIZE, SIZE), before[0])
    assert np.array_equal(sim.render('third_person', SIZE, SIZE), before[1])
    compiled = build_model('wx250s', make_task('push').objects)
    for field in ('geom_rgba', 'geom_matid', 'mat_rgba', 'light_dir', 'light_diffuse',
                  'cam_pos', 'cam_quat'):
        assert np.array_equal(getattr(sim.model, field), getattr(compiled, field)), field
    sim.close()


def test_a_lab_look_draws_the_person_and_keeps_the_robots_room_and_camera():
    sim = WidowXSim('wx250s', make_task('push').objects)
    compiled = build_model('wx250s', make_task('push').objects)
    lab, anywhere = sample_appearance(11, lab=True), sample_appearance(11)
    assert lab.room is None and lab.head is None and (lab.forearm_rgb, lab.effector_rgb) == \
        (anywhere.forearm_rgb, anywhere.effector_rgb)   # the same person
    sim.set_appearance(anywhere)        # a shared sim: the last episode's room goes away
    sim.set_appearance(lab)
    for field in ('geom_matid', 'mat_rgba', 'light_dir', 'light_diffuse', 'cam_pos',
                  'cam_quat'):
        assert np.array_equal(getattr(sim.model, field), getattr(compiled, field)), field
    assert not np.array_equal(sim.model.geom_rgba, compiled.geom_rgba)   # sleeve and skin
    sim.close()


def test_randomization_changes_the_pictures_not_the_demonstration():
    on = generate_episode('push', seed=9, image_size=32)
    off = generate_episode('push', seed=9, image_size=32, randomize=False)
    assert on.metadata['camera'] == 'ego' and on.metadata['randomized']
    assert np.array_equal(on.actions, off.actions)
    assert not np.array_equal(on.frames[0], off.frames[0])


def test_the_avatar_draws_gripper_and_hand_alike_and_hides_whose_it_is():
    """Same effector pose, same pixels with the avatar; the arm and the hand differ without."""
    frames = {}
    for avatar in (False, True):
        for embodiment in ('robot', 'human'):
            env = WidowXEnv('pick_place', embodiment=embodiment, image_size=SIZE,
                            randomize=False, avatar=avatar)
            env.reset(seed=3)
            if embodiment == 'robot':
                tcp, axis, half_space = env.sim.effector_fingers()
            else:   # the hand to the gripper's fingertips, finger axis and finger space
                yaw = np.arctan2(axis[1], axis[0]) - np.pi / 2
                opening = half_space / (HAND_FINGER_OPEN - HAND_FINGER_TOUCH)
                env.sim.set_hand(tcp, yaw, opening, teleport=True)
                mujoco.mj_forward(env.sim.model, env.sim.data)
                hand_tcp, hand_axis, hand_space = env.sim.effector_fingers()
                np.testing.assert_allclose(hand_tcp, tcp, atol=2e-3)
                assert abs(hand_axis @ axis) > 0.99 and abs(hand_space - half_space) < 5e-4
            frames[embodiment, avatar] = env.render().astype(float)
            env.close()
    seen = np.abs(frames['robot', False] - frames['human', False]).mean()
    hidden = np.abs(frames['robot', True] - frames['human', True]).mean()
    assert seen > 5.0 and hidden < 0.5, (seen, hidden)
    # the avatar is drawn, and where the effector is: its orange lies around the projected tcp
    sim = WidowXSim('wx250s', make_task('pick_place').objects)
    u, v = np.round(project(sim, tcp)).astype(int)
    sim.close()
    for (embodiment, avatar), frame in frames.items():
        red, green, blue = frame[..., 0], frame[..., 1], frame[..., 2]
        orange = ((red > 150) & (green > 0.35 * red) & (green < 0.8 * red) & (blue < 0.35 * red))
        if not avatar:
            assert not orange.any(), embodiment
            continue
        rows, cols = np.nonzero(orange)
        assert len(rows) >= 10, embodiment
        assert (rows >= v - 8).all() and (rows <= v + 1).all(), (embodiment, rows, v)
        assert (abs(cols - u) <= 5).all(), (embodiment, cols, u)


def _facing_half_space(sim: WidowXSim, geoms: list[int], half_width_axis: int) -> float:
    """Half the space between two finger geoms' facing surfaces, where MuJoCo put them."""
    a, b = (sim.data.geom_xpos[g] for g in geoms)
    return float(np.linalg.norm((a - b)[:2])) / 2 - sim.model.geom_size[geoms[0]][half_width_axis]


@pytest.mark.parametrize('embodiment', ['robot', 'human'])
def test_the_avatars_finger_space_is_the_effectors_own_in_metres(embodiment):
    """A block held by the gripper (opening ~0.57) and by the hand (~0.3) is one finger gap."""
    sim = WidowXSim('wx250s', make_task('pick_place').objects)
    sim.visible = embodiment
    if embodiment == 'robot':   # the pads: boxes whose y half-size is their thickness
        geoms, axis = [sim.model.body(n).geomadr[0] for n in ('left_finger_link',
                                                             'right_finger_link')], 1
        span = FINGER_OPEN - FINGER_CLOSED
    else:                       # the fingertips: capsules, their radius
        geoms, axis = [sim.model.geom(n).id for n in ('hand_index', 'hand_thumb')], 0
        span = HAND_FINGER_OPEN - HAND_FINGER_TOUCH
    for half_space in (0.0125, 0.004, 0.02):   # half a block, nearly shut, nearly open
        sim.reset(gripper_opening=half_space / (FINGER_OPEN - FINGER_CLOSED))
        if embodiment == 'human':
            sim.set_hand(sim.hand_pose()[0], 0.0, half_space / span, teleport=True)
            mujoco.mj_forward(sim.model, sim.data)
        assert abs(_facing_half_space(sim, geoms, axis) - half_space) < 5e-4
        assert abs(sim.effector_fingers()[2] - half_space) < 5e-4, (embodiment, half_space)
        sim._pose_avatar()   # what render does: the avatar's inner faces that far apart
        finger_a, finger_b = (sim.data.geom_xpos[sim.model.geom(name).id]
                              for name in ('avatar_finger_a', 'avatar_finger_b'))
        assert abs(np.linalg.norm(finger_a - finger_b) / 2 - AVATAR_FINGER[1]
                   - half_space) < 5e-4
    if embodiment == 'human':   # opens wider than the gripper can: drawn as wide
        sim.set_hand(sim.hand_pose()[0], 0.0, 1.0, teleport=True)
        mujoco.mj_forward(sim.model, sim.data)
        assert sim.effector_fingers()[2] == pytest.approx(FINGER_OPEN - FINGER_CLOSED)
    sim.close()
