# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
from lam_models.policies.clam_route.configuration_clam_route import ClamRouteConfig
from lam_models.policies.clam_route.modeling_clam_route import ClamRoutePolicy

__all__ = ['ClamRouteConfig', 'ClamRoutePolicy']
