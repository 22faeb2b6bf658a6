#!/usr/bin/python3
"""A small Redfish BMC simulator for the agent's driver tests (stdlib only).

Started by the tests on a free loopback port: with --port 0 it binds an ephemeral port and
prints "PORT <n>" on stdout once it accepts connections. It exits when its stdin reaches EOF
(the test that started it died or closed the pipe), on SIGTERM, or after --max-lifetime seconds.

What it serves:
  /redfish/v1/                       service root (no authentication, as the standard allows)
  /redfish/v1/SessionService[/Sessions[/<id>]]
                                     sessions: POST {UserName, Password} -> 201 + X-Auth-Token +
                                     Location; DELETE the Location to log out
  /redfish/v1/Systems[/<n>]          --systems N ComputerSystems with stateful PowerState and
                                     #ComputerSystem.Reset (ResetType@Redfish.AllowableValues,
                                     or an ActionInfo with --action-info)
  /redfish/v1/Managers[/BMC]         FirmwareVersion
  /redfish/v1/Chassis[/1[/Thermal|/Power|/Sensors[/<id>]]]
Authentication: X-Auth-Token of a live session, or HTTP Basic; anything else is 401.

Fault injection (also settable at run time with POST /_test/config {"latency_ms": ..., ...}):
  --latency-ms MS      delay before every answer
  --fail-503 N         the next N requests get 503 with Retry-After: --retry-after seconds
  --reset-conns N      the next N requests get their connection reset (RST, no answer)
  --quirk              a reduced AllowableValues list: On, ForceOff, ForceRestart only
  --no-sessions        no SessionService (POST to the sessions URI is 405)
  --sensors-mode M     thermal (Thermal + Power, default), sensors (the Sensors collection only)

Test endpoints (no authentication, never delayed or failed):
  GET  /_test/log      JSON: requests (method, path, auth kind, traceparent, tracestate,
                       baggage, status, client_port: one per TCP connection), resets
                       (system, ResetType), session counts, the tokens issued, power states
  POST /_test/config   JSON object of the settings above
  POST /_test/drop_sessions   forget every session (as a BMC reboot or session timeout)
  POST /_test/clear    forget the log
"""

import argparse
import base64
import json
import os
import secrets
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FULL_RESET_TYPES = ["On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart",
                    "Nmi", "ForceOn", "PushPowerButton", "PowerCycle"]
QUIRK_RESET_TYPES = ["On", "ForceOff", "ForceRestart"]
MAX_BODY = 1 << 20
MAX_LOG = 10000


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.user = args.user
        self.password = args.password
        self.systems = {str(i + 1): "On" if i == 0 else "Off" for i in range(args.systems)}
        self.sessions = {}  # id -> token
        self.next_session = 1
        self.sessions_created = 0
        self.sessions_deleted = 0
        self.tokens_issued = []  # exposed on /_test/log so tests can check no token leaks
        self.requests = []
        self.resets = []
        self.cfg = {
            "latency_ms": args.latency_ms,
            "fail_503": args.fail_503,
            "retry_after": args.retry_after,
            "reset_conns": args.reset_conns,
            "quirk": args.quirk,
            "no_sessions": args.no_sessions,
            "action_info": args.action_info,
            "sensors_mode": args.sensors_mode,
        }

    def allowed(self):
        return QUIRK_RESET_TYPES if self.cfg["quirk"] else FULL_RESET_TYPES


def odata(path):
    return {"@odata.id": path}


