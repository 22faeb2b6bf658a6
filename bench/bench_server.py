"""What the bench scripts share: starting bench_http's server in serve mode (`--child 0 ...`: it
prints "port N", then answers each line read with "served N") traced or untraced and asking it
how many requests it has served (http_instructions.py, http_profile.py), the checks and error
exit of a bench script and the traced - untraced table (grpc_instructions.py too)."""
import os
import shutil
import subprocess
import sys


def fail(msg):
    """Prints msg, prefixed with the script's name, on stderr and exits 1."""
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    print("%s: %s" % (name, msg), file=sys.stderr)
    sys.exit(1)


def require(binary, tools):
    """Fails unless every tool is on PATH and binary is an executable."""
    for tool in tools:
        if not shutil.which(tool):
            fail("%s is not installed" % tool)
    if not os.access(binary, os.X_OK):
        fail("no %s (make -f Makefile.dev bench builds it)" % binary)


def start(binary, traced, child_args, wrapper=()):
    """Starts binary's server in serve mode (child_args after "--child 0 1"), under wrapper (a
    command prefix, such as valgrind) if given, with OTEL_SDK_DISABLED set for the mode; returns
    the process (its stdin and stdout are pipes) and the port it listens on."""
    env = dict(os.environ)
    env["OTEL_SDK_DISABLED"] = "false" if traced else "true"
    proc = subprocess.Popen(
        list(wrapper) + [binary, "--child", "0", "1"] + [str(a) for a in child_args], env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    first = proc.stdout.readline().split()
    if len(first) != 2 or first[0] != "port":
        fail("the server did not start" + (" under " + wrapper[0] if wrapper else ""))
    return proc, int(first[1])


def served(proc):
    """The number of requests proc's server has answered so far."""
    proc.stdin.write("\n")
    proc.stdin.flush()
    line = proc.stdout.readline().split()
    if len(line) != 2 or line[0] != "served":
        fail("unexpected answer from the server: %r" % line)
    return int(line[1])


def print_diff(untraced, traced, n_untraced, n_traced, least, decimals):
    """Prints on stderr the 25 names whose cost per request (a Counter of totals per name, divided
    by the requests counted) differs most between the modes, those differing by at least least,
    as "# <difference> <untraced> -> <traced> <name>"."""
    rows = []
    for k in set(untraced) | set(traced):
        a = untraced.get(k, 0) / n_untraced
        b = traced.get(k, 0) / n_traced
        rows.append((b - a, a, b, k))
    rows.sort(key=lambda r: abs(r[0]), reverse=True)
    for d, a, b, k in rows[:25]:
        if abs(d) >= least:
            print("#  %+7.*f  %7.*f -> %7.*f  %s" % (decimals, d, decimals, a, decimals, b, k),
                  file=sys.stderr)
