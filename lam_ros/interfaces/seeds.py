# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Scene seed ranges: which seeds make training data and which are held out.

A seed fixes a simulated scene (object layout, look, head motion). The evaluators, the
demo and the deploy-graph runs start their held-out scenes here; everything that makes
training data picks seeds below it. No MuJoCo here: the deploy-graph watcher and the demo
import it without loading the simulator.
"""

# Held-out evaluation scenes start here (``lam-ros eval``, the demo, the deploy graph's
# episodes). Training data stays below: collect graph 0.., deploy graph 1000..,
# bench/latent_metrics.py < 30 000, bench/cotrain.py 30 000..50 000,
# bench/policy_vision.py 60 000.., bench/look_first.py 70 000..
HELD_OUT_SEED_START = 100_000