def redfish_error(msg_id, message):
    return {"error": {"code": "Base.1.8." + msg_id, "message": message,
                      "@Message.ExtendedInfo": [{"MessageId": "Base.1.8." + msg_id,
                                                 "Message": message}]}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "RedfishSim/1.0"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def log_message(self, fmt, *args):  # quiet: tests read /_test/log instead
        pass

    # ---- plumbing ----

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY:
            return None
        return self.rfile.read(n) if n else b""

    def _send(self, status, obj=None, headers=None):
        data = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        if obj is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("OData-Version", "4.0")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)
        self._status = status

    def _reset_connection(self):
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    def _auth_kind(self):
        st = self.server.state
        tok = self.headers.get("X-Auth-Token")
        if tok is not None:
            with st.lock:
                return "token" if tok in st.sessions.values() else "bad-token"
        auth = self.headers.get("Authorization")
        if auth and auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return "bad-basic"
            return "basic" if (user == st.user and pw == st.password) else "bad-basic"
        return "none"

    def _dispatch(self, method):
        st = self.server.state
        self._status = 0
        path = self.path.split("?", 1)[0]
        body = self._body()
        if path.startswith("/_test/"):
            return self._test_endpoint(method, path, body)
        entry = {"method": method, "path": path,
                 "traceparent": self.headers.get("traceparent"),
                 "tracestate": self.headers.get("tracestate"),
                 "baggage": self.headers.get("baggage"),
                 "auth": self._auth_kind(), "status": 0,
                 "client_port": self.client_address[1]}
        with st.lock:
            if len(st.requests) < MAX_LOG:
                st.requests.append(entry)
            latency = st.cfg["latency_ms"]
            reset = st.cfg["reset_conns"] > 0
            if reset:
                st.cfg["reset_conns"] -= 1
            fail = not reset and st.cfg["fail_503"] > 0
            if fail:
                st.cfg["fail_503"] -= 1
            retry_after = st.cfg["retry_after"]
        if latency > 0:
            time.sleep(latency / 1000.0)
        if reset:
            entry["status"] = -1
            return self._reset_connection()
        if fail:
            self._send(503, redfish_error("ServiceTemporarilyUnavailable",
                                          "The service is temporarily unavailable."),
                       {"Retry-After": str(retry_after)})
        elif body is None:
            self._send(413, redfish_error("GeneralError", "Body too large."))
        else:
            try:
                self._route(method, path.rstrip("/") or "/", body, entry["auth"])
            except (ValueError, KeyError, TypeError):
                self._send(400, redfish_error("MalformedJSON", "The request body is malformed."))
        entry["status"] = self._status

    def _test_endpoint(self, method, path, body):
        st = self.server.state
        if method == "GET" and path == "/_test/log":
            with st.lock:
                out = {"requests": list(st.requests), "resets": list(st.resets),
                       "sessions_created": st.sessions_created,
                       "sessions_deleted": st.sessions_deleted,
                       "sessions_active": len(st.sessions),
                       "tokens_issued": list(st.tokens_issued),
                       "power": dict(st.systems), "config": dict(st.cfg)}
            return self._send(200, out)
        if method == "POST" and path == "/_test/config":
            try:
                cfg = json.loads(body or b"{}")
            except ValueError:
                return self._send(400, {"error": "bad json"})
            with st.lock:
                for k, v in cfg.items():
                    if k in st.cfg:
                        st.cfg[k] = v
                    elif k == "power" and isinstance(v, dict):
                        st.systems.update({str(a): b for a, b in v.items()})
            return self._send(204)
        if method == "POST" and path == "/_test/drop_sessions":
            with st.lock:
                st.sessions.clear()
            return self._send(204)
        if method == "POST" and path == "/_test/clear":
            with st.lock:
                st.requests.clear()
                st.resets.clear()
            return self._send(204)
        return self._send(404, {"error": "no such test endpoint"})

    # ---- Redfish ----

    def _need_auth(self, auth):
        if auth in ("token", "basic"):
            return False
        self._send(401, redfish_error("NoValidSession",
                                      "There is no valid session established with the "
                                      "implementation."),
                   {"WWW-Authenticate": 'Basic realm="RedfishSim"'})
        return True

    def _route(self, method, path, body, auth):
        st = self.server.state
        cfg = st.cfg
        parts = path.strip("/").split("/")
        if path in ("/redfish", "/redfish/v1") and method == "GET":
            if path == "/redfish":
                return self._send(200, {"v1": "/redfish/v1/"})
            root = {
                "@odata.id": "/redfish/v1/", "@odata.type": "#ServiceRoot.v1_11_0.ServiceRoot",
                "Id": "RootService", "Name": "Root Service", "RedfishVersion": "1.11.0",
                "UUID": "92384634-2938-2342-8820-489239905423",
                "Systems": odata("/redfish/v1/Systems"),
                "Managers": odata("/redfish/v1/Managers"),
                "Chassis": odata("/redfish/v1/Chassis"),
                "Links": {},
            }
            if not cfg["no_sessions"]:
                root["SessionService"] = odata("/redfish/v1/SessionService")
                root["Links"]["Sessions"] = odata("/redfish/v1/SessionService/Sessions")
            return self._send(200, root)
        if path == "/redfish/v1/SessionService/Sessions" and method == "POST":
            if cfg["no_sessions"]:
                return self._send(405, redfish_error("OperationNotAllowed",
                                                     "Sessions are not supported."))
            req = json.loads(body or b"{}")
            if not isinstance(req, dict):
                raise ValueError("not an object")
            if req.get("UserName") != st.user or req.get("Password") != st.password:
                return self._send(401, redfish_error("InvalidCredentials",
                                                     "Invalid username or password."))
            with st.lock:
                sid = str(st.next_session)
                st.next_session += 1
                token = secrets.token_hex(16)
                st.sessions[sid] = token
                st.sessions_created += 1
                st.tokens_issued.append(token)
            loc = "/redfish/v1/SessionService/Sessions/" + sid
            return self._send(201, {"@odata.id": loc, "Id": sid, "Name": "User Session",
                                    "UserName": st.user},
                              {"X-Auth-Token": token, "Location": loc})
        if self._need_auth(auth):
            return None
        if parts[:3] == ["redfish", "v1", "SessionService"]:
            return self._sessions(method, parts)
        if parts[:3] == ["redfish", "v1", "Systems"]:
            return self._systems(method, parts, body)
        if parts[:3] == ["redfish", "v1", "Managers"] and method == "GET":
            if len(parts) == 3:
                return self._send(200, {"@odata.id": "/redfish/v1/Managers",
                                        "Members@odata.count": 1,
                                        "Members": [odata("/redfish/v1/Managers/BMC")]})
            if parts[3:] == ["BMC"]:
                return self._send(200, {
                    "@odata.id": "/redfish/v1/Managers/BMC", "Id": "BMC", "ManagerType": "BMC",
                    "FirmwareVersion": "1.2.3-sim", "Model": "SimBMC",
                    "UUID": "58893887-8974-2487-2389-841168418919"})
        if parts[:3] == ["redfish", "v1", "Chassis"] and method == "GET":
            return self._chassis(parts)
        return self._send(404, redfish_error("ResourceMissingAtURI",
                                             "The resource at the URI was not found."))

    def _sessions(self, method, parts):
        st = self.server.state
        if len(parts) == 3 and method == "GET":
            return self._send(200, {"@odata.id": "/redfish/v1/SessionService",
                                    "ServiceEnabled": not st.cfg["no_sessions"],
                                    "Sessions": odata("/redfish/v1/SessionService/Sessions")})
        if len(parts) == 4 and parts[3] == "Sessions" and method == "GET":
            with st.lock:
                ids = sorted(st.sessions)
            return self._send(200, {"Members": [odata("/redfish/v1/SessionService/Sessions/" + i)
                                                for i in ids]})
        if len(parts) == 5 and parts[3] == "Sessions" and method == "DELETE":
            with st.lock:
                found = st.sessions.pop(parts[4], None) is not None
                if found:
                    st.sessions_deleted += 1
            return self._send(204) if found else self._send(
                404, redfish_error("ResourceMissingAtURI", "No such session."))
        return self._send(405, redfish_error("OperationNotAllowed", "Not allowed."))

    def _systems(self, method, parts, body):
        st = self.server.state
        if len(parts) == 3 and method == "GET":
            return self._send(200, {"@odata.id": "/redfish/v1/Systems",
                                    "Members@odata.count": len(st.systems),
                                    "Members": [odata("/redfish/v1/Systems/" + s)
                                                for s in st.systems]})
        sid = parts[3] if len(parts) > 3 else None
        if sid not in st.systems:
            return self._send(404, redfish_error("ResourceMissingAtURI", "No such system."))
        base = "/redfish/v1/Systems/" + sid
        if len(parts) == 4 and method == "GET":
            with st.lock:
                power = st.systems[sid]
            reset = {"target": base + "/Actions/ComputerSystem.Reset"}
            if st.cfg["action_info"]:
                reset["@Redfish.ActionInfo"] = base + "/ResetActionInfo"
            else:
                reset["ResetType@Redfish.AllowableValues"] = st.allowed()
            return self._send(200, {
                "@odata.id": base, "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem",
                "Id": sid, "Name": "System " + sid, "SystemType": "Physical",
                "Manufacturer": "Contoso", "Model": "Sim-1000",
                "SerialNumber": "SN-000" + sid,
                "UUID": "38947555-7742-3448-3784-8234934" + sid.zfill(5),
                "PowerState": power,
                "Actions": {"#ComputerSystem.Reset": reset},
                "Links": {"ManagedBy": [odata("/redfish/v1/Managers/BMC")],
                          "Chassis": [odata("/redfish/v1/Chassis/1")]}})
        if parts[4:] == ["ResetActionInfo"] and method == "GET" and st.cfg["action_info"]:
            return self._send(200, {"@odata.id": base + "/ResetActionInfo",
                                    "Parameters": [{"Name": "ResetType", "Required": True,
                                                    "DataType": "String",
                                                    "AllowableValues": st.allowed()}]})
        if parts[4:] == ["Actions", "ComputerSystem.Reset"] and method == "POST":
            req = json.loads(body or b"{}")
            rtype = req.get("ResetType") if isinstance(req, dict) else None
            with st.lock:
                st.resets.append({"system": sid, "type": rtype})
                if rtype not in st.allowed():
                    ok = False
                else:
                    ok = True
                    cur = st.systems[sid]
                    if rtype in ("On", "ForceOn", "ForceRestart", "GracefulRestart",
                                 "PowerCycle"):
                        st.systems[sid] = "On"
                    elif rtype in ("ForceOff", "GracefulShutdown"):
                        st.systems[sid] = "Off"
                    elif rtype == "PushPowerButton":
                        st.systems[sid] = "Off" if cur == "On" else "On"
            if not ok:
                return self._send(400, redfish_error(
                    "ActionParameterValueNotInList",
                    "The value %r for the parameter ResetType is not in the list of "
                    "acceptable values." % (rtype,)))
            return self._send(204)
        return self._send(404, redfish_error("ResourceMissingAtURI", "Not found."))

    def _chassis(self, parts):
        mode = self.server.state.cfg["sensors_mode"]
        base = "/redfish/v1/Chassis/1"
        if len(parts) == 3:
            return self._send(200, {"Members": [odata(base)]})
        if parts[3] != "1":
            return self._send(404, redfish_error("ResourceMissingAtURI", "Not found."))
        rest = parts[4:]
        sensors = {
            "CPU1Temp": ("CPU1 Temp", "Temperature", "Cel", 45.5),
            "Inlet": ("Inlet Temp", "Temperature", "Cel", 22.0),
            "Fan1": ("Fan1", "Rotational", "RPM", 5400),
            "PSU": ("System Power", "Power", "W", 212),
            "Volt12": ("12V", "Voltage", "V", 12.1),
        }
        if not rest:
            c = {"@odata.id": base, "Id": "1", "Name": "Chassis 1"}
            if mode in ("thermal", "both"):
                c["Thermal"] = odata(base + "/Thermal")
                c["Power"] = odata(base + "/Power")
            if mode in ("sensors", "both"):
                c["Sensors"] = odata(base + "/Sensors")
            return self._send(200, c)
        if rest == ["Thermal"] and mode in ("thermal", "both"):
            return self._send(200, {
                "@odata.id": base + "/Thermal",
                "Temperatures": [
                    {"MemberId": "0", "Name": "CPU1 Temp", "ReadingCelsius": 45.5},
                    {"MemberId": "1", "Name": "Inlet Temp", "ReadingCelsius": 22},
                    {"MemberId": "2", "Name": "Absent Temp", "ReadingCelsius": None}],
                "Fans": [
                    {"MemberId": "0", "Name": "Fan1", "Reading": 5400, "ReadingUnits": "RPM"},
                    {"MemberId": "1", "Name": "Fan2", "Reading": 30,
                     "ReadingUnits": "Percent"}]})
        if rest == ["Power"] and mode in ("thermal", "both"):
            return self._send(200, {
                "@odata.id": base + "/Power",
                "PowerControl": [{"MemberId": "0", "Name": "System Power",
                                  "PowerConsumedWatts": 212}]})
        if rest == ["Sensors"] and mode in ("sensors", "both"):
            return self._send(200, {"Members": [odata(base + "/Sensors/" + k)
                                                for k in sensors]})
        if len(rest) == 2 and rest[0] == "Sensors" and rest[1] in sensors:
            name, rtype, units, val = sensors[rest[1]]
            return self._send(200, {"@odata.id": base + "/Sensors/" + rest[1], "Id": rest[1],
                                    "Name": name, "ReadingType": rtype, "ReadingUnits": units,
                                    "Reading": val})
        return self._send(404, redfish_error("ResourceMissingAtURI", "Not found."))

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--user", default="admin")
    ap.add_argument("--password", default="password")
    ap.add_argument("--systems", type=int, default=1)
    ap.add_argument("--latency-ms", type=int, default=0)
    ap.add_argument("--fail-503", type=int, default=0)
    ap.add_argument("--retry-after", type=int, default=1)
    ap.add_argument("--reset-conns", type=int, default=0)
    ap.add_argument("--quirk", action="store_true")
    ap.add_argument("--no-sessions", action="store_true")
    ap.add_argument("--action-info", action="store_true")
    ap.add_argument("--sensors-mode", choices=["thermal", "sensors", "both"], default="thermal")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--max-lifetime", type=float, default=300.0)
    args = ap.parse_args()

    srv = Server((args.host, args.port), Handler)
    srv.state = State(args)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)

    def stop(*_):
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except OSError:
            pass
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    threading.Timer(args.max_lifetime, stop).start()
    sys.stdout.write("PORT %d\n" % srv.server_address[1])
    sys.stdout.flush()
    srv.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
