#!/usr/bin/env bash
# Debian packages the project needs: OpenCV's runtime libraries, and Chromium + its driver for the
# browser test of the demo. Run as root (CI and the dev machines are root); skipped where already present.
set -euo pipefail
PACKAGES=(libgl1 libglib2.0-0 chromium chromium-driver fonts-dejavu-core)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages present: ${PACKAGES[*]}"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
