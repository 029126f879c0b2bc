#!/usr/bin/env bash
# cluster.sh: a one-node Slurm cluster (Debian's slurmctld, slurmd, munge)
# living in one directory, for loralpha's tests. Needs root.
#
#   cluster.sh start DIR   creates DIR, starts munged, slurmctld and slurmd,
#                          waits for the node to be idle; prints
#                          SLURM_CONF=DIR/slurm.conf on stdout
#   cluster.sh stop DIR    cancels every job, waits for an empty queue, then
#                          stops slurmd, slurmctld and munged by their PIDs
#                          (DIR/pids/*) and removes DIR
#
# Ports are picked free at start. Daemon logs are in DIR/log. Set
# LA_SLURM_KEEP=1 to keep DIR after stop.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)

# Is pid a live process (not a zombie)?
alive() {
  local st
  [[ -n "$1" && -r "/proc/$1/stat" ]] || return 1
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [[ -n "$st" && "$st" != Z ]]
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free TCP port in 20000..29999 other than $1.
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 10000))
    [[ "$p" != "${1:-}" ]] && ! port_busy "$p" && { echo "$p"; return 0; }
  done
  return 1
}

# Polls "$@" (a command) every 0.1 s for up to $1 tenths; 0 once it succeeds.
poll() {
  local n=$1
  shift
  for _ in $(seq "$n"); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

ctld_up() { scontrol ping 2>/dev/null | grep -q "is UP"; }
node_idle() { [[ "$(sinfo -h -n "$host" -o %t 2>/dev/null)" == idle ]]; }
queue_empty() { [[ -z "$(squeue -h 2>/dev/null)" ]]; }

# Starts one daemon in the background with its output in DIR/log/NAME.out
# and its PID in DIR/pids/NAME.
launch() {
  local name=$1
  shift
  "$@" </dev/null >"$dir/log/$name.out" 2>&1 &
  echo $! >"$dir/pids/$name"
}

write_conf() {
  local mem ctld slurmd
  mem=$(env -u SLURM_CONF slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  [[ -n "$mem" ]] || { echo "cluster.sh: slurmd -C failed" >&2; return 1; }
  ctld=$(free_port) && slurmd=$(free_port "$ctld") || {
    echo "cluster.sh: no free port" >&2
    return 1
  }
  sed -e "s|@DIR@|$dir|g" -e "s|@HOST@|$host|g" -e "s|@CPUS@|$(nproc)|g" \
    -e "s|@MEM@|$mem|g" -e "s|@CTLD_PORT@|$ctld|g" \
    -e "s|@SLURMD_PORT@|$slurmd|g" "$here/slurm.conf.in" >"$dir/slurm.conf"
}

start() {
  mkdir -p "$dir" || return 1
  dir=$(cd "$dir" && pwd)
  chmod 755 "$dir" # munged wants every directory above its socket o+x
  mkdir -p "$dir"/{state,spool,log,pids,munge} && chmod 755 "$dir/munge"
  write_conf || return 1
  export SLURM_CONF=$dir/slurm.conf
  mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 || return 1
  launch munged munged -F --key-file="$dir/munge/munge.key" \
    --socket="$dir/munge/munge.sock" --pid-file="$dir/munge/munged.pid" \
    --seed-file="$dir/munge/munged.seed"
  poll 100 munge -n -S "$dir/munge/munge.sock" -o /dev/null ||
    { echo "cluster.sh: munged did not start" >&2; return 1; }
  launch slurmctld slurmctld -D
  poll 150 ctld_up || { echo "cluster.sh: slurmctld did not start" >&2; return 1; }
  launch slurmd slurmd -D -N "$host"
  poll 300 node_idle || { echo "cluster.sh: node $host is not idle" >&2; return 1; }
  echo "SLURM_CONF=$SLURM_CONF"
}

# Sends TERM to the daemon named $1, waits up to 10 s, then KILL.
stop_one() {
  local pid
  pid=$(cat "$dir/pids/$1" 2>/dev/null) || return 0
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null
  poll 100 eval "! alive $pid" && return 0
  echo "cluster.sh: $1 ($pid) ignored TERM; killing it" >&2
  kill -KILL "$pid" 2>/dev/null
}

stop() {
  [[ -d "$dir" ]] || return 0
  export SLURM_CONF=$dir/slurm.conf
  if alive "$(cat "$dir/pids/slurmctld" 2>/dev/null)"; then
    # jobs first: a job's slurmstepd outlives slurmd
    scancel --partition=debug >/dev/null 2>&1
    poll 300 queue_empty || echo "cluster.sh: jobs left in the queue" >&2
  fi
  stop_one slurmd
  stop_one slurmctld
  stop_one munged
  if [[ "${LA_SLURM_KEEP:-0}" != 1 ]]; then rm -rf "$dir"; fi
}

case "${1:-}:${2:-}" in
  start:?*) dir=$2 host=$(hostname -s); start || {
      st=$?
      tail -n 20 "$dir"/log/* >&2 2>/dev/null
      stop
      exit "$st"
    } ;;
  stop:?*) dir=$2 host=$(hostname -s); stop ;;
  *) echo "usage: cluster.sh start DIR | stop DIR" >&2; exit 2 ;;
esac
