#!/usr/bin/env python3
"""Instructions per call of a traced and an untraced gRPC unary call (callgrind).

bench_grpc's req/s and CPU per call move by several percent from one run to the next on a small
shared machine (its client, server and gRPC threads share the CPUs), more than the tracing
overhead itself. Instruction counts do not: this runs one round of bench_grpc's chain measurement
(client and server traced in one process; --traced-round, --untraced-round; one client thread, a
strict ping-pong, so the gRPC core polls the same way on every call) under callgrind, once with
OTEL_SDK_DISABLED=true and once traced, zeroes the counters after a warm-up and counts what every
thread of the process (client, server, gRPC core, the SDK's export thread) executes per call.
Prints

  grpc.unary.chain.instr_per_call.untraced   instructions per call, all threads
  grpc.unary.chain.instr_per_call.traced
  grpc.unary.chain.instr_overhead_pct        (traced - untraced) / untraced

then the functions whose own instructions per call differ most between the two runs. Most of a
call's CPU time is in the kernel (sockets, futexes, epoll), which callgrind does not count: the
instruction overhead is larger than the CPU-time overhead, but it is what the tracing adds in user
space, to within a few instructions.

Usage: bench/grpc_instructions.py [path/to/bench_grpc] [seconds]   (default
build-bench/bench/bench_grpc, 8 s counted after 5 s of start-up and warm-up). Needs valgrind.
"""
import os
import re
import subprocess
import sys
import time

from bench_server import fail, print_diff, require
from callgrind_util import measure_modes, parse

WARMUP_S = 5


def handler_calls(path):
    """Calls of bench_grpc's handler (echo) in a callgrind file: one per gRPC call served."""
    names = {}
    total = 0
    callee = None
    with open(path) as f:
        for line in f:
            m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
            if m:
                if m.group(2):
                    names[m.group(1)] = m.group(2)
                callee = names.get(m.group(1)) if line.startswith("cfn=") else None
                continue
            if line.startswith("calls=") and callee and re.match(r"echo(\.|$)", callee):
                total += int(line.split("=")[1].split()[0])
    return total


def measure(binary, traced, seconds, workdir):
    out = os.path.join(workdir, "cg-%s" % ("traced" if traced else "untraced"))
    env = dict(os.environ, OTEL_SDK_DISABLED="false" if traced else "true", BENCH_GRPC_CLIENTS="1",
               BENCH_GRPC_SECONDS=str(WARMUP_S + seconds + 3))
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--dump-instr=yes",
                             "--callgrind-out-file=" + out + ".%p",
                             binary, "--traced-round" if traced else "--untraced-round"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(WARMUP_S)
    subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True, check=True)
    time.sleep(seconds)
    subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, check=True)
    if proc.wait(timeout=120) != 0:
        fail("bench_grpc failed under callgrind")
    # The dump made at callgrind_control -d carries a part number (".1"); the final dump at exit
    # (the rest of the round and the shutdown) has none and is left out.
    dumped = out + ".%d.1" % proc.pid
    if not os.path.exists(dumped):
        fail("no callgrind dump")
    by_fn, _ = parse(dumped)
    n = handler_calls(dumped)
    if n == 0:
        fail("no calls counted")
    return {"n": n, "ir": sum(by_fn.values()) / n, "fn": by_fn}


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build-bench/bench/bench_grpc"
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    require(binary, ("valgrind", "callgrind_control"))
    u, t = measure_modes(measure, binary, seconds, "grpc_instr_")
    print("grpc.unary.chain.instr_per_call.untraced %.0f instructions" % u["ir"])
    print("grpc.unary.chain.instr_per_call.traced %.0f instructions" % t["ir"])
    print("grpc.unary.chain.instr_overhead_pct %.2f pct" % ((t["ir"] - u["ir"]) / u["ir"] * 100))
    print("# %d and %d calls counted; own instructions per call, traced - untraced:"
          % (u["n"], t["n"]), file=sys.stderr)
    print_diff(u["fn"], t["fn"], u["n"], t["n"], 5, 0)


if __name__ == "__main__":
    main()
