# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Controller node: the deploy loop. Observation in, ``/lam/action`` out, at a fixed rate.

Every command still goes through the arm node's safety layer. The controller
adds its own watchdog: it sends nothing while the camera image or joint state
it would act on is older than ``max_observation_age_s``.

Policies: ``policy:=expert`` follows the simulator's scripted expert
(``/sim/expert_action``), which exercises the whole deploy loop in sim.
Learned policies load from ``checkpoint:=`` once policy training lands; until
then a checkpoint is refused with a clear error rather than run half-way.
"""
from __future__ import annotations

import time

from sensor_msgs.msg import Image, JointState

from lam_ros.app.runtime import ConfigError, LamNode, node_main
from lam_ros.interfaces import topics

POLICIES = ('expert',)


class ControllerNode(LamNode):
    """Runs a policy in closed loop on the freshest observation."""

    def __init__(self, node_name: str = 'controller', **kwargs):
        super().__init__(node_name, **kwargs)
        robot_name = self.param('robot_name', 'wx250s', 'xs_sdk namespace',
                                pattern=topics.NAME_PATTERN)
        cameras = self.param('cameras', ['camera'], 'camera names', min_length=1,
                             pattern=topics.NAME_PATTERN)
        checkpoint = self.param('checkpoint', '', 'learned policy checkpoint')
        self.policy = self.param('policy', 'expert', 'policy to run', choices=POLICIES)
        rate_hz = self.param('rate_hz', 10.0, 'control rate', above=0.0, high=1000.0)
        self.max_age_s = self.param('max_observation_age_s', 0.5, 'watchdog on observations',
                                    above=0.0)
        if checkpoint:
            raise ConfigError(f'controller: checkpoint:={checkpoint} given, but no learned '
                              f'policy type exists yet; use policy:=expert in sim')
        self.last_seen = {'image': None, 'joints': None}
        self.suggestion: JointState | None = None
        self.action_pub = self.create_publisher(JointState, topics.ACTION, 10)
        self.create_subscription(Image, topics.camera_topics(cameras[0])['color'],
                                 lambda _: self.seen('image'), 10)
        self.create_subscription(JointState, topics.arm_topics(robot_name)['joint_states'],
                                 lambda _: self.seen('joints'), 10)
        self.create_subscription(JointState, topics.SIM_EXPERT_ACTION, self.on_expert, 10)
        self.create_timer(1.0 / rate_hz, self.tick)

    def seen(self, stream: str) -> None:
        """Remember when each observation stream last arrived."""
        self.last_seen[stream] = time.monotonic()

    def on_expert(self, msg: JointState) -> None:
        """The simulator's expert suggestion (policy:=expert)."""
        self.suggestion = msg

    def tick(self) -> None:
        """One control step, skipped while any observation is stale."""
        now = time.monotonic()
        stale = [name for name, seen in self.last_seen.items()
                 if seen is None or now - seen > self.max_age_s]
        if stale:
            self.get_logger().warning(f'holding: stale observations {stale}',
                                      throttle_duration_sec=2.0)
            return
        if self.suggestion is not None:
            self.suggestion.header.stamp = self.get_clock().now().to_msg()
            self.action_pub.publish(self.suggestion)


NODE_CLASS = ControllerNode


def main(args=None) -> int:
    """Run the deploy controller: ``ros2 run lam_ros controller``."""
    return node_main(ControllerNode, args)
