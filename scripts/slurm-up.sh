#!/usr/bin/env bash
# Bring up (or reconcile) a real one-node Slurm cluster on localhost: Debian's slurm-wlm + munge, optionally
# slurmdbd + MariaDB for sacct. Idempotent: installs only what is missing, rewrites /etc/slurm/slurm.conf only when
# its content changes (then restarts slurmctld + slurmd), starts only daemons that are not running, and waits until
# the node takes jobs. Root on Debian only. One line of progress per step on stderr; logs in /var/log/slurm/.
#
# Knobs (environment):
#   SLURM_LOCAL_ACCOUNTING=slurmdbd|none  sacct through slurmdbd + MariaDB (default), or no accounting storage
#                                         (switching reconfigures slurmctld; slurmdbd is left running when off)
#   SLURM_LOCAL_FRESH=1                   wipe job state, job ids and the accounting database first
#   SLURM_LOCAL_CPUS=n                    CPUs the node advertises (default: the real count, at least 8, so tiny
#                                         test tasks do not queue; "real" = exactly what `slurmd -C` finds)
#   SLURM_LOCAL_MAX_ARRAY_SIZE=n          MaxArraySize (default 1001, Slurm's default)
#   SLURM_LOCAL_PARTITIONS="a b"          partitions, the first is the default (default "savio3_htc savio4_htc")
#   SLURM_LOCAL_CLUSTER=name              ClusterName (default localci)
#   SLURM_LOCAL_MIN_JOB_AGE=s             MinJobAge (default 86400: finished jobs stay in squeue -t all a day)
#   SLURM_LOCAL_KILL_WAIT=s               KillWait (default 5)
#   SLURM_LOCAL_CRED_EXPIRE=s             cred_expire (default 10; not below 5)
#   SLURM_LOCAL_TIMEOUT=s                 longest wait for any one daemon (default 60)
# See slurm/README.md for what each step does and how long it takes.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ACCOUNTING=${SLURM_LOCAL_ACCOUNTING:-slurmdbd}
FRESH=${SLURM_LOCAL_FRESH:-0}
CPUS_WANTED=${SLURM_LOCAL_CPUS:-}
MAX_ARRAY_SIZE=${SLURM_LOCAL_MAX_ARRAY_SIZE:-1001}
PARTITIONS=${SLURM_LOCAL_PARTITIONS:-savio3_htc savio4_htc}
CLUSTER=${SLURM_LOCAL_CLUSTER:-localci}
MIN_JOB_AGE=${SLURM_LOCAL_MIN_JOB_AGE:-86400}
KILL_WAIT=${SLURM_LOCAL_KILL_WAIT:-5}
CRED_EXPIRE=${SLURM_LOCAL_CRED_EXPIRE:-10}
TIMEOUT=${SLURM_LOCAL_TIMEOUT:-60}
LOG_DIR=/var/log/slurm
CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
STATE_DIR=/var/lib/slurm/slurmctld
SPOOL_DIR=/var/lib/slurm/slurmd
WIPE_DB_MARK=/var/lib/slurm/.fleetclip-wipe-accounting-db
T0=$(date +%s.%N)

# shellcheck source=../slurm/local/lib.sh
. "$ROOT/slurm/local/lib.sh"
PROG=slurm-up

trap 'die "line $LINENO: \`$BASH_COMMAND\` exited $?"' ERR

# --- checks ------------------------------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts daemons)"
command -v apt-get >/dev/null && [ -f /etc/debian_version ] || die "needs Debian (apt-get); use a Debian 12 machine"

# One bring-up at a time on this machine: two at once (two test runs, a benchmark) restart each other's daemons. The
# lock is held by flock itself (-o): the daemons this script starts must not inherit it, or it would never be freed.
if [ -z "${FLEETCLIP_SLURM_UP_LOCKED:-}" ]; then
  exec env FLEETCLIP_SLURM_UP_LOCKED=1 flock -o /run/fleetclip-slurm-up.lock bash "$0" "$@"
fi

