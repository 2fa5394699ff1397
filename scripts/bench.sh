#!/usr/bin/env bash
# Every benchmark, one after the other (`npm run bench` builds first). Figures are recorded in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsx scripts/bench-manifest.ts
npx tsx scripts/bench-e2e.ts
