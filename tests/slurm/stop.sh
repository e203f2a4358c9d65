#!/usr/bin/env bash
# Stop the private SLURM cluster started by tests/slurm/start.sh (same STATE_DIR argument/env).
# Stops slurmd, slurmctld, then munged by their PID files: SIGTERM, wait up to 20 s, SIGKILL.
# Only processes whose PID file is in STATE_DIR are touched. Safe to run when nothing runs.
#   tests/slurm/stop.sh [STATE_DIR]      # default: $AGN_SLURM_DIR or /tmp/agn-slurm
#   AGN_SLURM_PURGE=1 tests/slurm/stop.sh   # also delete STATE_DIR afterwards
set -uo pipefail

STATE_DIR="${1:-${AGN_SLURM_DIR:-/tmp/agn-slurm}}"
log() { echo "[slurm/stop] $*" >&2; }

[[ -d "$STATE_DIR" ]] || { log "no state dir $STATE_DIR, nothing to stop"; exit 0; }

# cancel leftover jobs first (best effort, only if slurmctld answers quickly)
if [[ -s "$STATE_DIR/run/slurmctld.pid" && -f "$STATE_DIR/slurm.conf" ]] \
   && kill -0 "$(cat "$STATE_DIR/run/slurmctld.pid")" 2>/dev/null; then
    SLURM_CONF="$STATE_DIR/slurm.conf" timeout 10 scancel --state=PENDING,RUNNING --full \
        --user="$(id -un)" >/dev/null 2>&1 || true
fi

stop_pidfile() {  # name pidfile
    local name=$1 pidfile=$2 pid
    [[ -s "$pidfile" ]] || return 0
    pid="$(cat "$pidfile")"
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name did not exit after 20 s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
    fi
    rm -f "$pidfile"
}

stop_pidfile slurmd    "$STATE_DIR/run/slurmd.pid"
stop_pidfile slurmctld "$STATE_DIR/run/slurmctld.pid"
stop_pidfile munged    "$STATE_DIR/run/munged.pid"
rm -f "$STATE_DIR/munge/munged.pid" "$STATE_DIR/env.sh"
# remove the /etc/slurm/slurm.conf link made by start.sh (only if it points into STATE_DIR)
if [[ -L /etc/slurm/slurm.conf && "$(readlink /etc/slurm/slurm.conf)" == "$(cd "$STATE_DIR" && pwd -P)/slurm.conf" ]]; then
    rm -f /etc/slurm/slurm.conf
    log "removed /etc/slurm/slurm.conf link"
fi

if [[ "${AGN_SLURM_PURGE:-0}" == 1 ]]; then
    log "removing $STATE_DIR"
    rm -rf "$STATE_DIR"
fi
exit 0