case $ACCOUNTING in slurmdbd | none) ;; *) die "SLURM_LOCAL_ACCOUNTING must be slurmdbd or none, got '$ACCOUNTING'" ;; esac
for v in MAX_ARRAY_SIZE MIN_JOB_AGE KILL_WAIT CRED_EXPIRE TIMEOUT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "SLURM_LOCAL_$v must be a whole number, got '${!v}'"
done
[ "$CRED_EXPIRE" -ge 5 ] || die "SLURM_LOCAL_CRED_EXPIRE must be at least 5 (it is also the launch credential's lifetime)"
for p in $PARTITIONS; do [[ $p =~ ^[A-Za-z0-9_]+$ ]] || die "SLURM_LOCAL_PARTITIONS: '$p' is not a partition name"; done
[ -n "${PARTITIONS// /}" ] || die "SLURM_LOCAL_PARTITIONS is empty"
[[ -z $CPUS_WANTED || $CPUS_WANTED == real || $CPUS_WANTED =~ ^[1-9][0-9]*$ ]] ||
  die "SLURM_LOCAL_CPUS must be a positive number or 'real', got '$CPUS_WANTED'"

# --- 1. packages -------------------------------------------------------------------------------------------------
packages=(munge slurmctld slurmd slurm-client)
[ "$ACCOUNTING" = slurmdbd ] && packages+=(slurmdbd mariadb-server)
missing=()
for p in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (apt, --no-install-recommends)"
  added_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    # the packages ship init scripts that invoke-rc.d would start; this script starts the daemons itself
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && added_policy=1
  fi
  apt_log=$LOG_DIR/apt.log
  mkdir -p "$LOG_DIR"
  export DEBIAN_FRONTEND=noninteractive
  ok=1
  apt-get -o DPkg::Lock::Timeout=600 update >>"$apt_log" 2>&1 || ok=0
  [ $ok = 1 ] && { apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" >>"$apt_log" 2>&1 || ok=0; }
  [ $added_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ $ok = 1 ] || { tail -n 15 "$apt_log" >&2; die "apt-get could not install ${missing[*]} (full output: $apt_log)"; }
  say "installed $(dpkg-query -W -f='${Package} ${Version}\n' slurmctld 2>/dev/null)"
fi

mkdir -p "$LOG_DIR" "$STATE_DIR" "$SPOOL_DIR" /etc/slurm /run/munge /var/log/munge
chown slurm:slurm "$LOG_DIR" "$STATE_DIR"
chmod 755 "$LOG_DIR"

# --- 2. host -----------------------------------------------------------------------------------------------------
HOST=$(hostname -s)
if ! getent hosts "$HOST" >/dev/null; then
  say "adding '127.0.0.1 $HOST' to /etc/hosts"
  echo "127.0.0.1 $HOST" >>/etc/hosts
fi

# --- 3. munge ----------------------------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
  say "creating the munge key"
  mungekey --create --keyfile=/etc/munge/munge.key >/dev/null
fi
chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
chmod 0400 /etc/munge/munge.key
chmod 0755 /run/munge
if ! daemon_pid munged /run/munge/munged.pid >/dev/null; then
  say "starting munged"
  runuser -u munge -- /usr/sbin/munged </dev/null >>"$LOG_DIR/munged.out" 2>&1 || die "munged did not start (see /var/log/munge/munged.log)"
fi
wait_for "munge credentials" 10 bash -c 'munge -n </dev/null | unmunge >/dev/null 2>&1'

# --- 4. slurm.conf -----------------------------------------------------------------------------------------------
node_line=$(slurmd -C 2>/dev/null | head -n 1) || die "slurmd -C failed"
field() { sed -n "s/.*[[:space:]]$1=\\([0-9]*\\).*/\\1/p" <<<"$node_line"; }
real_cpus=$(field CPUs)
real_mem=$(field RealMemory)
[[ $real_cpus =~ ^[0-9]+$ && $real_mem =~ ^[0-9]+$ ]] || die "cannot read CPUs/RealMemory from slurmd -C: $node_line"
case $CPUS_WANTED in
  real) cpus=$real_cpus ;;
  '') cpus=$((real_cpus > 8 ? real_cpus : 8)) ;;
  *) cpus=$CPUS_WANTED ;;
esac
if [ "$cpus" = "$real_cpus" ]; then
  topology="CPUs=$real_cpus Boards=$(field Boards) SocketsPerBoard=$(field SocketsPerBoard) CoresPerSocket=$(field CoresPerSocket) ThreadsPerCore=$(field ThreadsPerCore)"
  slurmd_parameters=""
