"""What the callgrind scripts (http_instructions.py, grpc_instructions.py) share: reading a
callgrind output file (dumped with --dump-instr=yes) and running a measurement in both modes."""
import collections
import re
import shutil
import tempfile


def parse(path):
    """Per-function exclusive Ir and per-64-byte-line Ir of one callgrind thread file. The file
    must carry instruction addresses (callgrind --dump-instr=yes): without them its cost lines
    are by source line, most of which this would skip, so it raises ValueError instead."""
    with open(path) as f:
        for line in f:
            if line.startswith("positions:"):
                if "instr" not in line.split():
                    raise ValueError("%s: no instruction addresses (--dump-instr=yes)" % path)
                break
            if line.startswith(("fn=", "cfn=")):
                raise ValueError("%s: no instruction addresses (--dump-instr=yes)" % path)
    names = {}
    fn = None
    addr = 0
    skip = False
    by_fn = collections.Counter()
    by_line = collections.Counter()
    with open(path) as f:
        for line in f:
            if line.startswith(("fn=", "cfn=")):
                m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
                if m and m.group(2):
                    names[m.group(1)] = m.group(2)
                if line.startswith("fn=") and m:
                    fn = names.get(m.group(1), m.group(1))
                continue
            if line.startswith("calls="):
                skip = True
                continue
            c = line[:1]
            if not (c.isdigit() or c in "+-*" or line.startswith("0x")):
                continue
            parts = line.split()
            a = parts[0]
            if a.startswith("0x"):
                addr = int(a, 16)
            elif a[0] in "+-":
                d = int(a[1:], 16) if a[1:].startswith("0x") else int(a[1:])
                addr = addr + d if a[0] == "+" else addr - d
            elif a != "*":
                continue
            if skip:  # the cost line of a call: inclusive, not this instruction's own
                skip = False
                continue
            if len(parts) < 2:
                continue
            ir = int(parts[-1])
            by_fn[fn] += ir
            by_line[addr >> 6] += ir
    return by_fn, by_line


def measure_modes(measure, binary, seconds, prefix):
    """measure(binary, traced, seconds, workdir) untraced, then traced, in a temporary directory
    (named with prefix) removed afterwards; returns both results."""
    workdir = tempfile.mkdtemp(prefix=prefix)
    try:
        return (measure(binary, False, seconds, workdir), measure(binary, True, seconds, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
