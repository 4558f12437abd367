#!/usr/bin/env bash
# Stop the single-node SLURM test cluster of scripts/slurm/start_test_cluster.sh.
#
#   scripts/slurm/stop_test_cluster.sh             # SLURM_TEST_STATE as for the start script
#
# Cancels its jobs, stops slurmd and slurmctld by their pid files, and stops munged only if the
# start script started it; removes the /etc/slurm/slurm.conf symlink. The state folder (config, logs) is kept for inspection.
set -euo pipefail

STATE="${SLURM_TEST_STATE:-/tmp/rehab-outcomes-slurm}"
CONF="$STATE/slurm.conf"

stop_pidfile() { # stop_pidfile FILE: TERM the process of FILE and wait for it to exit
    local pidfile="$1" pid
    [[ -s "$pidfile" ]] || return 0
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$pidfile"
}

if [[ -f "$CONF" ]] && [[ -s "$STATE/slurmctld.pid" ]]; then
    SLURM_CONF="$CONF" scancel --user="$(id -un)" 2>/dev/null || true
fi
stop_pidfile "$STATE/slurmd.pid"
stop_pidfile "$STATE/slurmctld.pid"
if [[ -f "$STATE/munged.started-here" ]]; then
    stop_pidfile /run/munge/munged.pid
    rm -f "$STATE/munged.started-here"
fi
if [[ -L /etc/slurm/slurm.conf && "$(readlink /etc/slurm/slurm.conf)" == "$CONF" ]]; then
    rm -f /etc/slurm/slurm.conf
fi
echo "stop_test_cluster: stopped (state kept in $STATE)"
