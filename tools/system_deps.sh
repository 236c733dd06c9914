#!/usr/bin/env bash
# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
# Debian packages the Python wheels need at run time: libusb for pyrealsense2,
# EGL/OSMesa for MuJoCo's offscreen rendering. Installs only what is missing.
set -euo pipefail
needed=(libusb-1.0-0 libegl1 libosmesa6 libgl1 cmake g++)
missing=()
for pkg in "${needed[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
