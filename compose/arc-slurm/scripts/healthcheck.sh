#!/usr/bin/env bash
# Container healthcheck: REST answers over verified TLS, and the Slurm node is usable.
set -euo pipefail
curl -sf --cacert /etc/grid-security/testCA.pem https://localhost:8443/arex/rest >/dev/null
sinfo -h -N -o '%T' | grep -Eq '^(idle|mixed|allocated)'
