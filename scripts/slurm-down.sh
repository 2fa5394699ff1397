#!/usr/bin/env bash
# Stop the local one-node Slurm cluster that scripts/slurm-up.sh started: cancel every job, `scontrol shutdown`,
# then stop slurmdbd, MariaDB and munged by their PIDs. Packages stay installed; the next slurm-up.sh takes ~3 s.
#   --purge  also wipe the job state (job ids restart at 1) and drop the accounting database
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T0=$(date +%s.%N)
PROG=slurm-down
# shellcheck source=../slurm/local/lib.sh
. "$ROOT/slurm/local/lib.sh"
trap 'die "line $LINENO: \`$BASH_COMMAND\` exited $?"' ERR

purge=0
for a in "$@"; do
  case $a in
    --purge) purge=1 ;;
    -h | --help) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $a (only --purge)" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "must run as root"

if command -v scontrol >/dev/null; then
  cancel_all_jobs
  if daemon_pid slurmctld /run/slurmctld.pid >/dev/null && scontrol ping 2>/dev/null | grep -q 'is UP'; then
    say "scontrol shutdown"
    scontrol shutdown >/dev/null 2>&1 || true
  fi
fi
stop_daemon slurmd /run/slurmd.pid
stop_daemon slurmctld /run/slurmctld.pid
stop_daemon slurmdbd /run/slurmdbd.pid
if [ $purge = 1 ] && daemon_pid mariadbd /run/mysqld/mysqld.pid >/dev/null; then
  say "dropping the accounting database"
  mariadb -e 'DROP DATABASE IF EXISTS slurm_acct_db' || die "could not drop slurm_acct_db"
fi
stop_daemon mariadbd /run/mysqld/mysqld.pid
stop_daemon munged /run/munge/munged.pid
if [ $purge = 1 ]; then
  say "wiping job state"
  rm -rf /var/lib/slurm/slurmctld/* /var/lib/slurm/slurmd/*
  # a database that could not be dropped now (MariaDB was not running) is dropped by the next slurm-up.sh
  [ ! -d /var/lib/mysql/slurm_acct_db ] || touch /var/lib/slurm/.fleetclip-wipe-accounting-db
fi
rm -f /run/slurm-local.env
say "down in $(elapsed)s$([ $purge = 1 ] && echo ' (purged)')"
