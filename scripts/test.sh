#!/usr/bin/env bash
# The whole test suite: jest (ESM through ts-jest), then one plain summary line `N passed, N failed`.
#
# As root on Debian (apt-get available) it first brings up the local one-node Slurm cluster (scripts/slurm-up.sh:
# installs the packages on a new machine, ~10-15 s; ~0.3 s when it is already up) and runs jest with FLEETCLIP_SLURM=1,
# so test/slurm/*.int.test.ts run against it. If that bring-up fails, the run fails: it never quietly skips them.
# Elsewhere (not root, no apt) it does not try, and those tests show as skipped ("skipped: no Slurm").
# Likewise the commands some tests drive (TEST_TOOLS: rclone for archive's remote destinations) are installed from
# Debian's packages when missing (one apt run, only then); elsewhere their tests say "skipped: no <command>".
#   FLEETCLIP_SLURM=0      do not touch Slurm; the Slurm tests are skipped
#   SLURM_LOCAL_FRESH=1    wipe the cluster's jobs and job ids first (the default under CI=true; off by default on a
#                          shared developer machine, where another test run may be using the cluster)
#   SLURM_LOCAL_*          passed on to scripts/slurm-up.sh (slurm/README.md)
# As root on Debian it also installs Debian's chromium when /usr/bin/chromium is missing (the report's browser test).
set -uo pipefail
cd "$(dirname "$0")/.."
export NODE_OPTIONS='--experimental-vm-modules --disable-warning=ExperimentalWarning'

if [ "${FLEETCLIP_SLURM:-}" = 0 ]; then
  echo "scripts/test.sh: FLEETCLIP_SLURM=0: the Slurm tests are skipped" >&2
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -f /etc/debian_version ]; then
  echo "scripts/test.sh: bringing up the local Slurm cluster (scripts/slurm-up.sh)" >&2
  if ! SLURM_LOCAL_FRESH=${SLURM_LOCAL_FRESH:-$([ -n "${CI:-}" ] && echo 1 || echo 0)} bash scripts/slurm-up.sh; then
    echo "scripts/test.sh: FAILED: the local Slurm cluster did not come up (see the lines above and /var/log/slurm/);" \
      "set FLEETCLIP_SLURM=0 to run without Slurm" >&2
    exit 1
  fi
  export FLEETCLIP_SLURM=1
else
  unset FLEETCLIP_SLURM
  echo "scripts/test.sh: not root on Debian: no local Slurm cluster, the Slurm tests are skipped" >&2
fi

# Debian package:command, for the tests that run the command (archive's rclone destinations, the report's browser test)
TEST_TOOLS=(rclone:rclone chromium:chromium)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -f /etc/debian_version ]; then
  missing=()
  for tool in "${TEST_TOOLS[@]}"; do command -v "${tool#*:}" >/dev/null || missing+=("${tool%%:*}"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "scripts/test.sh: installing ${missing[*]} for the tests (apt, --no-install-recommends)" >&2
    apt_log=$(mktemp /tmp/fleetclip-test-apt.XXXXXX)
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get -o DPkg::Lock::Timeout=600 update && apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}"; } \
      >"$apt_log" 2>&1 </dev/null; then
      tail -n 15 "$apt_log" >&2
      echo "scripts/test.sh: FAILED: apt-get could not install ${missing[*]} (full output: $apt_log)" >&2
      exit 1
    fi
    rm -f "$apt_log"
  else
    echo "scripts/test.sh: test tools present: ${TEST_TOOLS[*]#*:}" >&2
  fi
fi

rm -f jest-results.json
npx jest --json --outputFile=jest-results.json "$@"
status=$?
if [ -f jest-results.json ]; then
  node -e "const r=JSON.parse(require('fs').readFileSync('jest-results.json','utf8'));console.log(r.numPassedTests+' passed, '+r.numFailedTests+' failed'+(r.numPendingTests?', '+r.numPendingTests+' skipped':''))"
fi
exit $status
