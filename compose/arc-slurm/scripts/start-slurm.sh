#!/usr/bin/env bash
# Start munged, slurmctld and slurmd (if not running) and wait until the node is idle.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
NODE=$(hostname -s)
CPUS=${ARC_STACK_CPUS:-2}
mkdir -p /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
sed -e "s/@NODE@/$NODE/g" -e "s/@CPUS@/$CPUS/g" "$STACK_DIR/slurm/slurm.conf" > /etc/slurm/slurm.conf
install -m 644 "$STACK_DIR/slurm/cgroup.conf" /etc/slurm/cgroup.conf

mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 755 /run/munge
if ! pid_alive /run/munge/munged.pid; then
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged --force
fi
for i in $(seq 1 20); do munge -n </dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
munge -n </dev/null | unmunge >/dev/null || die "munge does not work"

if ! pid_alive /run/slurmctld.pid; then
  log "starting slurmctld"
  /usr/sbin/slurmctld
fi
if ! pid_alive /run/slurmd.pid; then
  log "starting slurmd"
  /usr/sbin/slurmd -N "$NODE"
fi
for i in $(seq 1 60); do
  state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
  [[ $state == idle* || $state == mixed* || $state == allocated* ]] && { log "slurm node $NODE is $state"; exit 0; }
  [[ $state == down* || $state == drain* ]] && scontrol update nodename="$NODE" state=resume 2>/dev/null || true
  sleep 1
done
sinfo -N >&2 || true
die "slurm node $NODE not idle after 60 s"
