#!/usr/bin/env bash
# The README's first command (`npm ci && npm run demo`): build, start the Batch API simulator, plan two hours of a
# past day for two vehicles and two cameras (960 slots), run it with local workers, print the status and the report,
# and say where the clips are. Every simulated delay is real-world x TIME_SCALE, and the rates are scaled up by the
# same factor (processing 0.3-2.5 s -> 30-250 ms; a 20 req/s API limit -> 200 req/s; the 10 ms floor between a
# worker's requests -> 1 ms; the 20 s hedge floor -> 2 s). The light fault mix includes the vendor's tail: 1 % of jobs
# take 150-225 s (15-22.5 s here), 0.5 % never become ready.
#
# `npm run demo -- --slurm`: the same campaign through the local Slurm cluster instead of the local executor: brings
# the cluster up (scripts/slurm-up.sh; root on Debian), `submit`s an array of 4 workers with the `local` profile, and
# follows it with `status --wait --slurm` until every shard is done.
set -euo pipefail
cd "$(dirname "$0")/.."

EXECUTOR=local
for arg in "$@"; do
  case "$arg" in
    --slurm) EXECUTOR=slurm ;;
    *) echo "demo: unknown argument '$arg' (the only one is --slurm)" >&2; exit 2 ;;
  esac
done

TIME_SCALE=0.1
DAY=2025-11-17            # a past day on which the simulator (seed 1, its default fleet) has data for both vehicles then
HOURS=15-17
VEHICLES=mav,megalodon
CAMERAS=front-center,left-center
CLIP_BYTES=262144         # small clips keep the demo to ~200 MB; the notebook's 1 MB floor is scaled with them
RUN=${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/fleetclip-demo.XXXXXX")}
mkdir -p "$RUN"
CLI=(node dist/cli.js)
started=$(date +%s)

echo "== build"
npm run --silent build

if [ "$EXECUTOR" = slurm ]; then
  echo "== local Slurm cluster"
  bash scripts/slurm-up.sh
fi

SIM_PID=''
cleanup() {
  if [ "$EXECUTOR" = slurm ] && [ -f "$RUN/manifest.sqlite" ]; then
    "${CLI[@]}" cancel --manifest "$RUN/manifest.sqlite" >/dev/null 2>&1 || true
  fi
  if [ -n "$SIM_PID" ] && kill -0 "$SIM_PID" 2>/dev/null; then
    kill "$SIM_PID" 2>/dev/null || true
    wait "$SIM_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== simulator (time scale $TIME_SCALE)"
mkfifo "$RUN/sim.fifo"
"${CLI[@]}" sim --port 0 --token-file "$RUN/token" --mint-token \
  --clip-bytes "$CLIP_BYTES" --time-scale "$TIME_SCALE" --rate-limit 200 \
  --rate-5xx 0.01 --rate-429 0.005 --drop-rate 0.01 --tiny-rate 0.01 \
  --long-job-rate 0.01 --never-ready-rate 0.005 >"$RUN/sim.fifo" 2>"$RUN/sim.log" &
SIM_PID=$!
exec 3<"$RUN/sim.fifo"
read -r -t 20 first_line <&3 || { echo "the simulator did not start; see $RUN/sim.log" >&2; exit 1; }
BASE=${first_line##* }
echo "$first_line"

echo "== plan"
"${CLI[@]}" plan --manifest "$RUN/manifest.sqlite" --out "$RUN/clips" --day "$DAY" --hours "$HOURS" \
  --vehicles "$VEHICLES" --cameras "$CAMERAS" --api-base "$BASE" --token-file "$RUN/token" \
  --api-rate 150 --min-time-ms 1 --clip-size "$CLIP_BYTES"

status=0
if [ "$EXECUTOR" = slurm ]; then
  echo "== submit"
  "${CLI[@]}" submit --manifest "$RUN/manifest.sqlite" --profile local --workers 4 --time 30 \
    --worker-arg=--min-clip-bytes=65536 --worker-arg=--hedge-floor=2
  echo "== status --wait --slurm"
  "${CLI[@]}" status --manifest "$RUN/manifest.sqlite" --wait --slurm || status=$?
else
  echo "== run"
  "${CLI[@]}" run --manifest "$RUN/manifest.sqlite" --min-clip-bytes 65536 --hedge-floor 2 --progress-interval 5 ${DEMO_RUN_FLAGS:-} || status=$?
fi

echo "== status"
"${CLI[@]}" status --manifest "$RUN/manifest.sqlite"
if "${CLI[@]}" --help | grep -q '^ *fleetclip report'; then
  echo "== report"
  "${CLI[@]}" report --manifest "$RUN/manifest.sqlite"
fi

clips=$(find "$RUN/clips" -name '*.bag' | wc -l)
echo "== $clips clips under $RUN/clips/<vehicle>/download<N>/, logs in $RUN/logs/, manifest $RUN/manifest.sqlite"
echo "== demo took $(( $(date +%s) - started )) s (run exit code $status)"
exit "$status"
