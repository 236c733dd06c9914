# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""WidowXSim: the thread-free simulated arm a ROS node (or a gym env) owns and steps."""
from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Literal

import mujoco
import numpy as np

from lam_ros.control.kinematics import (
    EE_SITE,
    FINGER_CLOSED,
    FINGER_JOINTS,
    FINGER_OPEN,
    robot_spec,
)
from lam_ros.hardware.camera_source import CameraIntrinsics
from lam_ros.sim.appearance import Appearance
from lam_ros.sim.cameras import camera_info_from_fovy
from lam_ros.sim.scene import (
    ARM_GROUP,
    AVATAR_FINGER,
    AVATAR_GROUP,
    AVATAR_PALM_HEIGHT,
    CAMERA_NAMES,
    EGO_CAMERA,
    FOREARM_LENGTH,
    HAND_FINGER_OPEN,
    HAND_FINGER_TOUCH,
    HAND_GROUP,
    HAND_ORIGIN,
    HAND_PARK,
    HAND_WRIST,
    SHOULDER_FROM_EYES,
    TABLE_TEXTURES,
    UPPER_ARM_LENGTH,
    SceneObject,
    build_model,
)

Visible = Literal['robot', 'human', 'both']
HAND_JOINTS = ('hand_x', 'hand_y', 'hand_z', 'hand_yaw', 'hand_thumb', 'hand_index')


@dataclass(frozen=True)
class JointLimit:
    """Position (rad or m) and velocity limits of one joint, as get_robot_info reports them."""

    lower: float
    upper: float
    velocity: float


