#!/usr/bin/env bash
# `make demo` (the README's run command): the local fleet with traces to a file, then
# `bmcctl login`, `bmcctl power <server> status` and `bmcctl trace show <trace-id>` printing the
# waterfall. The fleet keeps running afterwards (make local-env-down stops it).
#   scripts/demo.sh [BUILD_DIR] [STATE_DIR]      (PORTS=auto: free ports instead of 8080/8081/...)
set -euo pipefail
BUILD=${1:-build}
STATE=${2:-.local-env}
cd "$(dirname "$0")/.."

python3 scripts/fleet.py down --build "$BUILD" --state "$STATE" >/dev/null 2>&1 || true
python3 scripts/fleet.py up --build "$BUILD" --state "$STATE" --traces file \
    --ports "${PORTS:-default}" --quiet
# shellcheck disable=SC1091
. "$STATE/env.sh"
server=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["servers"]["web-01"])' \
         "$STATE/state.json")
user=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["demo"]["username"])' \
         "$STATE/state.json")
password=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["demo"]["password"])' \
         "$STATE/state.json")

echo "Local fleet up: manager $BMCCTL_MANAGER_URL, gateway $BMCCTL_GATEWAY_URL, agent, simulated BMCs."
echo
echo "\$ bmcctl login --username $user --password-stdin"
printf '%s\n' "$password" | bmcctl login --username "$user" --password-stdin
echo
echo "\$ bmcctl power $server status"
if ! bmcctl power "$server" status 2> "$STATE/demo.err"; then
    cat "$STATE/demo.err" >&2
    exit 1
fi
cat "$STATE/demo.err"
trace=$(sed -n 's/^trace_id: //p' "$STATE/demo.err")
echo
echo "\$ bmcctl trace show $trace"
bmcctl trace show "$trace" --wait 5
echo
echo "The fleet keeps running. Try it yourself:"
echo "  source $STATE/env.sh && bmcctl servers list && bmcctl power $server on"
echo "Stop it with: make local-env-down"
