#!/usr/bin/env python3
"""Where the service thread's CPU goes per request, traced and untraced (perf, wall time).

http_instructions.py counts instructions, which do not move from run to run but say nothing of
the time an instruction waits (a cache line still on the other CPU, a page walk). This samples
time instead: it runs bench_http's server (GET /v1/servers/{id}, a SQLite read) pinned like the
req/s bench (service thread on one CPU, wrk and the SDK's export thread on another), loads it
with wrk and samples everything that runs on the service thread's CPU with `perf record -e
cpu-clock` (a software clock: no hardware counters needed, so it works in a VM), kernel included.
Modes alternate (traced, untraced, untraced, traced, ...) over ROUNDS rounds, and each mode's
samples are divided by the requests it served while perf ran. Prints

  http.server.profile_ns_per_req.{traced,untraced}          everything on that CPU
  http.server.profile_ns_per_req.<dso>.{traced,untraced}     per binary: the kernel, libc,
                                                              libwebsockets, SQLite, jansson, and
                                                              bench_http itself (the core library,
                                                              the telemetry library and the handler
                                                              are linked into it)

then, on stderr, the functions of bench_http whose time per request differs most between the two
modes: what the tracing costs, function by function, in nanoseconds. The kernel's share moves by
hundreds of nanoseconds from one run to the next (it is half of the time), so read the totals
with care; the bench_http lines are the steady part. Sampling (20 kHz) perturbs the server:
absolute figures are higher than without perf.

Usage: bench/http_profile.py [path/to/bench_http] [rounds] [seconds]   (default
build-bench/bench/bench_http, 2 rounds, 4 s of sampling per run). Needs perf (linux-perf), wrk,
taskset and two CPUs; perf must be allowed to sample a CPU (root, or perf_event_paranoid <= 0).
A build with -g (cmake -DCMAKE_C_FLAGS=-g) lets `perf annotate -i <file>` show the source of a
function: the data files are kept with BENCH_PROFILE_KEEP=dir.
"""
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time

from bench_server import fail, print_diff, require, served, start

FREQ = 20000


def report(path, sort, dso=None):
    """{name: samples} from perf report."""
    cmd = ["perf", "report", "-i", path, "--no-children", "--sort", sort, "--stdio", "-n"]
    if dso:
        cmd += ["--dso", dso]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    rows = collections.Counter()
    for line in out.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split()
        # "  54.56%  1234  [kernel.kallsyms]" or "  4.1%  210  [.] tel_span_start_ex"
        if len(parts) < 3 or not parts[0].endswith("%"):
            continue
        try:
            n = int(parts[1])
        except ValueError:
            continue
        rows[parts[-1]] += n
    return rows


def run(binary, traced, seconds, server_cpu, load_cpu, workdir, tag):
    proc, port = start(binary, traced, (server_cpu, load_cpu, load_cpu))
    try:
        url = "http://127.0.0.1:%d/v1/servers/42" % port
        wrk = ["taskset", "-c", str(load_cpu), "wrk", "-t1", "-c20"]
        subprocess.run(wrk + ["-d2s", url], capture_output=True, check=True)  # warm-up
        load = subprocess.Popen(wrk + ["-d%ds" % (seconds + 2), url], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(1)
        n0 = served(proc)
        data = os.path.join(workdir, "perf.%s" % tag)
        r = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(FREQ), "-C",
                            str(server_cpu), "-o", data, "--", "sleep", str(seconds)],
                           capture_output=True, text=True)
        n1 = served(proc)
        load.wait()
        if r.returncode != 0:
            fail("perf record failed: " + r.stderr.strip())
        return data, n1 - n0
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build-bench/bench/bench_http"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    require(binary, ("perf", "wrk", "taskset"))
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        fail("needs two CPUs")
    server_cpu, load_cpu = cpus[0], cpus[1]
    keep = os.environ.get("BENCH_PROFILE_KEEP")
    workdir = keep or tempfile.mkdtemp(prefix="http_profile_")
    os.makedirs(workdir, exist_ok=True)
    ns_per_sample = 1e9 / FREQ
    dsos = {True: collections.Counter(), False: collections.Counter()}
    syms = {True: collections.Counter(), False: collections.Counter()}
    reqs = {True: 0, False: 0}
    try:
        for r in range(rounds):
            order = (True, False) if r % 2 == 0 else (False, True)
            for traced in order:
                tag = "%s.%d" % ("traced" if traced else "untraced", r)
                data, n = run(binary, traced, seconds, server_cpu, load_cpu, workdir, tag)
                if n <= 0:
                    fail("no requests served while sampling")
                reqs[traced] += n
                dsos[traced].update(report(data, "dso"))
                syms[traced].update(report(data, "sym", os.path.basename(binary)))
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)

    def per_req(counter, traced, key):
        return counter[traced].get(key, 0) * ns_per_sample / reqs[traced]

    for traced in (True, False):
        mode = "traced" if traced else "untraced"
        total = sum(dsos[traced].values()) * ns_per_sample / reqs[traced]
        print("http.server.profile_ns_per_req.%s %.0f ns" % (mode, total))
    # perf's own samples on that CPU are left out of the per-binary lines (not of the totals).
    names = sorted((set(dsos[True]) | set(dsos[False])) - {"perf"},
                   key=lambda k: -(dsos[True].get(k, 0) + dsos[False].get(k, 0)))
    for k in names[:8]:
        label = k.strip("[]").split(".so")[0].replace("kernel.kallsyms", "kernel")
        for traced in (True, False):
            print("http.server.profile_ns_per_req.%s.%s %.1f ns"
                  % (label, "traced" if traced else "untraced", per_req(dsos, traced, k)))
    sys.stdout.flush()
    print("# %d and %d requests sampled; time per request in %s, traced - untraced (ns):"
          % (reqs[True], reqs[False], os.path.basename(binary)), file=sys.stderr)
    # Samples to ns: each sample stands for 1e9 / FREQ ns.
    print_diff({k: v * ns_per_sample for k, v in syms[False].items()},
               {k: v * ns_per_sample for k, v in syms[True].items()}, reqs[False], reqs[True],
               2, 1)

if __name__ == "__main__":
    main()
