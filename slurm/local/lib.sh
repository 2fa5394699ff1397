# Helpers shared by scripts/slurm-up.sh and scripts/slurm-down.sh (sourced; set PROG and T0 first).

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
die() {
  trap - ERR
  printf '%s: FAILED after %ss: %s (logs: /var/log/slurm/)\n' "$PROG" "$(elapsed)" "$*" >&2
  exit 1
}

# A process is alive when /proc/PID/stat names it and its state is not Z (zombie) or X: PID 1 on these machines
# reaps orphans only after a few seconds, so `kill -0` and /proc/PID/comm still answer for a dead daemon.
proc_alive() {
  local pid=$1 name=$2 stat comm rest
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  comm=${stat#*(}
  comm=${comm%)*}
  rest=${stat##*) }
  [[ $comm == "$name" && ${rest%% *} != [ZX] ]]
}

# The PID of the live daemon NAME: its pid file when that names a live NAME (pid files go stale and PIDs get
# reused), else the first live process whose comm is NAME. Prints nothing and fails when there is none.
daemon_pid() {
  local name=$1 pidfile=${2:-} pid d
  if [[ -n $pidfile && -r $pidfile ]]; then
    pid=$(<"$pidfile")
    if proc_alive "$pid" "$name"; then
      echo "$pid"
      return 0
    fi
  fi
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    if proc_alive "$pid" "$name"; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

# Stops daemon NAME by its PID (TERM, then KILL after 15 s) and removes its stale pid file.
stop_daemon() {
  local name=$1 pidfile=${2:-} pid i
  while pid=$(daemon_pid "$name" "$pidfile"); do
    say "stopping $name ($pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
      proc_alive "$pid" "$name" || break
      sleep 0.1
    done
    if proc_alive "$pid" "$name"; then
      say "$name ($pid) ignored SIGTERM for 15 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
  done
  [ -z "$pidfile" ] || rm -f "$pidfile"
}

# wait_for WHAT SECONDS COMMAND...: runs COMMAND every 0.2 s until it succeeds, or dies after SECONDS.
wait_for() {
  local what=$1 seconds=$2 deadline
  shift 2
  deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt "$deadline" ] || die "$what not ready after ${seconds}s"
    sleep 0.2
  done
}

# wait_daemon NAME PIDFILE LOG SECONDS COMMAND...: like wait_for, but fails at once when daemon NAME is no longer
# alive, and either way shows the last lines of its LOG.
wait_daemon() {
  local name=$1 pidfile=$2 log=$3 seconds=$4 deadline
  shift 4
  deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! daemon_pid "$name" "$pidfile" >/dev/null; then
      tail -n 8 "$log" >&2 2>/dev/null || true
      die "$name exited while starting (the last lines of $log are above)"
    fi
    if [ $SECONDS -ge "$deadline" ]; then
      tail -n 8 "$log" >&2 2>/dev/null || true
      die "$name not ready after ${seconds}s (the last lines of $log are above)"
    fi
    sleep 0.2
  done
}

# Cancels every pending/running job when slurmctld answers, and waits (up to KillWait + 10 s) until none runs, so
# no job process outlives the daemons.
cancel_all_jobs() {
  local ids deadline
  daemon_pid slurmctld /run/slurmctld.pid >/dev/null || return 0
  scontrol ping 2>/dev/null | grep -q 'is UP' || return 0
  ids=$(squeue -h -o %F 2>/dev/null | sort -u | tr '\n' ' ')
  [ -n "${ids// /}" ] || return 0
  say "cancelling jobs $ids"
  # shellcheck disable=SC2086
  scancel $ids 2>/dev/null || true
  deadline=$((SECONDS + ${KILL_WAIT:-5} + 10))
  while [ -n "$(squeue -h -t RUNNING,COMPLETING,SUSPENDED -o %i 2>/dev/null)" ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
}