else
  # advertise more (or fewer) CPUs than the machine has: without config_overrides slurmd would drain the node
  topology="CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1"
  slurmd_parameters="SlurmdParameters=config_overrides"
fi
if [ "$ACCOUNTING" = slurmdbd ]; then
  accounting=$'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\nAccountingStoragePort=6819'
else
  accounting='AccountingStorageType=accounting_storage/none'
fi
partition_lines=""
default=YES
for p in $PARTITIONS; do
  partition_lines+="PartitionName=$p Nodes=$HOST Default=$default MaxTime=INFINITE State=UP"$'\n'
  default=NO
done
conf=$(<"$ROOT/slurm/local/slurm.conf.in")
conf=${conf//@CLUSTER@/$CLUSTER}
conf=${conf//@HOST@/$HOST}
conf=${conf//@CRED_EXPIRE@/$CRED_EXPIRE}
conf=${conf//@MIN_JOB_AGE@/$MIN_JOB_AGE}
conf=${conf//@MAX_ARRAY_SIZE@/$MAX_ARRAY_SIZE}
conf=${conf//@KILL_WAIT@/$KILL_WAIT}
conf=${conf//@ACCOUNTING@/$accounting}
conf=${conf//@SLURMD_PARAMETERS@/$slurmd_parameters}
conf=${conf//@TOPOLOGY@/$topology}
conf=${conf//@REAL_MEMORY@/$((real_mem * 9 / 10))}
conf=${conf//@PARTITIONS@/${partition_lines%$'\n'}}
[[ $conf != *@[A-Z_]*@* ]] || die "slurm.conf.in has a placeholder this script does not fill: $(grep -o '@[A-Z_]*@' <<<"$conf" | head -n 1)"
conf_changed=0
if [ ! -f "$CONF" ] || [ "$(<"$CONF")" != "$conf" ]; then
  printf '%s\n' "$conf" >"$CONF.new" && chmod 644 "$CONF.new" && mv "$CONF.new" "$CONF"
  conf_changed=1
  say "wrote $CONF (accounting $ACCOUNTING, $cpus CPUs, MaxArraySize $MAX_ARRAY_SIZE)"
fi

# --- 5. a fresh start: no jobs, no job ids, no accounting records ------------------------------------------------
if [ "$FRESH" = 1 ]; then
  say "fresh start: cancelling jobs, stopping slurmctld/slurmd, wiping state"
  cancel_all_jobs
  stop_daemon slurmd /run/slurmd.pid
  stop_daemon slurmctld /run/slurmctld.pid
  rm -rf "${STATE_DIR:?}"/* "${SPOOL_DIR:?}"/*
  : >"$LOG_DIR/jobcomp.log"
  chown slurm:slurm "$LOG_DIR/jobcomp.log"
  # the database is dropped when slurmdbd next starts against it (now in slurmdbd mode, later otherwise):
  # job ids restart at 1, so old records would otherwise answer for new jobs
  [ -d /var/lib/mysql ] && touch "$WIPE_DB_MARK"
fi

# --- 6. accounting: MariaDB + slurmdbd ---------------------------------------------------------------------------
if [ "$ACCOUNTING" = slurmdbd ]; then
  if ! daemon_pid mariadbd /run/mysqld/mysqld.pid >/dev/null; then
    say "starting mariadbd (unix socket only)"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    if [ ! -d /var/lib/mysql/mysql ]; then
      mariadb-install-db --user=mysql --datadir=/var/lib/mysql >>"$LOG_DIR/mariadb.log" 2>&1 || die "mariadb-install-db failed"
    fi
    setsid /usr/sbin/mariadbd --user=mysql --skip-networking --innodb-buffer-pool-size=256M \
      --innodb-lock-wait-timeout=900 </dev/null >>"$LOG_DIR/mariadb.log" 2>&1 &
    disown
    wait_daemon mariadbd /run/mysqld/mysqld.pid "$LOG_DIR/mariadb.log" "$TIMEOUT" mariadb-admin --silent ping
  fi
  if [ -e "$WIPE_DB_MARK" ]; then
    stop_daemon slurmdbd /run/slurmdbd.pid
    say "dropping the accounting database"
    mariadb -e 'DROP DATABASE IF EXISTS slurm_acct_db' || die "could not drop slurm_acct_db"
    rm -f "$WIPE_DB_MARK"
  fi
  mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED VIA unix_socket;
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';" || die "could not create the database user slurm"
  dbd=$(<"$ROOT/slurm/local/slurmdbd.conf.in")
  if [ ! -f "$DBD_CONF" ] || [ "$(<"$DBD_CONF")" != "$dbd" ]; then
    printf '%s\n' "$dbd" >"$DBD_CONF"
    stop_daemon slurmdbd /run/slurmdbd.pid
  fi
  chown slurm:slurm "$DBD_CONF" && chmod 600 "$DBD_CONF"
  if ! daemon_pid slurmdbd /run/slurmdbd.pid >/dev/null; then
    say "starting slurmdbd"
    slurmdbd </dev/null >>"$LOG_DIR/slurmdbd.out" 2>&1 || die "slurmdbd did not start"
  fi
  wait_daemon slurmdbd /run/slurmdbd.pid "$LOG_DIR/slurmdbd.log" "$TIMEOUT" bash -c 'sacctmgr -n list cluster >/dev/null 2>&1'
fi

# --- 7. slurmctld and slurmd -------------------------------------------------------------------------------------
if [ $conf_changed = 1 ]; then
  # a running slurmctld/slurmd keeps the old configuration (AccountingStorageType needs a restart anyway);
  # jobs keep running: their slurmstepd processes do not depend on either daemon
  stop_daemon slurmctld /run/slurmctld.pid
  stop_daemon slurmd /run/slurmd.pid
fi
if ! daemon_pid slurmctld /run/slurmctld.pid >/dev/null; then
  say "starting slurmctld"
  slurmctld </dev/null >>"$LOG_DIR/slurmctld.out" 2>&1 || die "slurmctld did not start"
fi
wait_daemon slurmctld /run/slurmctld.pid "$LOG_DIR/slurmctld.log" "$TIMEOUT" bash -c 'scontrol ping 2>/dev/null | grep -q "is UP"'
if ! daemon_pid slurmd /run/slurmd.pid >/dev/null; then
  say "starting slurmd"
  slurmd </dev/null >>"$LOG_DIR/slurmd.out" 2>&1 || die "slurmd did not start"
fi

# --- 8. the node takes jobs ----------------------------------------------------------------------------------------
node_state() { sinfo -h -N -n "$HOST" -o %T 2>/dev/null | head -n 1; }
deadline=$((SECONDS + TIMEOUT))
resumed=0
while :; do
  state=$(node_state)
  case $state in
    idle | mixed | allocated | completing) break ;;
    down | drained | draining | fail | failing | down~ | drain*)
      if [ $resumed = 0 ]; then
        say "node $HOST is $state (saved state): resuming it"
        scontrol update NodeName="$HOST" State=RESUME || true
        resumed=1
      fi
      ;;
  esac
  if ! daemon_pid slurmd /run/slurmd.pid >/dev/null; then
    tail -n 8 "$LOG_DIR/slurmd.log" >&2 || true
    die "slurmd exited while starting (the last lines of $LOG_DIR/slurmd.log are above)"
  fi
  [ $SECONDS -lt $deadline ] || die "node $HOST is '$state' after ${TIMEOUT}s, not idle: $(scontrol show node "$HOST" | grep -o 'Reason=.*')"
  sleep 0.2
done

{
  echo "SLURM_LOCAL_ACCOUNTING=$ACCOUNTING"
  for d in munged:/run/munge/munged.pid mariadbd:/run/mysqld/mysqld.pid slurmdbd:/run/slurmdbd.pid \
    slurmctld:/run/slurmctld.pid slurmd:/run/slurmd.pid; do
    pid=$(daemon_pid "${d%%:*}" "${d#*:}" || true)
    [ -n "$pid" ] && echo "${d%%:*}=$pid"
  done
} >/run/slurm-local.env
say "up in $(elapsed)s: cluster $CLUSTER, node $HOST $state ($cpus CPUs), partitions $PARTITIONS, accounting $ACCOUNTING$( [ "$ACCOUNTING" = none ] && daemon_pid slurmdbd /run/slurmdbd.pid >/dev/null && echo ' (slurmdbd idle)')"
