# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Builders shared by several test modules (``from support.<module> import ...``).

pytest puts ``test/`` on ``sys.path`` (rootdir-relative, no ``__init__.py`` there),
so a test module imports these as ``support.*``; a test module never imports another.
"""
