# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
