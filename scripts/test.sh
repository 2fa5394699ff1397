#!/usr/bin/env bash
# The whole test suite: jest (ESM through ts-jest), then one plain summary line `N passed, N failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
export NODE_OPTIONS='--experimental-vm-modules --disable-warning=ExperimentalWarning'
rm -f jest-results.json
npx jest --json --outputFile=jest-results.json "$@"
status=$?
if [ -f jest-results.json ]; then
  node -e "const r=JSON.parse(require('fs').readFileSync('jest-results.json','utf8'));console.log(r.numPassedTests+' passed, '+r.numFailedTests+' failed'+(r.numPendingTests?', '+r.numPendingTests+' skipped':''))"
fi
exit $status
