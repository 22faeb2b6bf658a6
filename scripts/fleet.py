#!/usr/bin/env python3
"""A whole bmcfleet on loopback: simulated BMCs (ipmi_sim), bmc-manager (seeded with demo data),
one bmc-gateway and one bmc-agent. Used by `make local-env-up/-down`, `make demo`, the end-to-end
tests (tests/e2e) and bench/bench_e2e.c. Python 3 standard library only.

    fleet.py up     [--build DIR] [--state DIR] [--traces off|file|otlp] [--otlp-endpoint URL]
                    [--bmcs N] [--bmcs-from BMCS_ENV] [--ports default|auto] [--quiet]
    fleet.py down   [--state DIR]
    fleet.py status [--state DIR]

`up` starts everything in the background (own session: the processes outlive the shell), waits
until the agent has registered with the gateway, writes DIR/state.json (pids, ports, URLs, the
demo login) and DIR/env.sh (source it to use bmcctl against this fleet), and prints how to log
in. Logs: DIR/logs/*.log. With --traces file every service (and bmcctl, through env.sh) writes
OTLP JSON lines to DIR/traces.jsonl; with --traces otlp they export OTLP/HTTP to
--otlp-endpoint (e.g. SigNoz's collector, http://127.0.0.1:4318); with off (default)
OTEL_SDK_DISABLED=true. A failed `up` stops what it started and shows the end of the logs.

`down` stops every process recorded in state.json (SIGTERM, then SIGKILL after 5 s); it only
signals pids whose command line is still the one it started.

Secrets (token keys, service token, credential key) are made fresh for each `up` and kept in
DIR/state.json (mode 0600), never printed. The demo password is printed: it is for a local demo
only.
"""
import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEMO_CUSTOMER = "acme"
DEMO_USER = "demo"
DEMO_PASSWORD = "bmcfleet-demo-pw"
OTHER_CUSTOMER = "globex"
OTHER_USER = "globex-ops"
OTHER_PASSWORD = "globex-demo-pw-2"
DATACENTER = "dc1"
AGENT_ID = "agent-dc1"

DEFAULT_PORTS = {"manager": 8080, "gateway": 8081, "gateway_grpc": 8082, "agent": 8090,
                 "agent_metrics": 8091}


class FleetError(Exception):
    pass


def free_port():
    """A TCP port on 127.0.0.1 that is free right now (the kernel's pick)."""
    return free_ports(1)[0]


def free_ports(n):
    """n distinct TCP ports on 127.0.0.1 that are free right now: the sockets stay bound until
    all are picked (the kernel can hand out a port it just gave back)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_in_use(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def http_json(method, url, body=None, token=None, timeout=10.0):
    """(status, parsed JSON or None, raw text). Never raises for HTTP errors."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read().decode("utf-8", "replace")
            status = r.status
    except urllib.error.HTTPError as e:
        raw = e.read().decode("utf-8", "replace")
        status = e.code
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return status, parsed, raw


def b64key(n=32):
    return base64.b64encode(secrets.token_bytes(n)).decode()


