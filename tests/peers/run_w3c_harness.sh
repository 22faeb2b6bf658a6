#!/usr/bin/env bash
# Runs the official W3C Trace Context test harness (levels 1 and 2, strict) against
# tests/peers/w3c_tc_service.
#
# Usage: run_w3c_harness.sh <w3c_tc_service binary> <path to a w3c/trace-context checkout>
# The checkout may be a work tree (with test/test.py) or a bare/mirror git directory (its
# HEAD:test is exported). Needs /usr/bin/python3 with aiohttp (Debian python3-aiohttp).
# Picks free loopback ports, starts and stops the service, and exits non-zero when the harness
# reports any failure or error. Not a ctest test: CI has no copy of that repository.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 <w3c_tc_service binary> <w3c/trace-context checkout>" >&2
    exit 2
fi
service=$1
repo=$2
[ -x "$service" ] || { echo "not executable: $service" >&2; exit 2; }
[ -n "$repo" ] && [ -d "$repo" ] || { echo "no such directory: '$repo' (set W3C_REPO)" >&2; exit 2; }

work=$(mktemp -d /tmp/w3c-harness.XXXXXX)
svc_pid=
cleanup() {
    if [ -n "$svc_pid" ] && kill -0 "$svc_pid" 2>/dev/null; then
        kill "$svc_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$svc_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$svc_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# The harness sources.
if [ -f "$repo/test/test.py" ]; then
    cp -r "$repo/test" "$work/test"
else
    git -C "$repo" archive HEAD test | tar -x -C "$work"
fi
[ -f "$work/test/test.py" ] || { echo "no test/test.py in $repo" >&2; exit 2; }

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# The service picks its own free port (0) and reports it, so there is no race for it.
"$service" 0 > "$work/service.out" 2> "$work/service.err" &
svc_pid=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/service.out")
    [ -n "$port" ] && break
    kill -0 "$svc_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "w3c_tc_service did not start:" >&2
    cat "$work/service.err" >&2
    exit 1
fi
harness_port=$(free_port)
echo "service on 127.0.0.1:$port, harness on 127.0.0.1:$harness_port"

rc=0
(cd "$work/test" && STRICT_LEVEL=2 SPEC_LEVEL=2 HARNESS_HOST=127.0.0.1 HARNESS_PORT=$harness_port \
    timeout 600 /usr/bin/python3 test.py "http://127.0.0.1:$port/test") 2>&1 | tee "$work/harness.log" \
    || rc=$?
if [ "$rc" -eq 0 ] && ! grep -Eq '^OK( \(skipped=[0-9]+\))?$' "$work/harness.log"; then
    rc=1
fi
if [ -s "$work/service.err" ]; then
    echo "--- service stderr:"
    cat "$work/service.err"
fi
summary=$(grep -E '^Ran [0-9]+ tests?' "$work/harness.log" || true)
echo "harness: ${summary:-no summary}; result: $(tail -n 1 "$work/harness.log")"
exit $rc
