#!/usr/bin/env bash
# Install the Debian trixie packages of the stack (run inside the container image build or the chroot).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PACKAGES=(
  nordugrid-arc-arex nordugrid-arc-arcctl nordugrid-arc-arcctl-service nordugrid-arc-test-utils
  nordugrid-arc-client nordugrid-arc-plugins-needed nordugrid-arc-plugins-internal python3-nordugrid-arc
  slurm-wlm slurmctld slurmd slurm-client munge
  python3-cryptography ca-certificates curl procps openssl
)
apt-get update -q
apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
apt-get clean
rm -rf /var/lib/apt/lists/*
echo "install-packages: done"
