#!/usr/bin/env bash
# Every benchmark, one after the other (`npm run bench` builds first). Figures are recorded in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsx scripts/bench-manifest.ts
npx tsx scripts/bench-e2e.ts
npx tsx scripts/bench-archive.ts
if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v sinfo >/dev/null; then
  npx tsx scripts/bench-slurm.ts
else
  echo "bench:slurm skipped: needs root on Debian with Slurm installed (sinfo; bash scripts/slurm-up.sh installs it)"
fi
