#!/usr/bin/env python3
"""End-to-end tests of the fleet through bmcctl: simulated BMCs (ipmi_sim), bmc-manager,
bmc-gateway, bmc-agent, all started by scripts/fleet.py on loopback with free ports.

    e2e_fleet.py SCENARIO --build BUILD_DIR

Scenarios (one ctest test each, each well under 90 s):
  trace_file     telemetry of every process to one OTLP JSON lines file
  trace_otlp     telemetry of every process over OTLP/HTTP to tests/peers/otlp_receiver.js, which
                 decodes with @opentelemetry/otlp-transformer 0.52.1 (our exporter keeps one
                 destination per signal per process, so the file and the receiver are two runs of
                 the same scenario)
      Both: `bmcctl login`, `bmcctl power <server> on`, `bmcctl power <server> status`; exactly
      one trace per command; spans of bmcctl, bmc-manager, bmc-gateway and bmc-agent with the
      right parents across HTTP (bmcctl -> gateway, gateway -> manager) and gRPC (gateway ->
      agent); the ipmi.* spans under the agent's server span; the baggage-derived attributes
      on each service's spans; the simulator's power state read back with ipmitool; and
      `bmcctl trace show` printing the trace.
  security       wrong password, expired / tampered / alg:none / unknown-kid tokens, customer A
                 asking for customer B's server (by id, location, power and by listing), SQL
                 metacharacters in every string field; then no password, token, key or BMC
                 credential in any span, log line, /metrics page or bmcctl output of the run
  failure_agent  agent killed with SIGKILL while registered: the next power call fails within
                 2 s with 503 and an error span; the agent restarted: calls work again, same
                 gateway process
  failure_bmc    a BMC that does not answer (SIGSTOPped ipmi_sim, and an endpoint nobody
                 serves): the call fails within its deadline with a clear message; the BMC back:
                 calls work again

The gateway runs with GW_SERVER_CACHE_TTL=0ms so that every power call looks the server up at
the manager (otherwise the second call of a run would be served from the gateway's cache and
its trace would, correctly, have no manager span).

Exit 0 pass, 1 fail (with the reasons and the end of the logs), 77 skipped (a peer is missing:
ipmi_sim/ipmitool, or node_modules for trace_otlp).
"""
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import fleet as fleetmod  # noqa: E402
from fleet import Fleet, FleetError, http_json  # noqa: E402

SKIP = 77
SANITIZER = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|"
                       r"runtime error: |SUMMARY: (Address|Leak|Thread|UndefinedBehavior)Sanitizer")
SANITIZER_REPORTS = []  # filled by Run.close: fails the scenario even when it passed