def cmdline_of(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")[0].decode("utf-8", "replace")
    except OSError:
        return None


def alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # a zombie of ours counts as dead
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class Fleet:
    """The fleet's processes and settings. Start with up(), stop with down() (also on errors)."""

    def __init__(self, build_dir, state_dir, traces="off", otlp_endpoint=None, bmcs=3,
                 ports="auto", quiet=False, extra_env=None, gateway_env=None, agent_env=None,
                 manager_env=None, extra_servers=None, bmcs_from=None):
        self.build = os.path.abspath(build_dir)
        self.bmcs_from = bmcs_from  # another fleet's bmcs.env: use its BMCs, start none
        self.state = os.path.abspath(state_dir)
        self.traces = traces
        self.otlp_endpoint = otlp_endpoint
        self.n_bmcs = bmcs
        self.quiet = quiet
        self.extra_env = dict(extra_env or {})
        self.role_env = {"gateway": dict(gateway_env or {}), "agent": dict(agent_env or {}),
                         "manager": dict(manager_env or {})}
        self.extra_servers = list(extra_servers or [])
        self.procs = {}      # name -> {"pid", "exe", "log"}
        self.popen = {}      # name -> Popen (only in the process that started it)
        self.bmcs = {}       # BMC_* from ipmisim_run
        self.servers = {}    # name -> server id
        if ports == "default":
            self.ports = dict(DEFAULT_PORTS)
        else:
            self.ports = dict(zip(DEFAULT_PORTS, free_ports(len(DEFAULT_PORTS))))
        self.secrets = {
            "BMC_JWT_KEYS": "k1:" + b64key(32),
            "BMC_SERVICE_TOKEN": secrets.token_hex(32),
            "BMC_CRED_KEY": b64key(32),
        }

    # ---- paths and URLs ----
    @property
    def manager_url(self):
        return "http://127.0.0.1:%d" % self.ports["manager"]

    @property
    def gateway_url(self):
        return "http://127.0.0.1:%d" % self.ports["gateway"]

    @property
    def traces_file(self):
        return os.path.join(self.state, "traces.jsonl")

    def log_path(self, name):
        return os.path.join(self.state, "logs", name + ".log")

    def binary(self, name):
        candidates = {
            "bmc-manager": ["manager/bmc-manager"],
            "bmc-gateway": ["gateway/bmc-gateway"],
            "bmc-agent": ["agent/bmc-agent", "agent/service/bmc-agent"],
            "bmcctl": ["cli/bmcctl"],
            "ipmisim_run": ["tests/peers/ipmisim_run"],
        }[name]
        for c in candidates:
            p = os.path.join(self.build, c)
            if os.access(p, os.X_OK):
                return p
        for root, _dirs, files in os.walk(self.build):
            if name in files and os.access(os.path.join(root, name), os.X_OK):
                return os.path.join(root, name)
        raise FleetError("%s not found under %s: build first (make -f Makefile.dev build)"
                         % (name, self.build))

    def say(self, *a):
        if not self.quiet:
            print(*a, flush=True)

    # ---- environment of each process ----
    def otel_env(self, service):
        e = {"OTEL_SERVICE_NAME": service}
        if self.traces == "off":
            e["OTEL_SDK_DISABLED"] = "true"
        elif self.traces == "file":
            e.update({"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "file",
                      "OTEL_EXPORTER_FILE_TRACES_PATH": self.traces_file,
                      "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
                      "OTEL_BSP_SCHEDULE_DELAY": "200"})
        elif self.traces == "otlp":
            e.update({"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp",
                      "OTEL_METRICS_EXPORTER": "otlp", "OTEL_LOGS_EXPORTER": "otlp",
                      "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_endpoint or "http://127.0.0.1:4318",
                      "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                      "OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_METRIC_EXPORT_INTERVAL": "5000"})
        else:
            raise FleetError("unknown --traces %r (off, file or otlp)" % self.traces)
        e["OTEL_RESOURCE_ATTRIBUTES"] = "deployment.environment=local"
        return e

    def base_env(self):
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                "TSAN_OPTIONS", "LSAN_OPTIONS")
        e = {k: os.environ[k] for k in keep if k in os.environ}
        e.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        e["LOG_LEVEL"] = os.environ.get("BMC_FLEET_LOG_LEVEL", "info")
        return e

    def env_for(self, role):
        service = {"manager": "bmc-manager", "gateway": "bmc-gateway", "agent": "bmc-agent"}[role]
        e = self.base_env()
        e.update(self.otel_env(service))
        e["BMC_SERVICE_TOKEN"] = self.secrets["BMC_SERVICE_TOKEN"]
        if role == "manager":
            e.update({
                "MANAGER_ADDRESS": "127.0.0.1",
                "MANAGER_PORT": str(self.ports["manager"]),
                "MANAGER_DB": os.path.join(self.state, "manager.db"),
                "BMC_JWT_KEYS": self.secrets["BMC_JWT_KEYS"],
                "BMC_CRED_KEY": self.secrets["BMC_CRED_KEY"],
                # fast password hashing for a local demo (argon2id's interactive minimum)
                "MANAGER_PWHASH_OPSLIMIT": "2",
                "MANAGER_PWHASH_MEMLIMIT": str(8 * 1024 * 1024),
            })
        elif role == "gateway":
            e.update({
                "GW_HTTP_ADDRESS": "127.0.0.1",
                "GW_HTTP_PORT": str(self.ports["gateway"]),
                "GW_GRPC_ADDRESS": "127.0.0.1:%d" % self.ports["gateway_grpc"],
                "GW_MANAGER_URL": self.manager_url,
                "BMC_JWT_KEYS": self.secrets["BMC_JWT_KEYS"],
                "GW_HEARTBEAT_INTERVAL": "1s",
            })
        elif role == "agent":
            e.update({
                "AGENT_ID": AGENT_ID,
                "AGENT_DATACENTER": DATACENTER,
                "AGENT_GRPC_ADDRESS": "127.0.0.1:%d" % self.ports["agent"],
                "AGENT_METRICS_ADDRESS": "127.0.0.1",
                "AGENT_METRICS_PORT": str(self.ports["agent_metrics"]),
                "AGENT_GATEWAY_ADDRESS": "127.0.0.1:%d" % self.ports["gateway_grpc"],
                # ipmi_sim needs FreeIPMI's "open session privilege" workaround
                "AGENT_IPMI_WORKAROUNDS": "opensesspriv",
                "AGENT_DISCOVERY_INTERVAL": "1h",
            })
        e.update(self.extra_env)
        e.update(self.role_env.get(role, {}))
        return e

    # ---- processes ----
    def spawn(self, name, argv, env, log_name=None):
        os.makedirs(os.path.join(self.state, "logs"), exist_ok=True)
        log = self.log_path(log_name or name)
        f = open(log, "ab")
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                             cwd=self.state, start_new_session=True, close_fds=True)
        f.close()
        self.procs[name] = {"pid": p.pid, "exe": argv[0], "log": log}
        self.popen[name] = p
        self.save()
        return p

    def stop_proc(self, name, sig=signal.SIGTERM, wait=5.0):
        info = self.procs.get(name)
        if not info:
            return
        pid = info["pid"]
        p = self.popen.get(name)
        if alive(pid) and cmdline_of(pid) == info["exe"]:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
            deadline = time.time() + wait
            while time.time() < deadline and alive(pid):
                if p is not None and p.poll() is not None:
                    break
                time.sleep(0.02)
            if alive(pid) and cmdline_of(pid) == info["exe"]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if p is not None:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            del self.popen[name]
        del self.procs[name]
        self.save()

    def log_tail(self, name, n=25):
        try:
            with open(self.log_path(name), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return "(no log)"

    def count_in_log(self, name, needle):
        try:
            with open(self.log_path(name), "rb") as f:
                return f.read().decode("utf-8", "replace").count(needle)
        except OSError:
            return 0

    def wait_until(self, what, cond, timeout, proc=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if cond():
                return
            if proc and not alive(self.procs.get(proc, {}).get("pid")):
                raise FleetError("%s exited while waiting for %s:\n%s"
                                 % (proc, what, self.log_tail(proc)))
            time.sleep(0.05)
        raise FleetError("timed out (%ds) waiting for %s%s" % (
            timeout, what, (":\n" + self.log_tail(proc)) if proc else ""))

    def http_ready(self, port):
        try:
            st, _, _ = http_json("GET", "http://127.0.0.1:%d/readyz" % port, timeout=1.0)
            return st == 200
        except OSError:
            return False

    # ---- the steps ----
    def start_bmcs(self):
        if self.bmcs_from:
            with open(self.bmcs_from) as f:
                for line in f:
                    k, _, v = line.strip().partition("=")
                    if k:
                        self.bmcs[k] = v
            self.n_bmcs = int(self.bmcs.get("BMC_COUNT", 0))
            return
        out = os.path.join(self.state, "bmcs.env")
        if os.path.exists(out):
            os.unlink(out)
        self.spawn("ipmisim", [self.binary("ipmisim_run"), "--count", str(self.n_bmcs),
                               "--out", out], self.base_env())
        self.wait_until("the simulated BMCs", lambda: os.path.exists(out), 30, proc="ipmisim")
        with open(out) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k:
                    self.bmcs[k] = v

    def bmc_endpoint(self, i):
        return self.bmcs["BMC%d_ENDPOINT" % i]

    def seed_document(self):
        user, pw = self.bmcs["BMC_USER"], self.bmcs["BMC_PASSWORD"]
        # BMC1: acme web-01, BMC2: acme db-01, BMC3: globex globex-01, then acme srv-NN
        layout = [(DEMO_CUSTOMER, "web-01"), (DEMO_CUSTOMER, "db-01"), (OTHER_CUSTOMER, "globex-01")]
        servers = []
        for i in range(1, self.n_bmcs + 1):
            cust, name = layout[i - 1] if i <= len(layout) else (DEMO_CUSTOMER, "srv-%02d" % i)
            servers.append({"customer": cust, "name": name, "datacenter": DATACENTER,
                            "bmc_endpoint": self.bmc_endpoint(i), "bmc_username": user,
                            "bmc_password": pw})
        servers.extend(self.extra_servers)
        users = {DEMO_CUSTOMER: [{"username": DEMO_USER, "password": DEMO_PASSWORD,
                                  "roles": ["admin", "operator"]}],
                 OTHER_CUSTOMER: [{"username": OTHER_USER, "password": OTHER_PASSWORD,
                                   "roles": ["operator"]}]}
        customers = []
        for cust in (DEMO_CUSTOMER, OTHER_CUSTOMER):
            mine = [dict((k, v) for k, v in srv.items() if k != "customer")
                    for srv in servers if srv["customer"] == cust]
            customers.append({"name": cust, "users": users[cust], "servers": mine})
        return {"customers": customers,
                "gateways": [{"url": self.gateway_url, "datacenters": [DATACENTER]}]}

    def seed(self):
        path = os.path.join(self.state, "seed.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.seed_document(), f, indent=2)
        log = open(self.log_path("manager-seed"), "ab")
        r = subprocess.run([self.binary("bmc-manager"), "seed", path], env=self.env_for("manager"),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                           cwd=self.state, timeout=60)
        log.close()
        if r.returncode != 0:
            raise FleetError("seeding the manager failed (exit %d):\n%s"
                             % (r.returncode, self.log_tail("manager-seed")))
        try:
            summary = json.loads(r.stdout.decode() or "{}")
        except ValueError:
            summary = {}
        with open(os.path.join(self.state, "seed-summary.json"), "wb") as f:
            f.write(r.stdout)
        for c in summary.get("customers", []):
            for srv in c.get("servers", []) if isinstance(c, dict) else []:
                if isinstance(srv, dict) and "name" in srv and "id" in srv:
                    self.servers[srv["name"]] = str(srv["id"])

    def start_manager(self):
        self.spawn("manager", [self.binary("bmc-manager")], self.env_for("manager"))
        self.wait_until("bmc-manager on port %d" % self.ports["manager"],
                        lambda: self.http_ready(self.ports["manager"]), 20, proc="manager")

    def start_gateway(self):
        self.spawn("gateway", [self.binary("bmc-gateway")], self.env_for("gateway"))
        self.wait_until("bmc-gateway on port %d" % self.ports["gateway"],
                        lambda: self.http_ready(self.ports["gateway"]), 20, proc="gateway")

    def start_agent(self, wait_registered=True):
        before = self.count_in_log("agent", "registered with the gateway")
        self.spawn("agent", [self.binary("bmc-agent")], self.env_for("agent"))
        if wait_registered:
            self.wait_until("bmc-agent to register with the gateway",
                            lambda: self.count_in_log("agent", "registered with the gateway") > before,
                            20, proc="agent")

    def resolve_server_ids(self):
        """Server ids by name, from the demo users' listings when the seed summary had none."""
        if self.servers:
            return
        for user, pw in ((DEMO_USER, DEMO_PASSWORD), (OTHER_USER, OTHER_PASSWORD)):
            tok = self.token(user, pw)
            st, body, _ = http_json("GET", self.manager_url + "/v1/servers", token=tok)
            if st == 200 and body:
                for s in body.get("servers", []):
                    self.servers[s["name"]] = str(s["id"])

    def token(self, user=DEMO_USER, password=DEMO_PASSWORD):
        st, body, raw = http_json("POST", self.manager_url + "/v1/auth/login",
                                  {"username": user, "password": password})
        if st != 200 or not body or "token" not in body:
            raise FleetError("login of %s failed: HTTP %d %s" % (user, st, raw[:200]))
        return body["token"]

    def up(self):
        os.makedirs(self.state, mode=0o700, exist_ok=True)
        os.chmod(self.state, 0o700)
        if os.path.exists(os.path.join(self.state, "state.json")):
            old = Fleet.load(self.state)
            if any(alive(p["pid"]) for p in old.procs.values()):
                raise FleetError("a fleet is already running from %s: stop it first "
                                 "(make local-env-down)" % self.state)
        for f in ("manager.db", "manager.db-wal", "manager.db-shm", "traces.jsonl"):
            try:
                os.unlink(os.path.join(self.state, f))
            except FileNotFoundError:
                pass
        shutil.rmtree(os.path.join(self.state, "logs"), ignore_errors=True)
        os.makedirs(os.path.join(self.state, "logs"))
        if self.traces == "file":
            open(self.traces_file, "a").close()
        busy = [n for n, p in self.ports.items() if port_in_use(p)]
        if busy:
            raise FleetError("ports in use: %s (another fleet? make local-env-down, or "
                             "PORTS=auto)" % ", ".join("%s=%d" % (n, self.ports[n]) for n in busy))
        try:
            self.say("starting %d simulated BMC(s) ..." % self.n_bmcs if not self.bmcs_from
                     else "using the BMCs of %s ..." % self.bmcs_from)
            self.start_bmcs()
            self.say("seeding and starting bmc-manager on %s ..." % self.manager_url)
            self.seed()
            self.start_manager()
            self.say("starting bmc-gateway on %s ..." % self.gateway_url)
            self.start_gateway()
            self.say("starting bmc-agent (%s, datacenter %s) ..." % (AGENT_ID, DATACENTER))
            self.start_agent()
            self.resolve_server_ids()
            self.save()
            self.write_env_sh()
        except BaseException:
            self.down()
            raise

    def down(self):
        for name in ("agent", "gateway", "manager", "ipmisim"):
            self.stop_proc(name)
        for name in list(self.procs):
            self.stop_proc(name)

    # ---- state ----
    def to_dict(self):
        return {"build": self.build, "state": self.state, "traces": self.traces,
                "otlp_endpoint": self.otlp_endpoint, "ports": self.ports, "procs": self.procs,
                "bmcs": self.bmcs, "servers": self.servers, "secrets": self.secrets,
                "manager_url": self.manager_url, "gateway_url": self.gateway_url,
                "traces_file": self.traces_file if self.traces == "file" else None,
                "demo": {"username": DEMO_USER, "password": DEMO_PASSWORD,
                         "customer": DEMO_CUSTOMER},
                "other": {"username": OTHER_USER, "password": OTHER_PASSWORD,
                          "customer": OTHER_CUSTOMER}}

    def save(self):
        if not os.path.isdir(self.state):
            return
        path = os.path.join(self.state, "state.json")
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.to_dict(), f, indent=2)
        os.replace(tmp, path)

    @classmethod
    def load(cls, state_dir):
        with open(os.path.join(state_dir, "state.json")) as f:
            d = json.load(f)
        fl = cls.__new__(cls)
        fl.build, fl.state, fl.traces = d["build"], d["state"], d["traces"]
        fl.otlp_endpoint, fl.ports, fl.procs = d.get("otlp_endpoint"), d["ports"], d["procs"]
        fl.bmcs, fl.servers, fl.secrets = d["bmcs"], d["servers"], d["secrets"]
        fl.popen, fl.quiet, fl.n_bmcs = {}, False, int(d["bmcs"].get("BMC_COUNT", 0) or 0)
        fl.extra_env, fl.role_env, fl.extra_servers, fl.bmcs_from = {}, {}, [], None
        return fl

    def bmcctl_env(self):
        """What a shell needs to use bmcctl against this fleet (see env.sh)."""
        e = {"BMCCTL_MANAGER_URL": self.manager_url, "BMCCTL_GATEWAY_URL": self.gateway_url,
             "BMCCTL_CONFIG_DIR": os.path.join(self.state, "bmcctl")}
        if self.traces == "file":
            e.update({"BMC_TRACES_FILE": self.traces_file, "OTEL_TRACES_EXPORTER": "file",
                      "OTEL_EXPORTER_FILE_TRACES_PATH": self.traces_file})
        elif self.traces == "otlp":
            e.update({"OTEL_TRACES_EXPORTER": "otlp",
                      "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_endpoint or "http://127.0.0.1:4318",
                      "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"})
        else:
            e["OTEL_SDK_DISABLED"] = "true"
        return e

    def write_env_sh(self):
        lines = ["# Source this file to use bmcctl against the local fleet (scripts/fleet.py).",
                 "export PATH=%s:\"$PATH\"" % shq(os.path.dirname(self.binary("bmcctl")))]
        for k, v in self.bmcctl_env().items():
            lines.append("export %s=%s" % (k, shq(v)))
        path = os.path.join(self.state, "env.sh")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def print_howto(self, state_rel):
        print("")
        print("The local fleet is up: bmc-manager %s, bmc-gateway %s, bmc-agent %s, %d simulated "
              "BMC(s)." % (self.manager_url, self.gateway_url, AGENT_ID, self.n_bmcs))
        print("Telemetry: %s." % {"off": "off (OTEL_SDK_DISABLED=true)",
                                  "file": "traces in %s" % os.path.join(state_rel, "traces.jsonl"),
                                  "otlp": "OTLP to %s" % self.otlp_endpoint}[self.traces])
        print("")
        print("  source %s/env.sh          # bmcctl on PATH, pointed at this fleet" % state_rel)
        print("  bmcctl login --username %s       # password: %s" % (DEMO_USER, DEMO_PASSWORD))
        print("  bmcctl servers list")
        sid = self.servers.get("web-01", "<id>")
        print("  bmcctl power %s status            # or on, off, soft, cycle, reset" % sid)
        if self.traces == "file":
            print("  bmcctl trace show <trace-id>      # the id bmcctl printed")
        print("")
        print("Logs: %s/logs/   Stop: make local-env-down" % state_rel)


def shq(s):
    return "'" + str(s).replace("'", "'\\''") + "'"


def main(argv=None):
    ap = argparse.ArgumentParser(description="Local bmcfleet on loopback.")
    ap.add_argument("command", choices=["up", "down", "status"])
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--state", default=os.path.join(REPO, ".local-env"))
    ap.add_argument("--traces", default="off", choices=["off", "file", "otlp"])
    ap.add_argument("--otlp-endpoint", default=None)
    ap.add_argument("--bmcs", type=int, default=3)
    ap.add_argument("--bmcs-from", default=None,
                    help="use the simulated BMCs of another fleet (its state dir's bmcs.env)")
    ap.add_argument("--ports", default="default", choices=["default", "auto"])
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    state_rel = os.path.relpath(a.state) if a.state.startswith(os.getcwd()) else a.state
    if a.command == "up":
        if a.traces == "otlp" and not a.otlp_endpoint:
            a.otlp_endpoint = "http://127.0.0.1:4318"
        fl = Fleet(a.build, a.state, traces=a.traces, otlp_endpoint=a.otlp_endpoint,
                   bmcs=a.bmcs, ports=a.ports, quiet=a.quiet, bmcs_from=a.bmcs_from)
        try:
            fl.up()
        except FleetError as e:
            print("fleet: %s" % e, file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
        if not a.quiet:
            fl.print_howto(state_rel)
        return 0
    if not os.path.exists(os.path.join(a.state, "state.json")):
        print("fleet: no fleet state in %s (nothing to do)" % a.state)
        return 0
    fl = Fleet.load(a.state)
    if a.command == "down":
        fl.down()
        print("fleet: stopped (state and logs kept in %s)" % state_rel)
        return 0
    for name, p in sorted(fl.procs.items()):
        ok = alive(p["pid"]) and cmdline_of(p["pid"]) == p["exe"]
        print("%-10s pid %-8d %s" % (name, p["pid"], "running" if ok else "NOT running"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
