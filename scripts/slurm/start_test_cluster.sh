#!/usr/bin/env bash
# Start a single-node SLURM test cluster on this machine (Debian/Ubuntu, run as root).
#
#   scripts/slurm/start_test_cluster.sh            # state in /tmp/rehab-outcomes-slurm
#   SLURM_TEST_STATE=/some/dir scripts/slurm/start_test_cluster.sh
#   export SLURM_CONF=/tmp/rehab-outcomes-slurm/slurm.conf   # then sinfo, sbatch, snakemake ...
#
# Idempotent: installs munge and SLURM if missing, writes slurm.conf for this host (from
# `slurmd -C`) into the state folder, starts munged, slurmctld and slurmd directly (no systemd)
# unless they already run, and waits until the node is idle. No accounting daemon (slurmdbd):
# job status comes from squeue, so MinJobAge keeps finished jobs visible for 300 s.
# /etc/slurm/slurm.conf becomes a symlink to the state folder's config (removed on stop).
# Stop it with scripts/slurm/stop_test_cluster.sh.
set -euo pipefail

STATE="${SLURM_TEST_STATE:-/tmp/rehab-outcomes-slurm}"
PARTITION="${SLURM_TEST_PARTITION:-main}"
CONF="$STATE/slurm.conf"
WAIT_SECONDS="${SLURM_TEST_WAIT:-60}"

if [[ "$(id -u)" -ne 0 ]]; then
    echo "start_test_cluster: must run as root" >&2
    exit 1
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sinfo >/dev/null || ! command -v munged >/dev/null; then
    echo "start_test_cluster: installing munge and SLURM"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends munge slurmctld slurmd slurm-client >/dev/null \
        || { apt-get update >/dev/null \
             && apt-get install -y --no-install-recommends munge slurmctld slurmd slurm-client \
                >/dev/null; }
fi

mkdir -p "$STATE/ctld" "$STATE/spool"

# munge: the key comes with the package; munged must run as the munge user.
if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null \
        || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    touch "$STATE/munged.started-here"
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
fi

# slurm.conf for this host: the node line is what slurmd itself detects.
NODE_LINE="$(slurmd -C | head -n 1)"
NODE_NAME="$(sed -E 's/^NodeName=([^ ]+).*/\1/' <<<"$NODE_LINE")"
cat >"$CONF.new" <<EOF
# Single-node SLURM test cluster written by scripts/slurm/start_test_cluster.sh.
ClusterName=rehabtest
SlurmctldHost=$NODE_NAME
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=300
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
$NODE_LINE State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE_NAME Default=YES MaxTime=INFINITE State=UP
EOF
if [[ -f "$CONF" ]] && cmp -s "$CONF" "$CONF.new"; then
    rm "$CONF.new"
else
    mv "$CONF.new" "$CONF"
fi
export SLURM_CONF="$CONF"

# Clients inside jobs need the config too: Snakemake's job step drops SLURM_CONF from the
# environment of its inner srun, so the default location points at this config as well.
# A real cluster's /etc/slurm/slurm.conf is never replaced.
SYSTEM_CONF=/etc/slurm/slurm.conf
if [[ -e "$SYSTEM_CONF" && ! -L "$SYSTEM_CONF" ]]; then
    echo "start_test_cluster: $SYSTEM_CONF exists and is not ours; refusing to replace it" >&2
    exit 1
fi
mkdir -p /etc/slurm
ln -sfn "$CONF" "$SYSTEM_CONF"

running() { # running PIDFILE: the process of the pid file is alive
    [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

running "$STATE/slurmctld.pid" || /usr/sbin/slurmctld -c -f "$CONF"
running "$STATE/slurmd.pid" || /usr/sbin/slurmd -f "$CONF"

for _ in $(seq "$WAIT_SECONDS"); do
    state="$(sinfo -h -N -n "$NODE_NAME" -o %t 2>/dev/null || true)"
    if [[ "$state" == "idle" || "$state" == "mix" || "$state" == "alloc" ]]; then
        echo "start_test_cluster: node $NODE_NAME $state in partition $PARTITION"
        echo "export SLURM_CONF=$CONF"
        exit 0
    fi
    sleep 1
done
echo "start_test_cluster: node $NODE_NAME not idle after ${WAIT_SECONDS}s (state: ${state:-none})" >&2
tail -n 20 "$STATE/slurmctld.log" "$STATE/slurmd.log" >&2 || true
exit 1