class Failed(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failed(msg)


def log(*a):
    print(*a, flush=True)


# ---- spans from OTLP JSON (our file exporter) and from the receiver's --out lines ----

def anyvalue(v):
    if not isinstance(v, dict):
        return v
    for k in ("stringValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    if "intValue" in v:
        return int(v["intValue"])
    if "arrayValue" in v:
        return [anyvalue(x) for x in v["arrayValue"].get("values", [])]
    return None


def attrs_of(lst):
    return {kv["key"]: anyvalue(kv.get("value")) for kv in lst or []}


def id_hex(v):
    if not v:
        return ""
    if re.fullmatch(r"[0-9a-fA-F]+", v):
        return v.lower()
    return base64.b64decode(v).hex()


def spans_from_request(req):
    out = []
    for rs in req.get("resourceSpans", []) or []:
        res = attrs_of((rs.get("resource") or {}).get("attributes"))
        for ss in rs.get("scopeSpans", []) or []:
            for sp in ss.get("spans", []) or []:
                st = sp.get("status") or {}
                out.append({
                    "trace_id": id_hex(sp.get("traceId")), "span_id": id_hex(sp.get("spanId")),
                    "parent": id_hex(sp.get("parentSpanId")), "name": sp.get("name", ""),
                    "kind": int(sp.get("kind", 0) or 0), "service": res.get("service.name"),
                    "resource": res, "attrs": attrs_of(sp.get("attributes")),
                    "status": int(st.get("code", 0) or 0), "status_message": st.get("message", ""),
                    "start": int(sp.get("startTimeUnixNano", 0)),
                    "end": int(sp.get("endTimeUnixNano", 0)),
                    "events": sp.get("events", []) or [],
                })
    return out


def load_spans(path, receiver=False):
    spans, meta = [], []
    if not os.path.exists(path):
        return spans, meta
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise Failed("%s: a line is not JSON: %s" % (path, line[:200]))
            if receiver:
                meta.append(obj.get("meta", {}))
                obj = obj.get("request") or {}
            spans.extend(spans_from_request(obj))
    return spans, meta


SK_INTERNAL, SK_SERVER, SK_CLIENT = 1, 2, 3


class Run:
    """One scenario's fleet, bmcctl users and collected outputs; cleaned up by close()."""

    def __init__(self, build, traces="file", gateway_env=None, extra_servers=None, bmcs=3,
                 agent_env=None):
        for prog in ("ipmi_sim", "ipmitool"):
            if not shutil.which(prog) and not os.path.exists("/usr/bin/" + prog):
                raise Skip("%s is not installed" % prog)
        self.build = build
        self.tmp = tempfile.mkdtemp(prefix="bmc-e2e-")
        self.outputs = []     # every bmcctl stdout/stderr (for the leak check)
        self.receiver = None
        self.receiver_out = os.path.join(self.tmp, "receiver.jsonl")
        endpoint = None
        if traces == "otlp":
            endpoint = self.start_receiver()
        genv = {"GW_SERVER_CACHE_TTL": "0ms"}
        genv.update(gateway_env or {})
        # Free ports are picked before the services bind them: another test may take one in
        # between, so a start-up failure is retried once with new ports.
        for attempt in (1, 2):
            self.fleet = Fleet(build, os.path.join(self.tmp, "fleet"), traces=traces,
                               otlp_endpoint=endpoint, bmcs=bmcs, ports="auto", quiet=True,
                               gateway_env=genv, agent_env=agent_env, extra_servers=extra_servers)
            try:
                self.fleet.up()
                break
            except FleetError as e:
                if attempt == 2:
                    self.close(False)
                    raise
                log("fleet start-up failed, retrying with other ports: %s" % str(e)[:300])
        self.bmcctl_path = self.fleet.binary("bmcctl")

    def start_receiver(self):
        node = shutil.which("node")
        peers = os.path.join(REPO, "tests", "peers")
        if not node or not os.path.isdir(os.path.join(peers, "node_modules", "@opentelemetry",
                                                        "otlp-transformer")):
            raise Skip("node or tests/peers/node_modules (npm ci) missing")
        self.receiver = subprocess.Popen(
            [node, os.path.join(peers, "otlp_receiver.js"), "--port", "0", "--out",
             self.receiver_out, "--lifetime", "120"], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True)
        line = self.receiver.stdout.readline().decode()
        m = re.match(r"PORT (\d+)", line)
        if not m:
            raise Failed("otlp_receiver.js did not start: %r %s" % (
                line, self.receiver.stderr.read(2000).decode() if self.receiver.poll() is not None else ""))
        return "http://127.0.0.1:%s" % m.group(1)

    def close(self, ok):
        try:
            self.fleet.down()
        except Exception:  # noqa: BLE001
            traceback.print_exc()
        # sanitizer builds: a report in any process's output fails the scenario
        texts = {"bmcctl output": "\n".join(self.outputs)}
        logdir = os.path.join(self.fleet.state, "logs")
        for name in os.listdir(logdir) if os.path.isdir(logdir) else []:
            with open(os.path.join(logdir, name), encoding="utf-8", errors="replace") as f:
                texts[name] = f.read()
        for name, text in texts.items():
            m = SANITIZER.search(text)
            if m:
                SANITIZER_REPORTS.append("%s: %s" % (name, text[max(0, m.start() - 200):m.start() + 2000]))
        if SANITIZER_REPORTS:
            ok = False
        if self.receiver and self.receiver.poll() is None:
            self.receiver.send_signal(signal.SIGTERM)
            try:
                self.receiver.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.receiver.kill()
                self.receiver.wait()
        if ok:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            for name in ("manager", "gateway", "agent", "ipmisim"):
                log("---- end of %s log ----\n%s" % (name, self.fleet.log_tail(name, 15)))
            log("(kept %s)" % self.tmp)

    # ---- bmcctl ----
    def user_env(self, user):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith(("OTEL_", "BMCCTL_", "BMC_TRACES")):
                del e[k]
        e.update(self.fleet.bmcctl_env())
        e["BMCCTL_CONFIG_DIR"] = os.path.join(self.tmp, "cfg-" + user)
        return e

    def bmcctl(self, user, *args, stdin=None, timeout=30):
        t0 = time.monotonic()
        r = subprocess.run([self.bmcctl_path] + list(args), input=stdin.encode() if stdin else None,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.user_env(user),
                           timeout=timeout)
        el = time.monotonic() - t0
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        self.outputs.append(out + err)
        m = re.search(r"^trace_id: ([0-9a-f]{32})$", err, re.M)
        tid = m.group(1) if m else None
        if not tid:
            try:
                tid = json.loads(out.splitlines()[-1]).get("trace_id") if out.strip() else None
            except (ValueError, IndexError, AttributeError):
                tid = None
        return r.returncode, out, err, tid, el

    def login(self, user, password):
        rc, out, err, tid, _ = self.bmcctl(user, "login", "--username", user, "--password-stdin",
                                           stdin=password + "\n")
        check(rc == 0, "bmcctl login %s: exit %d: %s" % (user, rc, err))
        return tid

    def ipmitool(self, i, *args):
        b = self.fleet.bmcs
        r = subprocess.run(["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p",
                            b["BMC%d_PORT" % i], "-U", b["BMC_USER"], "-P", b["BMC_PASSWORD"],
                            "-C", "3"] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
        return r.returncode, r.stdout.decode(errors="replace")

    # ---- traces ----
    def spans(self):
        if self.fleet.traces == "otlp":
            spans, meta = load_spans(self.receiver_out, receiver=True)
            for m in meta:
                check(not m.get("decodeError"), "the receiver could not decode a request: %s" % m)
                check(not m.get("jsonErrors"), "OTLP/JSON violations: %s" % m.get("jsonErrors"))
            return spans
        return load_spans(self.fleet.traces_file)[0]

    def wait_trace(self, tid, services, timeout=10.0):
        """The spans of trace tid once every service in `services` has spans in it and every
        parent is present (or timeout: returns what there is)."""
        deadline = time.time() + timeout
        while True:
            spans = [s for s in self.spans() if s["trace_id"] == tid]
            have = {s["service"] for s in spans}
            ids = {s["span_id"] for s in spans}
            complete = all(not s["parent"] or s["parent"] in ids for s in spans)
            if (set(services) <= have and complete) or time.time() > deadline:
                return spans
            time.sleep(0.2)

    def metrics_pages(self):
        pages = []
        for port in (self.fleet.ports["manager"], self.fleet.ports["gateway"],
                     self.fleet.ports["agent_metrics"]):
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
                    pages.append(r.read().decode(errors="replace"))
            except OSError as e:
                raise Failed("cannot read /metrics on %d: %s" % (port, e))
        return pages


def show(spans):
    return "\n".join("  %s %-12s %-40s kind=%d parent=%s status=%d %s" % (
        s["span_id"], s["service"], s["name"], s["kind"], s["parent"] or "-", s["status"],
        {k: v for k, v in s["attrs"].items() if k in ("customer_id", "server_id", "datacenter",
                                                   "agent_id", "bmc_type")})
        for s in sorted(spans, key=lambda x: x["start"]))


def check_one_tree(spans, tid, root_name):
    """One root (bmcctl's), every parent present, all in trace tid."""
    check(spans, "trace %s: no spans" % tid)
    ids = {s["span_id"]: s for s in spans}
    roots = [s for s in spans if not s["parent"]]
    check(len(roots) == 1, "trace %s: %d roots (want 1):\n%s" % (tid, len(roots), show(spans)))
    check(roots[0]["service"] == "bmcctl" and roots[0]["name"] == root_name,
          "trace %s: root is %s/%s, want bmcctl/%s" % (tid, roots[0]["service"], roots[0]["name"],
                                                       root_name))
    orphans = [s for s in spans if s["parent"] and s["parent"] not in ids]
    check(not orphans, "trace %s: spans whose parent is missing:\n%s" % (tid, show(orphans)))
    return ids


def check_nested(spans, ids, tid, slack_ns=200000):
    """Every span lies within its parent's time (slack for the processes' clocks): the
    waterfall a user reads nests, a callee never outlives its caller's wait."""
    bad = []
    for s in spans:
        p = ids.get(s["parent"])
        if not p:
            continue
        if s["start"] < p["start"] - slack_ns or s["end"] > p["end"] + slack_ns:
            bad.append("  %s/%s starts %+d us, ends %+d us after its parent %s/%s ends "
                       "(the parent lasted %d us)" % (
                           s["service"], s["name"], (s["start"] - p["start"]) // 1000,
                           (s["end"] - p["end"]) // 1000, p["service"], p["name"],
                           (p["end"] - p["start"]) // 1000))
    if bad:
        t0 = min(s["start"] for s in spans)
        bad.append("the trace (us from its start):")
        bad += ["  %7d %7d  %s/%s kind=%d" % ((s["start"] - t0) // 1000, (s["end"] - t0) // 1000,
                                               s["service"], s["name"], s["kind"])
                for s in sorted(spans, key=lambda x: x["start"])]
    check(not bad, "trace %s: spans outside their parent's time:\n%s" % (tid, "\n".join(bad)))


def find(spans, service, kind=None, name=None, prefix=None):
    out = [s for s in spans if s["service"] == service and (kind is None or s["kind"] == kind)
           and (name is None or s["name"] == name)
           and (prefix is None or s["name"].startswith(prefix))]
    return out


def ancestors(ids, s):
    seen = []
    p = s["parent"]
    while p and p in ids and len(seen) < 64:
        seen.append(ids[p])
        p = ids[p]["parent"]
    return seen


# ---- scenarios ----

def scenario_trace(build, mode):
    run = Run(build, traces=mode)
    ok = False
    try:
        fl = run.fleet
        srv = fl.servers["web-01"]
        rc, out = run.ipmitool(1, "chassis", "power", "status")
        check(rc == 0 and "off" in out, "BMC1 should start powered off: %s" % out)

        t_login = run.login("demo", fleetmod.DEMO_PASSWORD)
        with open(os.path.join(run.tmp, "cfg-demo", "config.json")) as f:
            customer = json.load(f)["customer_id"]
        rc, out, err, t_on, _ = run.bmcctl("demo", "power", srv, "on")
        check(rc == 0 and "power is on" in out, "power on: exit %d: %s %s" % (rc, out, err))
        rc, ipmi_out = run.ipmitool(1, "chassis", "power", "status")
        check(rc == 0 and "Chassis Power is on" in ipmi_out,
              "ipmitool does not see the power on: %s" % ipmi_out)
        rc, out, err, t_status, _ = run.bmcctl("demo", "--json", "power", srv, "status")
        check(rc == 0, "power status: exit %d: %s" % (rc, err))
        body = json.loads(out)
        check(body.get("power_state") == "on", "status says %s" % body)
        check(body.get("trace_id") == t_status, "JSON trace_id %s != %s" % (body.get("trace_id"), t_status))
        tids = [t_login, t_on, t_status]
        check(all(tids) and len(set(tids)) == 3, "three distinct trace ids expected: %s" % tids)
        log("traces: login %s, power on %s, power status %s" % tuple(tids))

        four = ["bmcctl", "bmc-manager", "bmc-gateway", "bmc-agent"]
        # login: bmcctl -> manager
        sp = run.wait_trace(t_login, ["bmcctl", "bmc-manager"])
        ids = check_one_tree(sp, t_login, "bmcctl login")
        check_nested(sp, ids, t_login)
        msrv = find(sp, "bmc-manager", SK_SERVER, name="POST /v1/auth/login")
        check(len(msrv) == 1, "login trace: manager server span missing:\n" + show(sp))
        p = ids.get(msrv[0]["parent"])
        check(p and p["service"] == "bmcctl" and p["kind"] == SK_CLIENT,
              "login: manager span's parent is not bmcctl's HTTP client span:\n" + show(sp))

        for tid, action in ((t_on, "on"), (t_status, "status")):
            sp = run.wait_trace(tid, four)
            log("trace %s (power %s):\n%s" % (tid, action, show(sp)))
            ids = check_one_tree(sp, tid, "bmcctl power")
            check_nested(sp, ids, tid)
            have = {s["service"] for s in sp}
            check(set(four) <= have, "trace %s lacks services %s" % (tid, set(four) - have))
            # HTTP bmcctl -> gateway
            gsrv = find(sp, "bmc-gateway", SK_SERVER, prefix="POST /v1/servers/")
            check(len(gsrv) == 1, "trace %s: want one gateway power server span" % tid)
            g = gsrv[0]
            p = ids.get(g["parent"])
            check(p and p["service"] == "bmcctl" and p["kind"] == SK_CLIENT,
                  "gateway server span's parent is not bmcctl's client span")
            check(g["attrs"].get("http.response.status_code") == 200, "gateway status code")
            # HTTP gateway -> manager
            msrv = find(sp, "bmc-manager", SK_SERVER)
            check(msrv, "no manager server span in %s" % tid)
            for m in msrv:
                p = ids.get(m["parent"])
                check(p and p["service"] == "bmc-gateway" and p["kind"] == SK_CLIENT,
                      "manager span %s: parent is not a gateway client span" % m["name"])
                check(g in ancestors(ids, m), "manager span is not under the gateway's request")
            check(find(sp, "bmc-manager", prefix="SELECT"), "no db span at the manager")
            # gRPC gateway -> agent
            asrv = find(sp, "bmc-agent", SK_SERVER, name="bmcfleet.agent.v1.Agent/Power")
            check(len(asrv) == 1, "want one agent Power server span in %s" % tid)
            a = asrv[0]
            p = ids.get(a["parent"])
            check(p and p["service"] == "bmc-gateway" and p["kind"] == SK_CLIENT
                  and p["name"] == "bmcfleet.agent.v1.Agent/Power",
                  "agent server span's parent is not the gateway's gRPC client span")
            check(p["attrs"].get("rpc.system") == "grpc", "gateway client span: rpc.system")
            check(g in ancestors(ids, a), "agent span is not under the gateway's request")
            # IPMI under the agent
            ipmi = [s for s in sp if s["name"].startswith("ipmi.")]
            check(ipmi, "no ipmi.* spans in %s" % tid)
            for s in ipmi:
                check(s["service"] == "bmc-agent", "ipmi span %s outside the agent" % s["name"])
                check(a in ancestors(ids, s), "ipmi span %s is not under the agent's Power span"
                      % s["name"])
            # baggage-derived attributes on each service's spans
            want = {
                "bmcctl": {"customer_id": customer, "server_id": srv},
                "bmc-manager": {"customer_id": customer, "server_id": srv},
                "bmc-gateway": {"customer_id": customer, "server_id": srv, "datacenter": "dc1"},
                "bmc-agent": {"customer_id": customer, "server_id": srv, "datacenter": "dc1",
                              "agent_id": fleetmod.AGENT_ID, "bmc_type": "ipmi"},
            }
            for svc, kv in want.items():
                mine = [s for s in sp if s["service"] == svc]
                for k, v in kv.items():
                    vals = {str(s["attrs"].get(k)) for s in mine if k in s["attrs"]}
                    check(vals == {str(v)}, "trace %s: %s spans carry %s=%s (want %s)"
                          % (tid, svc, k, sorted(vals) or "nothing", v))
            for s in sp:
                check(s["status"] != 2, "error span in a successful call: %s" % s["name"])
            # resource: service.name is a resource attribute, never a span attribute
            for s in sp:
                check("service.name" not in s["attrs"], "service.name as a span attribute")

        # exactly one trace per command: the command's server-side spans exist only in it
        allsp = run.spans()
        gw_power = [s["trace_id"] for s in allsp if s["service"] == "bmc-gateway"
                    and s["kind"] == SK_SERVER and s["name"].startswith("POST /v1/servers/")]
        check(sorted(gw_power) == sorted([t_on, t_status]),
              "gateway power spans in traces %s (want exactly %s)" % (gw_power, [t_on, t_status]))
        ag_power = [s["trace_id"] for s in allsp if s["service"] == "bmc-agent"
                    and s["kind"] == SK_SERVER and s["name"].endswith("/Power")]
        check(sorted(ag_power) == sorted([t_on, t_status]), "agent Power spans in %s" % ag_power)
        logins = [s["trace_id"] for s in allsp if s["name"] == "POST /v1/auth/login"]
        check(logins == [t_login], "login server spans in %s" % logins)
        roots = [s["trace_id"] for s in allsp if s["service"] == "bmcctl" and not s["parent"]]
        check(sorted(roots) == sorted(tids), "bmcctl root spans: %s" % roots)
        stray = [s for s in allsp if s["name"].startswith("ipmi.power") and s["trace_id"] not in tids]
        check(not stray, "ipmi.power spans outside the commands' traces:\n" + show(stray))

        # bmcctl trace show prints the waterfall of the status trace
        src = ["--file", run.receiver_out] if mode == "otlp" else []
        rc, out, err, _, _ = run.bmcctl("demo", "trace", "show", t_status, "--wait", "3", *src)
        check(rc == 0, "trace show: exit %d: %s" % (rc, err))
        for svc in four:
            check(svc in out, "trace show output lacks %s:\n%s" % (svc, out))
        check("<-- slowest" in out and "ipmi." in out, "trace show output:\n" + out)
        log(out)
        if mode == "otlp":
            metas = load_spans(run.receiver_out, receiver=True)[1]
            paths = {m.get("path") for m in metas}
            check("/v1/traces" in paths, "the receiver got no traces")
            check(all(m.get("contentType") == "application/x-protobuf" for m in metas),
                  "unexpected content types: %s" % {m.get("contentType") for m in metas})
        ok = True
    finally:
        run.close(ok)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64u_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def forge(header, claims, key=None, sig=None):
    h = b64u(json.dumps(header, separators=(",", ":")).encode())
    c = b64u(json.dumps(claims, separators=(",", ":")).encode())
    if sig is None:
        sig = b64u(hmac.new(key, (h + "." + c).encode(), hashlib.sha256).digest()) if key else ""
    return "%s.%s.%s" % (h, c, sig)


def scenario_security(build):
    run = Run(build, traces="file")
    ok = False
    try:
        fl = run.fleet
        secrets = {}  # name -> value that must never appear in telemetry or logs

        def secret(name, value):
            if value:
                secrets[name] = value
        secret("demo password", fleetmod.DEMO_PASSWORD)
        secret("other password", fleetmod.OTHER_PASSWORD)
        secret("BMC password", fl.bmcs["BMC_PASSWORD"])
        secret("service token", fl.secrets["BMC_SERVICE_TOKEN"])
        secret("credential key", fl.secrets["BMC_CRED_KEY"])
        kid, _, jwt_secret_b64 = fl.secrets["BMC_JWT_KEYS"].partition(":")
        secret("JWT key", jwt_secret_b64)
        jwt_key = base64.b64decode(jwt_secret_b64)
        mgr, gw = fl.manager_url, fl.gateway_url
        web = fl.servers["web-01"]
        other_srv = fl.servers["globex-01"]

        # -- wrong password, unknown user: same 401, bmcctl exit 2
        wrong = "wrong-pw-Leak7-%d" % os.getpid()
        secret("wrong password", wrong)
        rc, out, err, _, _ = run.bmcctl("demo", "login", "--username", "demo",
                                        "--password-stdin", stdin=wrong + "\n")
        check(rc == 2 and "wrong username or password" in err,
              "wrong password: exit %d: %s" % (rc, err))
        st1, b1, _ = http_json("POST", mgr + "/v1/auth/login", {"username": "demo", "password": wrong})
        st2, b2, _ = http_json("POST", mgr + "/v1/auth/login", {"username": "nobody-x", "password": wrong})
        check(st1 == 401 and st2 == 401 and b1 == b2,
              "wrong password vs unknown user answers differ: %s %s / %s %s" % (st1, b1, st2, b2))
        log("ok: wrong password and unknown user: 401, identical answers, bmcctl exit 2")

        # -- valid tokens
        run.login("demo", fleetmod.DEMO_PASSWORD)
        run.login("globex-ops", fleetmod.OTHER_PASSWORD)
        token = fl.token()
        secret("demo token", token)
        secret("demo token signature", token.split(".")[2])
        other_token = fl.token(fleetmod.OTHER_USER, fleetmod.OTHER_PASSWORD)
        secret("other token", other_token)
        secret("other token signature", other_token.split(".")[2])
        header = json.loads(b64u_dec(token.split(".")[0]))
        claims = json.loads(b64u_dec(token.split(".")[1]))
        check(header.get("alg") == "HS256" and header.get("kid") == kid, "token header %s" % header)
        other_claims = json.loads(b64u_dec(other_token.split(".")[1]))

        now = int(time.time())
        bad_tokens = {
            "expired": forge(header, dict(claims, iat=now - 7200, exp=now - 3600), jwt_key),
            "tampered (other customer)": "%s.%s.%s" % (
                token.split(".")[0], b64u(json.dumps(dict(claims, cst=other_claims["cst"]),
                                                     separators=(",", ":")).encode()),
                token.split(".")[2]),
            "tampered signature": token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
            "alg none": forge(dict(header, alg="none"), claims, sig=""),
            "alg none with signature": forge(dict(header, alg="none"), claims,
                                             sig=token.split(".")[2]),
            "alg HS512": forge(dict(header, alg="HS512"), claims, jwt_key),
            "unknown kid": forge(dict(header, kid="nokey"), claims, jwt_key),
            "other key": forge(header, claims, b"x" * 32),
            "garbage": "not.a.token",
        }
        for name, tok in bad_tokens.items():
            secret("forged token (%s)" % name, tok.split(".")[2] if len(tok.split(".")[2]) > 8 else None)
            st, body, _ = http_json("GET", mgr + "/v1/servers", token=tok)
            check(st == 401, "manager accepted the %s token: %d %s" % (name, st, body))
            st, body, _ = http_json("POST", gw + "/v1/servers/%s/power" % web, {"action": "status"},
                                    token=tok)
            check(st == 401, "gateway accepted the %s token: %d %s" % (name, st, body))
        # through bmcctl: the stored token replaced by an expired one
        cfgdir = os.path.join(run.tmp, "cfg-demo")
        with open(os.path.join(cfgdir, "token"), "w") as f:
            f.write(bad_tokens["expired"] + "\n")
        os.chmod(os.path.join(cfgdir, "token"), 0o600)
        rc, out, err, _, _ = run.bmcctl("demo", "power", web, "status")
        check(rc == 2, "bmcctl with an expired token: exit %d: %s" % (rc, err))
        rc, out, err, _, _ = run.bmcctl("demo", "servers", "list")
        check(rc == 2, "bmcctl servers list with an expired token: exit %d" % rc)
        os.chmod(os.path.join(cfgdir, "token"), 0o644)
        rc, out, err, _, _ = run.bmcctl("demo", "servers", "list")
        check(rc == 2 and "readable by other users" in err, "world-readable token file accepted")
        run.login("demo", fleetmod.DEMO_PASSWORD)
        log("ok: expired, tampered, alg none/HS512, unknown kid, foreign key tokens: 401 at "
            "manager and gateway; bmcctl exit 2")

        # -- customer A (acme/demo) asks for customer B's (globex) server
        rc, out, err, _, _ = run.bmcctl("demo", "--json", "servers", "list")
        check(rc == 0, "servers list: %s" % err)
        names = {s["name"] for s in json.loads(out)["servers"]}
        check(names == {"web-01", "db-01"}, "acme sees %s" % names)
        rc, out, err, _, _ = run.bmcctl("globex-ops", "--json", "servers", "list")
        names = {s["name"] for s in json.loads(out)["servers"]}
        check(rc == 0 and names == {"globex-01"}, "globex sees %s" % names)
        rc, out, err, _, _ = run.bmcctl("demo", "servers", "show", other_srv)
        check(rc == 3, "acme shows globex's server: exit %d %s" % (rc, out))
        rc, out, err, _, _ = run.bmcctl("demo", "power", other_srv, "status")
        check(rc == 3, "acme powers globex's server: exit %d %s %s" % (rc, out, err))
        rc, out, err, _, _ = run.bmcctl("demo", "power", "globex-01", "on")
        check(rc == 3, "acme powers globex's server by name: exit %d" % rc)
        rc, out, err, _, _ = run.bmcctl("globex-ops", "power", web, "off")
        check(rc == 3, "globex powers acme's server: exit %d" % rc)
        for path in ("/v1/servers/%s" % other_srv, "/v1/servers/%s/location" % other_srv):
            st, body, raw = http_json("GET", mgr + path, token=token)
            check(st == 404, "GET %s as acme: %d %s" % (path, st, raw[:200]))
            check("globex" not in raw, "a 404 leaks the other customer's data: %s" % raw)
        st, body, raw = http_json("GET", mgr + "/v1/internal/servers/%s" % web, token=token)
        check(st in (401, 403, 404), "internal API with a user token: %d" % st)
        st, body, _ = http_json("PATCH", mgr + "/v1/servers/%s" % other_srv, {"name": "pwned"},
                                token=token)
        check(st in (403, 404), "acme admin patches globex's server: %d" % st)
        st, body, _ = http_json("DELETE", mgr + "/v1/servers/%s" % other_srv, token=token)
        check(st in (403, 404), "acme admin deletes globex's server: %d" % st)
        rc, out = run.ipmitool(3, "chassis", "power", "status")
        check("off" in out, "globex's BMC changed: %s" % out)
        log("ok: customer A cannot see, locate, power, patch or delete customer B's server")

        # -- SQL metacharacters in every string field
        evil = ["' OR '1'='1", "x'); DROP TABLE servers;--", "\" OR 1=1 --", "1; DELETE FROM users",
                "%' OR name LIKE '%", "\\'; SELECT * FROM users; --"]
        for e in evil:
            st, body, raw = http_json("POST", mgr + "/v1/auth/login", {"username": e, "password": e})
            check(st in (400, 401), "login with %r: %d %s" % (e, st, raw[:200]))
            st, body, raw = http_json("POST", mgr + "/v1/auth/login",
                                      {"username": "demo", "password": e})
            check(st in (400, 401), "login with password %r: %d" % (e, st))
            for path in ("/v1/servers/%s", "/v1/servers/%s/location"):
                st, body, raw = http_json("GET", mgr + path % urllib.request.quote(e, safe=""),
                                          token=token)
                check(st in (400, 404), "GET %s: %d %s" % (path % e, st, raw[:200]))
            st, body, raw = http_json("POST", gw + "/v1/servers/%s/power" % urllib.request.quote(e, safe=""),
                                      {"action": "status"}, token=token)
            check(st in (400, 404), "power on server %r: %d %s" % (e, st, raw[:200]))
            st, body, raw = http_json("POST", gw + "/v1/servers/%s/power" % web, {"action": e},
                                      token=token)
            check(st == 400, "power action %r: %d %s" % (e, st, raw[:200]))
            rc, out, err, _, _ = run.bmcctl("demo", "servers", "show", e)
            check(rc in (1, 3), "bmcctl servers show %r: exit %d" % (e, rc))
        # stored verbatim where text is allowed (names, datacenter, BMC user and password)
        created = []
        for i, e in enumerate(evil):
            name = "n%d %s" % (i, e)
            st, body, raw = http_json("POST", mgr + "/v1/servers", {
                "name": name, "datacenter": "dc-" + e[:20], "bmc_endpoint": "ipmi://127.0.0.1:1",
                "bmc_username": "u" + e, "bmc_password": "p" + e}, token=token)
            check(st in (201, 400), "create server %r: %d %s" % (name, st, raw[:200]))
            if st == 201:
                check(body["name"] == name, "name not stored verbatim: %r" % body["name"])
                check("bmc_password" not in raw and "p" + e not in raw,
                      "create answer shows the BMC password")
                created.append(str(body["id"]))
                st, body, raw = http_json("PATCH", mgr + "/v1/servers/%s" % body["id"],
                                          {"name": name + "'--"}, token=token)
                check(st in (200, 400), "patch %r: %d" % (name, st))
            st, body, raw = http_json("POST", mgr + "/v1/servers", {
                "name": "ep%d" % i, "datacenter": "dc1", "bmc_endpoint": "ipmi://" + e,
                "bmc_username": "u", "bmc_password": "p"}, token=token)
            check(st == 400, "endpoint %r accepted: %d" % (e, st))
            st, body, raw = http_json("POST", mgr + "/v1/customers", {"name": "c%d %s" % (i, e)},
                                      token=token)
            check(st in (201, 400, 403, 409), "create customer %r: %d %s" % (e, st, raw[:200]))
            st, body, raw = http_json("POST", mgr + "/v1/users", {
                "username": "u%d%s" % (i, e), "password": "pw-%s-long-enough" % e,
                "customer_id": claims["cst"], "roles": ["viewer"]}, token=token)
            check(st in (201, 400, 403, 409), "create user %r: %d %s" % (e, st, raw[:200]))
            st, body, raw = http_json("POST", mgr + "/v1/gateways", {
                "url": "http://127.0.0.1:1/" + e, "datacenters": [e]}, token=token)
            check(st in (201, 400, 403, 409), "create gateway %r: %d %s" % (e, st, raw[:200]))
        check(created, "no server with metacharacters in its name was created")
        for sid in created:
            check(http_json("DELETE", mgr + "/v1/servers/%s" % sid, token=token)[0] in (200, 204),
                  "delete %s" % sid)
        # nothing broken: login, listing and power still work, tables intact
        run.login("demo", fleetmod.DEMO_PASSWORD)
        rc, out, err, _, _ = run.bmcctl("demo", "--json", "servers", "list")
        names = {s["name"] for s in json.loads(out)["servers"]}
        check(rc == 0 and names == {"web-01", "db-01"}, "after the metacharacters: %s" % names)
        rc, out, err, _, _ = run.bmcctl("demo", "power", web, "status")
        check(rc == 0, "power after the metacharacters: %d %s" % (rc, err))
        log("ok: SQL metacharacters in login, ids, action, names, datacenter, BMC fields, "
            "endpoint, customer, user, gateway: rejected (4xx) or stored verbatim; fleet intact")

        # -- no secret in any span, log line, /metrics page or bmcctl output
        time.sleep(0.5)  # let the batch processors write the last spans
        sources = {}
        with open(fl.traces_file, encoding="utf-8", errors="replace") as f:
            sources["traces.jsonl"] = f.read()
        for name in os.listdir(os.path.join(fl.state, "logs")):
            with open(os.path.join(fl.state, "logs", name), encoding="utf-8", errors="replace") as f:
                sources["logs/" + name] = f.read()
        for i, page in enumerate(run.metrics_pages()):
            sources["/metrics of %s" % ("manager", "gateway", "agent")[i]] = page
        sources["bmcctl output"] = "\n".join(run.outputs)
        check(len(sources["traces.jsonl"]) > 1000, "suspiciously few spans")
        leaks = []
        for sname, text in sources.items():
            for what, value in secrets.items():
                if value and value in text:
                    leaks.append("%s in %s" % (what, sname))
            if re.search(r"[Bb]earer [A-Za-z0-9_-]{10,}", text):
                leaks.append("a bearer token in %s" % sname)
        check(not leaks, "secrets leaked: %s" % "; ".join(leaks))
        log("ok: none of %d secrets in %d sources (%d bytes of spans, logs, metrics, output)"
            % (len(secrets), len(sources), sum(len(t) for t in sources.values())))
        ok = True
    finally:
        run.close(ok)


def scenario_failure_agent(build):
    run = Run(build, traces="file")
    ok = False
    try:
        fl = run.fleet
        web = fl.servers["web-01"]
        run.login("demo", fleetmod.DEMO_PASSWORD)
        rc, out, err, _, _ = run.bmcctl("demo", "power", web, "status")
        check(rc == 0, "power status before the kill: %s" % err)
        gw_pid = fl.procs["gateway"]["pid"]

        os.kill(fl.procs["agent"]["pid"], signal.SIGKILL)
        fl.popen["agent"].wait(timeout=5)
        t_kill = time.monotonic()
        rc, out, err, tid, el = run.bmcctl("demo", "--json", "power", web, "status")
        log("after SIGKILL of the agent (%.0f ms later): exit %d in %.0f ms: %s"
            % ((time.monotonic() - t_kill - el) * 1000, rc, el * 1000, out.strip()))
        check(el < 2.0, "the call took %.2f s (limit 2 s)" % el)
        check(rc == 4, "exit %d, want 4 (unavailable): %s" % (rc, err))
        body = json.loads(out)
        check(body["error"]["code"] == "agent_unavailable", "error %s" % body)
        check(tid, "no trace id for the failed call")
        sp = run.wait_trace(tid, ["bmcctl", "bmc-gateway"])
        check_nested(sp, {s["span_id"]: s for s in sp}, tid)
        g = find(sp, "bmc-gateway", SK_SERVER, prefix="POST /v1/servers/")
        check(g and g[0]["attrs"].get("http.response.status_code") == 503,
              "gateway span of the failed call:\n" + show(sp))
        errs = [s for s in sp if s["status"] == 2]
        check(any(s["service"] == "bmc-gateway" for s in errs), "no error span at the gateway:\n"
              + show(sp))
        check(any(s["service"] == "bmcctl" for s in errs), "bmcctl's span is not an error")
        # the same through plain HTTP: 503
        t0 = time.monotonic()
        st, body, raw = http_json("POST", fl.gateway_url + "/v1/servers/%s/power" % web,
                                  {"action": "status"}, token=fl.token())
        check(st == 503 and time.monotonic() - t0 < 2.0, "HTTP: %d in %.2f s: %s"
              % (st, time.monotonic() - t0, raw[:200]))
        log("ok: 503 agent_unavailable within 2 s, error spans at the gateway and bmcctl")

        del fl.procs["agent"]
        del fl.popen["agent"]
        fl.start_agent(wait_registered=True)
        rc, out, err, _, el = run.bmcctl("demo", "power", web, "status")
        check(rc == 0 and "power is" in out, "after the restart: exit %d %s" % (rc, err))
        check(fl.procs["gateway"]["pid"] == gw_pid and fleetmod.alive(gw_pid),
              "the gateway was restarted")
        log("ok: agent restarted and registered again; calls work, same gateway (pid %d)" % gw_pid)
        ok = True
    finally:
        run.close(ok)


def scenario_failure_bmc(build):
    dead_port = fleetmod.free_port()  # a UDP port nobody serves (TCP-free is good enough here)
    extra = [{"customer": fleetmod.DEMO_CUSTOMER, "name": "dead-01", "datacenter": "dc1",
              "bmc_endpoint": "ipmi://127.0.0.1:%d" % (20000 + dead_port % 12000),
              "bmc_username": "admin", "bmc_password": "Zq7-pw-leakcheck"}]
    deadline_s = 3.0
    run = Run(build, traces="file", extra_servers=extra,
              gateway_env={"GW_BMC_TIMEOUT": "%dms" % int(deadline_s * 1000)})
    ok = False
    stopped = None
    try:
        fl = run.fleet
        web = fl.servers["web-01"]
        run.login("demo", fleetmod.DEMO_PASSWORD)
        rc, out, err, _, _ = run.bmcctl("demo", "power", web, "status")
        check(rc == 0, "power status before: %s" % err)
        limit = deadline_s + 1.0 + 1.5  # BMC deadline + the agent's grace + scheduling margin

        # an endpoint nobody serves
        rc, out, err, tid, el = run.bmcctl("demo", "power", fl.servers["dead-01"], "status")
        log("BMC that never answers: exit %d in %.2f s: %s" % (rc, el, err.strip()))
        check(el < limit, "took %.2f s (deadline %.1f s)" % (el, deadline_s))
        check(rc == 4, "exit %d, want 4" % rc)
        check(re.search(r"bmc|BMC", err), "message does not say the BMC failed: %s" % err)

        # a BMC that hangs (SIGSTOP), then comes back
        stopped = int(fl.bmcs["BMC1_PID"])
        os.kill(stopped, signal.SIGSTOP)
        rc, out, err, tid, el = run.bmcctl("demo", "--json", "power", web, "status")
        log("hung BMC: exit %d in %.2f s: %s" % (rc, el, out.strip()))
        check(el < limit, "took %.2f s (deadline %.1f s)" % (el, deadline_s))
        check(rc == 4, "exit %d, want 4" % rc)
        body = json.loads(out)
        check(body["error"]["code"] in ("bmc_timeout", "bmc_unreachable"), "error %s" % body)
        check(body["error"]["message"], "empty message")
        sp = run.wait_trace(tid, ["bmcctl", "bmc-gateway", "bmc-agent"])
        check(any(s["status"] == 2 and s["service"] == "bmc-agent" for s in sp),
              "no error span at the agent:\n" + show(sp))
        check_nested(sp, {s["span_id"]: s for s in sp}, tid)
        os.kill(stopped, signal.SIGCONT)
        stopped = None
        deadline = time.time() + 20
        while True:
            rc, out, err, _, _ = run.bmcctl("demo", "power", web, "status")
            if rc == 0 or time.time() > deadline:
                break
            time.sleep(0.5)
        check(rc == 0, "the BMC is back but calls fail: %s" % err)
        log("ok: dead and hung BMCs fail within the %.0f s deadline with a clear message; "
            "calls work once the BMC is back" % deadline_s)
        ok = True
    finally:
        if stopped:
            try:
                os.kill(stopped, signal.SIGCONT)
            except OSError:
                pass
        run.close(ok)


SCENARIOS = {
    "trace_file": lambda b: scenario_trace(b, "file"),
    "trace_otlp": lambda b: scenario_trace(b, "otlp"),
    "security": scenario_security,
    "failure_agent": scenario_failure_agent,
    "failure_bmc": scenario_failure_bmc,
}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in SCENARIOS:
        print("usage: e2e_fleet.py {%s} --build DIR" % ",".join(SCENARIOS))
        return 2
    build = os.path.join(REPO, "build")
    if "--build" in sys.argv:
        build = sys.argv[sys.argv.index("--build") + 1]
    t0 = time.monotonic()
    try:
        SCENARIOS[sys.argv[1]](build)
    except Skip as e:
        print("SKIP: %s" % e)
        return SKIP
    except (Failed, FleetError) as e:
        print("FAIL (%s, %.1f s): %s" % (sys.argv[1], time.monotonic() - t0, e))
        return 1
    if SANITIZER_REPORTS:
        print("FAIL (%s): sanitizer reports:\n%s" % (sys.argv[1], "\n".join(SANITIZER_REPORTS)))
        return 1
    print("PASS (%s, %.1f s)" % (sys.argv[1], time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
