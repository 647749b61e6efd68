#!/usr/bin/env bash
# Install the VOMS server's Debian packages (configuration "voms"; Debian's mirror only).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends voms-server voms-clients voms-mysql-plugin mariadb-server \
  mariadb-client iproute2
apt-get clean
rm -rf /var/lib/apt/lists/*
echo "install-voms-packages: done"
