#!/usr/bin/env python3
"""ctest compose_config: the Docker files of `make dev-up`, `dev-full-up` and
`dev-observability-up` are valid without a Docker engine.

1. `docker-compose config` (Debian's docker-compose 1.29) accepts every combination the
   Makefile uses: docker-compose.yml, docker-compose.signoz.yml, and both together.
2. Every bind-mounted file or folder (./configs/...) and every Dockerfile named by a build
   section exists.
3. docker/configs/otel-collector-config.yaml is well-formed YAML (PyYAML, which docker-compose
   itself depends on; a light line check when it is missing) and consistent: receivers otlp
   (grpc 4317, http 4318) and prometheus, every pipeline's components defined, the
   ClickHouse exporters pointing at the clickhouse service.
4. The services export OTLP to the collector of the SigNoz file, whose ports 4317/4318 and UI port
   3301 are published.

Exit 0 on success, 1 with messages on failure, 77 (skipped) when docker-compose is missing.
"""
import json
import os
import shutil
import subprocess
import sys

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKER = os.path.join(REPO, "docker")
errors = []


def fail(msg):
    errors.append(msg)
    print("FAIL: " + msg)


def compose_config(files):
    cmd = ["docker-compose"]
    for f in files:
        cmd += ["-f", f]
    cmd += ["config"]
    r = subprocess.run(cmd, cwd=DOCKER, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    if r.returncode != 0:
        fail("docker-compose %s config: %s" % (" ".join(files), r.stderr.decode().strip()))
        return None
    print("ok: docker-compose %s config" % " ".join("-f " + f for f in files))
    return r.stdout.decode()


def load_yaml(text, what):
    try:
        import yaml  # noqa: F401  (python3-yaml, a dependency of Debian's docker-compose)
    except ImportError:
        return None
    import yaml
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        fail("%s is not valid YAML: %s" % (what, e))
        return None


def light_yaml_check(text, what):
    """Without PyYAML: no tabs, balanced brackets per line."""
    for n, line in enumerate(text.splitlines(), 1):
        if "\t" in line:
            fail("%s:%d: tab character" % (what, n))
        s = line.split(" #")[0].rstrip()
        if not s.strip() or s.strip().startswith("#"):
            continue
        if s.count("[") != s.count("]") or s.count("{") != s.count("}"):
            fail("%s:%d: unbalanced brackets" % (what, n))


def check_collector():
    path = os.path.join(DOCKER, "configs", "otel-collector-config.yaml")
    with open(path) as f:
        text = f.read()
    cfg = load_yaml(text, "otel-collector-config.yaml")
    if cfg is None:
        light_yaml_check(text, "otel-collector-config.yaml")
        for needle in ("0.0.0.0:4317", "0.0.0.0:4318", "clickhousetraces", "pipelines:"):
            if needle not in text:
                fail("collector config lacks %s" % needle)
        print("ok: collector config (light check: PyYAML missing)")
        return
    for top in ("receivers", "processors", "exporters", "service"):
        if not isinstance(cfg.get(top), dict):
            fail("collector config: no %s section" % top)
            return
    otlp = cfg["receivers"].get("otlp", {}).get("protocols", {})
    if otlp.get("grpc", {}).get("endpoint") != "0.0.0.0:4317":
        fail("collector: otlp grpc receiver is not on 0.0.0.0:4317")
    if otlp.get("http", {}).get("endpoint") != "0.0.0.0:4318":
        fail("collector: otlp http receiver is not on 0.0.0.0:4318")
    jobs = cfg["receivers"].get("prometheus", {}).get("config", {}).get("scrape_configs", [])
    targets = [t for j in jobs for sc in j.get("static_configs", []) for t in sc.get("targets", [])]
    for want in ("manager:8080", "gateway:8081", "agent:8091"):
        if want not in targets:
            fail("collector: prometheus receiver does not scrape %s" % want)
    defined = {}
    for kind in ("receivers", "processors", "exporters", "connectors", "extensions"):
        defined[kind] = set((cfg.get(kind) or {}).keys())
    pipelines = cfg["service"].get("pipelines", {})
    for want in ("traces", "metrics", "logs"):
        if want not in pipelines:
            fail("collector: no %s pipeline" % want)
    for name, p in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            for comp in p.get(kind, []):
                ok = comp in defined[kind] or (kind in ("receivers", "exporters")
                                               and comp in defined["connectors"])
                if not ok:
                    fail("collector: pipeline %s uses undefined %s %s" % (name, kind[:-1], comp))
    for ext in cfg["service"].get("extensions", []):
        if ext not in defined["extensions"]:
            fail("collector: undefined extension %s" % ext)
    for name, e in cfg["exporters"].items():
        dsn = e.get("dsn") or e.get("datasource") if isinstance(e, dict) else None
        if dsn and not dsn.startswith("tcp://clickhouse:9000/"):
            fail("collector: exporter %s does not write to the clickhouse service: %s" % (name, dsn))
    print("ok: collector config (%d pipelines)" % len(pipelines))


def check_mounts_and_builds(doc, files):
    if not doc:
        return
    for name, svc in (doc.get("services") or {}).items():
        for v in svc.get("volumes", []) or []:
            src = v.get("source") if isinstance(v, dict) else str(v).split(":")[0]
            vtype = v.get("type") if isinstance(v, dict) else ("bind" if src.startswith(("/", ".")) else "volume")
            if vtype == "bind" and not os.path.exists(src):
                fail("%s: service %s mounts %s, which does not exist" % (files, name, src))
        b = svc.get("build")
        if isinstance(b, dict):
            df = os.path.join(b.get("context", "."), b.get("dockerfile", "Dockerfile"))
            if not os.path.exists(df):
                fail("%s: service %s builds from %s, which does not exist" % (files, name, df))


def main():
    if not shutil.which("docker-compose"):
        print("SKIP: docker-compose not installed (Debian package docker-compose)")
        return 77
    combos = [["docker-compose.yml"], ["docker-compose.signoz.yml"],
              ["docker-compose.yml", "docker-compose.signoz.yml"]]
    docs = {}
    for files in combos:
        out = compose_config(files)
        if out is not None:
            doc = load_yaml(out, "docker-compose config output of %s" % files)
            docs[tuple(files)] = doc
            check_mounts_and_builds(doc, " + ".join(files))
    check_collector()
    full = docs.get(("docker-compose.yml", "docker-compose.signoz.yml"))
    if full:
        svcs = full.get("services", {})
        for s in ("manager", "gateway", "agent", "bmcsim", "clickhouse", "zookeeper-1",
                  "schema-migrator", "signoz", "otel-collector"):
            if s not in svcs:
                fail("full stack lacks service %s" % s)
        for s, svc_name in (("manager", "bmc-manager"), ("gateway", "bmc-gateway"),
                            ("agent", "bmc-agent")):
            env = (svcs.get(s) or {}).get("environment") or {}
            if env.get("OTEL_SERVICE_NAME") != svc_name:
                fail("%s: OTEL_SERVICE_NAME is %r, not %s" % (s, env.get("OTEL_SERVICE_NAME"), svc_name))
            if not str(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")).startswith("http://otel-collector:4318"):
                fail("%s: does not export to the collector" % s)
        ports = json.dumps(svcs.get("otel-collector", {}).get("ports", []))
        for p in ("4317", "4318"):
            if p not in ports:
                fail("otel-collector does not publish %s" % p)
        if "3301" not in json.dumps(svcs.get("signoz", {}).get("ports", [])):
            fail("signoz UI is not published on 3301")
    if errors:
        print("%d problem(s)" % len(errors))
        return 1
    print("compose files and collector configuration: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
