#!/usr/bin/env python3
"""Instructions per request of the core HTTP server, traced and untraced (callgrind).

On a small shared machine req/s and CPU time move by several percent from one minute to the next
(see bench_http.c), more than the tracing overhead itself. Instruction counts do not move: this
runs bench_http's server (GET /v1/servers/{id}, a SQLite read, the same code as the req/s bench)
under callgrind, once with OTEL_SDK_DISABLED=true and once traced, loads each with wrk and counts
what the service thread executes per request served, after a warm-up (the counters are zeroed
when it ends, so start-up costs are out). Prints

  http.server.instr_per_req.untraced       instructions of the service thread per request
  http.server.instr_per_req.traced
  http.server.instr_overhead_pct           (traced - untraced) / untraced
  http.server.instr_per_req.other_threads  the traced server's other threads (the export
                                           thread) per request: off the request path
  http.server.code_lines_per_req.{untraced,traced}
                                           distinct 64-byte lines of code the service thread
                                           runs per request (its instruction-cache footprint)

then the functions whose own instructions per request differ most between the two runs.
Instructions are not time (cache misses and the kernel are not counted), but they are what the
tracing adds on the request path, and they move far less than time from run to run: by about 100
per request (where malloc finds memory, lws's paths), not by percents.

With --parts, the traced server is measured again with one part of its telemetry turned off at a
time (bench_http's diagnostic switches), and what each part costs the service thread per request
is printed as the difference:

  http.server.instr_part.db_spans          the database's CLIENT spans (BENCH_HTTP_NO_DB_TRACES)
  http.server.instr_part.metrics           every metric (BENCH_HTTP_NO_METRICS)
  http.server.instr_part.traces            every span, the traceparent answer (BENCH_HTTP_NO_TRACES)
  http.server.instr_part.span_export       handing ended spans to the batch processor
                                           (BENCH_HTTP_NO_PROC; negative: the durations the
                                           export thread records then stay on the request path)

Each is a difference of two measurements whose heap and lws paths vary by about 100
instructions per request from run to run: read them to that precision.

Usage: bench/http_instructions.py [path/to/bench_http] [seconds] [--parts]   (default
build-bench/bench/bench_http, 4 s of load). Needs valgrind and wrk.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from bench_server import fail, print_diff, require, served, start
from callgrind_util import measure_modes, parse


def wrk(port, seconds):
    r = subprocess.run(["wrk", "-t1", "-c10", "-d%ds" % seconds,
                        "http://127.0.0.1:%d/v1/servers/42" % port],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail("wrk failed: " + r.stderr)


def measure(binary, traced, seconds, workdir):
    out = os.path.join(workdir, "cg-%s" % ("traced" if traced else "untraced"))
    proc, port = start(binary, traced, (-1, -1, -1),
                       ("valgrind", "--tool=callgrind", "--separate-threads=yes",
                        "--dump-instr=yes", "--callgrind-out-file=" + out + ".%p"))
    wrk(port, 2)  # warm-up: caches, prepared statements, bound metric series
    n0 = served(proc)
    subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True, check=True)
    wrk(port, seconds)
    n1 = served(proc)
    subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, check=True)
    time.sleep(0.5)
    files = glob.glob(out + ".%d*" % proc.pid)
    proc.stdin.close()
    proc.wait(timeout=120)
    # The dump made at callgrind_control -d carries a part number (".1"); the final dump at
    # exit (covering only the shutdown) has none and is left out.
    dumped = [f for f in files if re.search(r"\.\d+\.1(-\d+)?$", f)] or files
    threads = []
    for f in dumped:
        by_fn, by_line = parse(f)
        threads.append((sum(by_fn.values()), by_fn, by_line))
    if not threads or n1 <= n0:
        fail("no requests counted")
    threads.sort(key=lambda t: t[0], reverse=True)
    n = n1 - n0
    svc = threads[0]
    others = sum(t[0] for t in threads[1:])
    lines = sum(1 for c in svc[2].values() if c >= n / 2)  # run at least every other request
    return {"n": n, "svc": svc[0] / n, "others": others / n, "fn": svc[1], "lines": lines}


PARTS = (("db_spans", "BENCH_HTTP_NO_DB_TRACES"), ("metrics", "BENCH_HTTP_NO_METRICS"),
         ("traces", "BENCH_HTTP_NO_TRACES"), ("span_export", "BENCH_HTTP_NO_PROC"))


def parts(binary, seconds, traced):
    """Prints the cost of each of PARTS: traced["svc"] minus a traced run with its switch set."""
    workdir = tempfile.mkdtemp(prefix="http_instr_parts_")
    try:
        for name, var in PARTS:
            os.environ[var] = "1"
            try:
                without = measure(binary, True, seconds, workdir)
            finally:
                del os.environ[var]
            print("http.server.instr_part.%s %.0f instructions" % (name, traced["svc"] - without["svc"]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    args = [a for a in sys.argv[1:] if a != "--parts"]
    binary = args[0] if args else "build-bench/bench/bench_http"
    seconds = int(args[1]) if len(args) > 1 else 4
    require(binary, ("valgrind", "callgrind_control", "wrk"))
    for var in dict(PARTS).values():
        os.environ.pop(var, None)  # the main figures are of everything on
    u, t = measure_modes(measure, binary, seconds, "http_instr_")
    print("http.server.instr_per_req.untraced %.0f instructions" % u["svc"])
    print("http.server.instr_per_req.traced %.0f instructions" % t["svc"])
    print("http.server.instr_overhead_pct %.2f pct" % ((t["svc"] - u["svc"]) / u["svc"] * 100))
    print("http.server.instr_per_req.other_threads %.0f instructions" % t["others"])
    print("http.server.code_lines_per_req.untraced %d lines" % u["lines"])
    print("http.server.code_lines_per_req.traced %d lines" % t["lines"])
    print("# %d and %d requests counted; own instructions per request, traced - untraced:"
          % (u["n"], t["n"]), file=sys.stderr)
    print_diff(u["fn"], t["fn"], u["n"], t["n"], 5, 0)
    if "--parts" in sys.argv[1:]:
        parts(binary, seconds, t)

if __name__ == "__main__":
    main()