class WidowXSim:
    """A WidowX on a table with task objects and a (hidden) human hand.

    No threads, no ROS: the owner calls :meth:`set_joint_targets` and :meth:`step` at its own
    rate. Joint targets go to Dynamixel-like position servos; ``left_finger`` is the gripper
    (``right_finger`` mirrors it, as the Interbotix mimic joint does).
    """

    def __init__(self, robot_model: str = 'wx250s', objects: tuple[SceneObject, ...] = (),
                 arm_source: Literal['builtin', 'menagerie'] = 'builtin') -> None:
        self.spec = robot_spec(robot_model)
        self.model = build_model(robot_model, tuple(objects), arm_source)
        self.data = mujoco.MjData(self.model)
        self.objects = {o.name: o for o in objects}
        self.arm_joint_names = self.spec.joints
        self.joint_names = (*self.spec.joints, *FINGER_JOINTS)
        self.joint_limits = {
            **{j: JointLimit(lo, hi, v) for j, lo, hi, v in zip(
                self.spec.joints, self.spec.lower, self.spec.upper, self.spec.velocity)},
            'left_finger': JointLimit(FINGER_CLOSED, FINGER_OPEN, 1.0),
            'right_finger': JointLimit(-FINGER_OPEN, -FINGER_CLOSED, 1.0),
        }
        self._qpos = np.array([self._joint(j, 'qposadr') for j in self.joint_names])
        self._qvel = np.array([self._joint(j, 'dofadr') for j in self.joint_names])
        self._act = np.array([self._actuator(j) for j in self.joint_names])
        self._hand_qpos = np.array([self._joint(j, 'qposadr') for j in HAND_JOINTS])
        self._hand_act = np.array([self._actuator(j) for j in HAND_JOINTS])
        self._ee_site = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, EE_SITE)
        self._hand_site = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, 'hand_tcp')
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._scene_option = mujoco.MjvOption()
        self.visible: Visible = 'robot'
        self.avatar = False   # draw the visible embodiment as the avatar (scene._avatar_xml)
        self._ego = self._camera(EGO_CAMERA)
        self._hand_body = self._body('hand')
        self._arm_links = [mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, name)
                           for name in ('hand_forearm', 'hand_upper_arm')]
        self._roles = self._geom_roles()
        self._avatar_geoms = [mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, name)
                              for name in ('avatar_finger_a', 'avatar_finger_b', 'avatar_palm',
                                           'avatar_mark')]
        self._table_materials = {
            texture: mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_MATERIAL, f'table_{texture}')
            for texture in TABLE_TEXTURES if texture != 'plain'}
        self._light = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_LIGHT, 'top')
        self._default_look = self._look()
        self.appearance: Appearance | None = None
        self.reset()

    # ----------------------------------------------------------------- lookup helpers
    def _joint(self, name: str, field: str) -> int:
        joint_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, name)
        if joint_id < 0:
            raise ValueError(f'sim model has no joint {name!r}')
        return int(getattr(self.model, f'jnt_{field}')[joint_id])

    def _actuator(self, joint_name: str) -> int:
        joint_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, joint_name)
        for actuator_id in range(self.model.nu):
            if self.model.actuator_trnid[actuator_id, 0] == joint_id:
                return actuator_id
        raise ValueError(f'sim model has no actuator driving joint {joint_name!r}')

    def _body(self, name: str) -> int:
        body_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, name)
        if body_id < 0:
            raise ValueError(f'sim model has no body {name!r}; objects: {sorted(self.objects)}')
        return body_id

    def _geom_roles(self) -> dict[str, np.ndarray]:
        """Geom ids whose colour an :class:`Appearance` sets: forearm, effector, table."""
        model = self.model
        base = self._body('base_link')
        effector_root = model.jnt_bodyid[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT,
                                                           'wrist_rotate')]

        def under(body: int, root: int) -> bool:
            while body not in (root, 0):
                body = model.body_parentid[body]
            return body == root

        arm = [g for g in range(model.ngeom) if under(model.geom_bodyid[g], base)]
        gripper = [g for g in arm if under(model.geom_bodyid[g], effector_root)]

        def geom(name: str) -> int:
            return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name)
        return {
            'forearm': np.array([g for g in arm if g not in gripper]
                                + [geom('hand_forearm'), geom('hand_upper_arm')]),
            'effector': np.array(gripper + [geom(f'hand_{n}') for n in (
                'palm', 'wrist', 'thumb', 'index')]),
            'table': np.array([geom('table')]),
        }

    def _look(self) -> dict[str, np.ndarray]:
        """Copies of the model fields :meth:`set_appearance` writes."""
        model = self.model
        return {'geom_rgba': model.geom_rgba.copy(), 'geom_matid': model.geom_matid.copy(),
                'mat_rgba': model.mat_rgba.copy(), 'light_dir': model.light_dir.copy(),
                'light_diffuse': model.light_diffuse.copy(),
                'headlight_ambient': model.vis.headlight.ambient.copy(),
                'headlight_diffuse': model.vis.headlight.diffuse.copy(),
                'ego_pos': model.cam_pos[self._ego].copy(),
                'ego_quat': model.cam_quat[self._ego].copy()}

    def set_appearance(self, appearance: Appearance | None) -> None:
        """Colours, table, lights and head motion of this episode; None: the default look.

        Only model fields change (no recompilation), so it is cheap at every reset.
        """
        model, look = self.model, self._default_look
        for field in ('geom_rgba', 'geom_matid', 'mat_rgba', 'light_dir', 'light_diffuse'):
            getattr(model, field)[:] = look[field]
        model.vis.headlight.ambient[:] = look['headlight_ambient']
        model.vis.headlight.diffuse[:] = look['headlight_diffuse']
        self.appearance = appearance
        if appearance is not None:
            model.geom_rgba[self._roles['forearm'], :3] = appearance.forearm_rgb
            model.geom_rgba[self._roles['effector'], :3] = appearance.effector_rgb
        room = appearance.room if appearance is not None else None
        if room is not None:
            table = self._roles['table']
            if room.table_texture == 'plain':
                model.geom_rgba[table, :3] = room.table_rgb
            else:
                material = self._table_materials[room.table_texture]
                model.geom_matid[table] = material
                model.mat_rgba[material, :3] = room.table_rgb
            model.light_dir[self._light] = room.light_dir
            model.light_diffuse[self._light] = room.light_diffuse
            model.vis.headlight.ambient[:] = room.headlight_ambient
            model.vis.headlight.diffuse[:] = room.headlight_diffuse
        self._move_head()

    def _move_head(self) -> None:
        """Put the ego camera where the head is at the current sim time."""
        pos, quat = self._default_look['ego_pos'], self._default_look['ego_quat']
        if self.appearance is not None and self.appearance.head is not None:
            offset, rotation = self.appearance.head.offset(self.data.time)
            pos = pos + offset
            angle = float(np.linalg.norm(rotation))
            if angle > 0.0:
                turn = np.zeros(4)
                mujoco.mju_axisAngle2Quat(turn, rotation / angle, angle)
                moved = np.zeros(4)
                mujoco.mju_mulQuat(moved, quat, turn)   # about the camera's own axes
                quat = moved
        self.model.cam_pos[self._ego] = pos
        self.model.cam_quat[self._ego] = quat
        mujoco.mj_camlight(self.model, self.data)

    # ----------------------------------------------------------------- state
    def reset(self, arm_q: np.ndarray | None = None, gripper_opening: float = 1.0) -> None:
        """Zero time and velocities, put the arm at ``arm_q`` (default: sleep), park the hand."""
        mujoco.mj_resetData(self.model, self.data)
        q = np.asarray(self.spec.sleep if arm_q is None else arm_q, dtype=float)
        finger = FINGER_CLOSED + gripper_opening * (FINGER_OPEN - FINGER_CLOSED)
        self.data.qpos[self._qpos] = [*q, finger, -finger]
        self.data.ctrl[self._act] = [*q, finger, -finger]
        self.set_hand(HAND_PARK + HAND_ORIGIN, 0.0, 1.0, teleport=True)
        mujoco.mj_forward(self.model, self.data)
        self._move_head()

    @property
    def sim_time(self) -> float:
        """Simulated seconds since the last reset."""
        return float(self.data.time)

    @property
    def timestep(self) -> float:
        """Physics step (s)."""
        return float(self.model.opt.timestep)

    def joint_positions(self) -> np.ndarray:
        """Positions of ``joint_names`` (rad; fingers in m)."""
        return self.data.qpos[self._qpos].copy()

    def joint_velocities(self) -> np.ndarray:
        """Velocities of ``joint_names``."""
        return self.data.qvel[self._qvel].copy()

    def joint_efforts(self) -> np.ndarray:
        """Servo torques/forces of ``joint_names`` (N m; fingers N)."""
        return self.data.actuator_force[self._act].copy()

    def set_joint_targets(self, q: np.ndarray) -> None:
        """Servo targets: arm joints, then ``left_finger`` (m); clipped to the joint limits."""
        q = np.asarray(q, dtype=float)
        n = len(self.arm_joint_names) + 1
        if q.shape != (n,) or not np.all(np.isfinite(q)):
            raise ValueError(f'joint targets must be {n} finite values '
                             f'({", ".join(self.arm_joint_names)}, left_finger), got {q}')
        lower = [self.joint_limits[j].lower for j in (*self.arm_joint_names, 'left_finger')]
        upper = [self.joint_limits[j].upper for j in (*self.arm_joint_names, 'left_finger')]
        q = np.clip(q, lower, upper)
        self.data.ctrl[self._act] = [*q, -q[-1]]

    def joint_targets(self) -> np.ndarray:
        """The servo targets last set (arm joints, then left_finger)."""
        return self.data.ctrl[self._act[:-1]].copy()

    def step(self, duration: float | None = None) -> None:
        """Advance physics by ``duration`` seconds (one physics step when None)."""
        n_steps = 1 if duration is None else max(1, round(duration / self.timestep))
        mujoco.mj_step(self.model, self.data, nstep=n_steps)
        if self.appearance is not None:
            self._move_head()

    def ee_pose(self) -> np.ndarray:
        """4x4 pose of ee_gripper_link in base_link (= world)."""
        pose = np.eye(4)
        pose[:3, :3] = self.data.site_xmat[self._ee_site].reshape(3, 3)
        pose[:3, 3] = self.data.site_xpos[self._ee_site]
        return pose

    def gripper_opening(self) -> float:
        """0 = closed, 1 = fully open, from the left_finger position."""
        finger = self.data.qpos[self._qpos[-2]]
        return float((finger - FINGER_CLOSED) / (FINGER_OPEN - FINGER_CLOSED))

    # ----------------------------------------------------------------- hand (human demos)
    def set_hand(self, tcp: np.ndarray, yaw: float, opening: float,
                 teleport: bool = False) -> None:
        """Drive the hand's fingertip centre to ``tcp`` (world), ``yaw``, opening in [0, 1]."""
        offset = np.asarray(tcp, dtype=float) - HAND_ORIGIN
        finger = HAND_FINGER_TOUCH + float(np.clip(opening, 0, 1)) * (
            HAND_FINGER_OPEN - HAND_FINGER_TOUCH)
        target = [*offset, yaw, finger, finger]
        self.data.ctrl[self._hand_act] = target
        if teleport:
            self.data.qpos[self._hand_qpos] = target

    def hand_pose(self) -> tuple[np.ndarray, float, float]:
        """Hand fingertip centre (world), yaw, and opening in [0, 1]."""
        q = self.data.qpos[self._hand_qpos]
        opening = (q[4] - HAND_FINGER_TOUCH) / (HAND_FINGER_OPEN - HAND_FINGER_TOUCH)
        return self.data.site_xpos[self._hand_site].copy(), float(q[3]), float(opening)

    def hand_arm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World points of the demonstrator's wrist, elbow and shoulder.

        The shoulder sits at ``SHOULDER_FROM_EYES`` from the ego camera (it moves with the
        head); beyond arm's reach the operator leans in (the shoulder follows the hand).
        The elbow bends down and out, away from the body.
        """
        wrist = self.data.xpos[self._hand_body] + HAND_WRIST
        shoulder = self.data.cam_xpos[self._ego] + SHOULDER_FROM_EYES
        upper, fore = UPPER_ARM_LENGTH, FOREARM_LENGTH
        span = wrist - shoulder
        distance = float(np.linalg.norm(span))
        reach = 0.999 * (upper + fore)
        if distance > reach:
            shoulder = wrist - span * (reach / distance)
            span, distance = wrist - shoulder, reach
        axis = span / distance
        along = (distance ** 2 + upper ** 2 - fore ** 2) / (2.0 * distance)
        height = math.sqrt(max(upper ** 2 - along ** 2, 0.0))
        bend = np.array([0.0, 0.6, -0.8])
        bend -= (bend @ axis) * axis
        elbow = shoulder + along * axis + height * bend / np.linalg.norm(bend)
        return wrist, elbow, shoulder

    def _pose_arm(self) -> None:
        """Place the demonstrator's forearm and upper arm (visual geoms) for rendering."""
        wrist, elbow, shoulder = self.hand_arm()
        for geom, (start, end) in zip(self._arm_links, ((wrist, elbow), (elbow, shoulder))):
            z = (end - start) / np.linalg.norm(end - start)
            x = np.cross([0.0, 0.0, 1.0], z) if abs(z[2]) < 0.9 else np.cross([1.0, 0, 0], z)
            x /= np.linalg.norm(x)
            self.data.geom_xpos[geom] = (start + end) / 2.0
            self.data.geom_xmat[geom] = np.column_stack([x, np.cross(z, x), z]).ravel()

    def effector_fingers(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Fingertip centre, closing axis (horizontal unit), half the space between the fingers.

        The half space is in metres, capped at the gripper's widest. Of the visible
        embodiment, the gripper or the hand, read off its own finger bodies so that no yaw
        convention has to agree between the two. The space is physical, not the 0-1
        opening: on a held block both effectors' fingers stand at the block's faces, where
        the gripper's opening reads ~0.57 and the hand's ~0.3. The hand opens wider than the
        gripper can; the cap keeps that from telling them apart.
        """
        if self.visible == 'robot':
            tcp, opening = self.ee_pose()[:3, 3], self.gripper_opening()
            fingers = ('left_finger_link', 'right_finger_link')
            span = FINGER_OPEN - FINGER_CLOSED        # pads touch at FINGER_CLOSED
        else:
            tcp, _, opening = self.hand_pose()
            fingers = ('hand_index', 'hand_thumb')
            span = HAND_FINGER_OPEN - HAND_FINGER_TOUCH   # fingertips touch at TOUCH
        half_space = float(np.clip(opening * span, 0.0, FINGER_OPEN - FINGER_CLOSED))
        a, b = (self.data.xpos[self._body(name)] for name in fingers)
        axis = np.array([a[0] - b[0], a[1] - b[1], 0.0])   # apart even when closed (pads)
        norm = float(np.linalg.norm(axis))
        if norm < 1e-6:   # fingers one above the other (a wrist rolled 90 degrees): no yaw
            return tcp.copy(), np.array([0.0, 1.0, 0.0]), half_space
        return tcp.copy(), axis / norm, half_space

    def _pose_avatar(self) -> None:
        """Place the avatar's fingers, palm and table mark at the visible effector."""
        tcp, axis, half_space = self.effector_fingers()
        up = np.array([0.0, 0.0, 1.0])
        rotation = np.column_stack([np.cross(axis, up), axis, up]).ravel()
        half_gap = half_space + AVATAR_FINGER[1]   # centres: inner faces half_space from tcp
        finger_a, finger_b, palm, mark = self._avatar_geoms
        for geom, side in ((finger_a, 1.0), (finger_b, -1.0)):
            self.data.geom_xpos[geom] = tcp + side * half_gap * axis + AVATAR_FINGER[2] * up
            self.data.geom_xmat[geom] = rotation
        self.data.geom_xpos[palm] = tcp + AVATAR_PALM_HEIGHT * up
        self.data.geom_xmat[palm] = rotation
        self.data.geom_xpos[mark] = (tcp[0], tcp[1], 0.0006)   # just above the table top, z 0
        self.data.geom_xmat[mark] = np.eye(3).ravel()

    # ----------------------------------------------------------------- objects
    def object_position(self, name: str) -> np.ndarray:
        """World position of a task object's body."""
        return self.data.xpos[self._body(name)].copy()

    def object_yaw(self, name: str) -> float:
        """Yaw about world z of a task object's body."""
        rot = self.data.xmat[self._body(name)].reshape(3, 3)
        return math.atan2(rot[1, 0], rot[0, 0])

    def place_object(self, name: str, position: np.ndarray, yaw: float = 0.0) -> None:
        """Move an object (free: via its joint; static: via the model) and recompute kinematics."""
        body_id = self._body(name)
        quat = [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]
        joint_id = self.model.body_jntadr[body_id]
        if joint_id >= 0:
            adr = self.model.jnt_qposadr[joint_id]
            self.data.qpos[adr:adr + 3] = position
            self.data.qpos[adr + 3:adr + 7] = quat
            self.data.qvel[self.model.jnt_dofadr[joint_id]:][:6] = 0.0
        else:
            self.model.body_pos[body_id] = position
            self.model.body_quat[body_id] = quat
        mujoco.mj_forward(self.model, self.data)

    def in_contact(self, body: str, others_prefix: tuple[str, ...]) -> bool:
        """Whether ``body`` touches any body whose name starts with one of ``others_prefix``."""
        body_id = self._body(body)
        for contact in self.data.contact[:self.data.ncon]:
            bodies = self.model.geom_bodyid[[contact.geom1, contact.geom2]]
            if body_id not in bodies:
                continue
            other = bodies[1] if bodies[0] == body_id else bodies[0]
            if self.model.body(other).name.startswith(others_prefix):
                return True
        return False

    # ----------------------------------------------------------------- cameras
    def camera_info(self, camera_name: str, width: int, height: int,
                    frame_id: str = 'camera_color_optical_frame') -> CameraIntrinsics:
        """Intrinsics (K, D, size) of ``camera_name`` rendered at ``width`` x ``height``."""
        camera_id = self._camera(camera_name)
        return camera_info_from_fovy(float(self.model.cam_fovy[camera_id]), width, height,
                                     frame_id)

    def camera_pose(self, camera_name: str) -> np.ndarray:
        """4x4 world pose of the camera in MuJoCo's convention (looks along -z, y up)."""
        camera_id = self._camera(camera_name)
        pose = np.eye(4)
        pose[:3, :3] = self.data.cam_xmat[camera_id].reshape(3, 3)
        pose[:3, 3] = self.data.cam_xpos[camera_id]
        return pose

    def _camera(self, camera_name: str) -> int:
        camera_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, camera_name)
        if camera_id < 0:
            raise ValueError(f'unknown camera {camera_name!r}; cameras: {CAMERA_NAMES}')
        return camera_id

    def render(self, camera_name: str, width: int = 128, height: int = 128,
               depth: bool = False) -> np.ndarray:
        """RGB (H, W, 3) uint8, or depth (H, W) float32 metres, of ``camera_name``.

        ``visible`` picks whose geoms are drawn: the arm ('robot'), the hand ('human'), both.
        With ``avatar`` the visible one is drawn as the avatar instead: the same two fingers
        at its fingertips for the gripper and the hand, so the pixels do not say whose they
        are (the gap between them is the effector's own, in metres: ``effector_fingers``).
        Only a simulator can draw that for free; on a real arm it needs the embodiment
        masked out and the avatar rendered at the effector's pose (Phantom, arXiv 2503.00779).
        """
        renderer = self._renderer(width, height)
        option = self._scene_option
        if self.avatar and self.visible == 'both':
            raise ValueError("WidowXSim.render: the avatar stands in for one embodiment, "
                             "not visible='both'")
        option.geomgroup[ARM_GROUP] = self.visible in ('robot', 'both') and not self.avatar
        option.geomgroup[HAND_GROUP] = self.visible in ('human', 'both') and not self.avatar
        option.geomgroup[AVATAR_GROUP] = self.avatar
        if option.geomgroup[HAND_GROUP]:
            self._pose_arm()
        if self.avatar:
            self._pose_avatar()
        renderer.update_scene(self.data, camera=self._camera(camera_name), scene_option=option)
        if depth:
            renderer.enable_depth_rendering()
            image = renderer.render().astype(np.float32)
            renderer.disable_depth_rendering()
            return image
        return renderer.render()

    def _renderer(self, width: int, height: int) -> mujoco.Renderer:
        key = (int(width), int(height))
        if key not in self._renderers:
            self._renderers[key] = make_renderer(self.model, *key)
        return self._renderers[key]

    def close(self) -> None:
        """Free the GL contexts."""
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()


def make_renderer(model: mujoco.MjModel, width: int, height: int) -> mujoco.Renderer:
    """An offscreen renderer; when the EGL default fails, fall back to OSMesa once."""
    from mujoco.rendering.classic import gl_context
    try:
        return mujoco.Renderer(model, height=height, width=width)
    except Exception as egl_error:  # noqa: BLE001 - any GL failure means: try software GL
        try:
            from mujoco.osmesa import GLContext
        except ImportError:
            raise egl_error from None
        if gl_context.GLContext is GLContext:
            raise
        gl_context.GLContext = GLContext
        return mujoco.Renderer(model, height=height, width=width)
