# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Episodes through the ROS deploy graph on the simulated arm: what a deployment scores.

The deploy graph (sim, arm safety layer, controller with the checkpoint) runs in this
process, as ``lam-ros deploy`` does; a watcher node resets the scene (``/sim/reset``, next
seed) and the controller (``/controller/reset``) before each episode and waits for
``/sim/success`` or the task's step budget (actions the controller sent). Scene seeds are
``seed_start, seed_start + 1, ...``: the held-out seeds ``lam-ros eval`` uses, so the two
can be compared (``bench/deploy_vs_eval.py``). The controller's ``~/status`` reports
(inference time, observation age) are collected for ``bench/deploy_latency.py``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import json
import threading
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger

from lam_models.data.episode import CONTROL_RATE_HZ
from lam_ros.app.cli import run_graph, use_graph_environment
from lam_ros.app.graph import parse_assignments
from lam_ros.interfaces import topics
from lam_ros.interfaces.seeds import HELD_OUT_SEED_START

# lam_ros.sim.tasks' step budgets, not imported: this module must not load MuJoCo itself.
TASK_STEPS = {'push': 80, 'pick_place': 70, 'stack': 70}
STARTUP_SLACK_S = 2.0   # first frames, first forward pass


@dataclass
class DeployEpisode:
    """One episode through the graph."""

    seed: int
    success: bool
    seconds: float


@dataclass
class DeployRun:
    """All episodes of one checkpoint, and what the controller reported meanwhile."""

    task: str
    episodes: list[DeployEpisode] = field(default_factory=list)
    controller_reports: list[dict] = field(default_factory=list)
    commands: list[float] = field(default_factory=list)   # monotonic time of each action

    @property
    def successes(self) -> int:
        """Episodes solved."""
        return sum(e.success for e in self.episodes)


class _Watcher:
    """A node outside the graph that drives episodes like an operator with a stopwatch."""

    def __init__(self, run: DeployRun) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('deploy_watcher', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.success = False
        self.run = run
        self.node.create_subscription(Bool, topics.SIM_SUCCESS, self._on_success, 10)
        self.node.create_subscription(String, topics.of_node('controller', topics.STATUS),
                                      self._on_status, 50)
        from sensor_msgs.msg import JointState
        self.node.create_subscription(JointState, topics.ACTION, self._on_action, 50)
        self.actions = 0   # sent since the last reset: an episode's budget counts these
        self.sim_reset = self.node.create_client(Trigger, topics.SIM_RESET)
        self.controller_reset = self.node.create_client(
            Trigger, topics.of_node('controller', topics.CONTROLLER_RESET))

    def _on_action(self, _msg) -> None:
        self.run.commands.append(time.monotonic())
        self.actions += 1

    def _on_success(self, msg: Bool) -> None:
        self.success = self.success or msg.data

    def _on_status(self, msg: String) -> None:
        self.run.controller_reports.append({**json.loads(msg.data), 'at': time.monotonic()})

    def spin_until(self, predicate, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not predicate():
            self.executor.spin_once(timeout_sec=0.02)
        return predicate()

    def call(self, client, timeout_s: float = 20.0) -> None:
        if not client.wait_for_service(timeout_sec=timeout_s):
            raise RuntimeError(f'deploy graph: service {client.srv_name} never appeared')
        future = client.call_async(Trigger.Request())
        if not self.spin_until(future.done, timeout_s) or not future.result().success:
            raise RuntimeError(f'deploy graph: {client.srv_name} failed')

    def close(self) -> None:
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def run_deploy_episodes(checkpoint: str, task: str, episodes: int,
                        seed_start: int = HELD_OUT_SEED_START, rate_hz: float = 0.0,
                        progress: bool = True, steps: int | None = None) -> DeployRun:
    """``episodes`` closed-loop episodes of ``checkpoint`` on ``task`` through the graph.

    ``rate_hz`` 0 runs the controller at the checkpoint's data rate, as ``deploy`` does.

    An episode ends at success or after ``steps`` actions sent (default: the task's budget,
    the step count ``lam-ros eval`` allows), or at a wall-clock timeout.
    """
    if seed_start < 1:
        raise ValueError(f'seed_start must be >= 1, got {seed_start}')
    stop = threading.Event()
    code: list[int] = []
    assignments = [f'checkpoint:={checkpoint}', f'task:={task}', f'seed:={seed_start - 1}',
                   f'rate_hz:={rate_hz}']
    use_graph_environment('deploy', parse_assignments(assignments))   # the watcher's too
    graph = threading.Thread(target=lambda: code.append(run_graph('deploy', assignments, stop)),
                             name='deploy-graph')
    graph.start()
    run = DeployRun(task)
    watcher = _Watcher(run)
    budget = steps or TASK_STEPS[task]
    # holds while inferring don't count
    timeout_s = 3 * budget / (rate_hz or CONTROL_RATE_HZ) + STARTUP_SLACK_S
    try:
        for index in range(episodes):
            if code:
                raise RuntimeError(f'deploy graph exited with {code[0]} (see its error above)')
            watcher.call(watcher.sim_reset)          # the first reset: seed_start itself
            watcher.call(watcher.controller_reset)
            watcher.spin_until(lambda: False, 0.2)   # the old scene's last messages drain
            watcher.success, watcher.actions = False, 0
            started = time.monotonic()
            watcher.spin_until(lambda: watcher.success or watcher.actions >= budget, timeout_s)
            run.episodes.append(DeployEpisode(seed_start + index, watcher.success,
                                              time.monotonic() - started))
            if progress:
                print(f'  deploy {task} seed {seed_start + index}: '
                      f'{"success" if watcher.success else "failure"} '
                      f'({run.episodes[-1].seconds:.1f} s)', flush=True)
    finally:
        stop.set()
        graph.join(timeout=30)
        watcher.close()
    return run
