#!/usr/bin/env python3
"""Checks tests/peers/w3c_tc_service with our own client and callback listener (stdlib only).

Usage: test_w3c_service.py <path-to-w3c_tc_service>

Starts the service on a free loopback port, sends it W3C-harness-style requests whose callback
URLs point to a local listener, and checks what the callbacks carry: the trace id is continued
with a new parent id, tracestate is forwarded, the level 2 random flag is kept, a duplicated or
invalid traceparent starts a new trace, several callbacks share one trace with distinct parent
ids, concurrent requests work, and malformed requests get a 400 JSON error. Exit status 0 on
success. Every wait is bounded.
"""
import http.client
import http.server
import json
import re
import subprocess
import sys
import threading
import time

TP_RE = re.compile(r'^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$')
TID = '12345678901234567890123456789012'
SID = '1234567890123456'

received = {}  # callback id -> list of (name, value)
received_lock = threading.Lock()


class Listener(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_POST(self):
        length = int(self.headers.get('Content-Length', '0'))
        body = self.rfile.read(length)
        try:
            json.loads(body or b'null')
        except ValueError:
            self.send_response(400)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        with received_lock:
            received[self.path.lstrip('/')] = list(self.headers.items())
        out = b'{}'
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print('FAIL:', what)


def post(port, headers, body, path='/test'):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    conn.putrequest('POST', path)
    for k, v in headers:
        conn.putheader(k, v)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn.putheader('Content-Type', 'application/json')
    conn.putheader('Content-Length', str(len(data)))
    conn.endheaders()
    conn.send(data)
    resp = conn.getresponse()
    out = resp.read()
    conn.close()
    return resp.status, out


counter = [0]
counter_lock = threading.Lock()


def run(port, lport, headers, n=1):
    """Sends one request asking for n callbacks; returns the callbacks' header lists."""
    ids = []
    with counter_lock:
        for _ in range(n):
            counter[0] += 1
            ids.append('cb%d' % counter[0])
    body = [{'url': 'http://127.0.0.1:%d/%s' % (lport, i), 'arguments': []} for i in ids]
    status, _ = post(port, headers, body)
    check(status == 200, 'service answered %d' % status)
    out = []
    for i in ids:
        with received_lock:
            h = received.get(i)
        check(h is not None, 'callback %s was made before the answer' % i)
        out.append(h or [])
    return out


def traceparent(headers):
    vals = [v for k, v in headers if k.lower() == 'traceparent']
    check(len(vals) == 1, 'exactly one traceparent in %r' % headers)
    m = TP_RE.match(vals[0]) if vals else None
    check(m is not None, 'traceparent well formed: %r' % vals)
    if not m:
        return ('', '', 0)
    return (m.group(1), m.group(2), int(m.group(3), 16))


def tracestate(headers):
    vals = [v for k, v in headers if k.lower() == 'tracestate']
    return ','.join(vals) if vals else None


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    listener = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Listener)
    lport = listener.server_address[1]
    threading.Thread(target=listener.serve_forever, daemon=True).start()

    svc = subprocess.Popen([sys.argv[1], '0'], stdout=subprocess.PIPE, text=True)
    try:
        line = svc.stdout.readline()
        m = re.match(r'listening on 127\.0\.0\.1:(\d+)', line)
        if not m:
            print('service did not start: %r' % line)
            return 1
        port = int(m.group(1))

        # Continue a trace: same trace id, new parent id, sampled kept, tracestate forwarded.
        h = run(port, lport, [('traceparent', '00-%s-%s-01' % (TID, SID)),
                              ('tracestate', 'foo=1,bar=2')])[0]
        tid, pid, flags = traceparent(h)
        check(tid == TID, 'trace id continued (%s)' % tid)
        check(pid != SID, 'new parent id')
        check(flags & 1, 'sampled flag kept')
        check(tracestate(h) == 'foo=1,bar=2', 'tracestate forwarded (%r)' % tracestate(h))

        # Header names are case-insensitive; tracestate lines are joined; OWS is ignored.
        h = run(port, lport, [('TraceParent', ' 00-%s-%s-00\t' % (TID, SID)),
                              ('TRACESTATE', 'foo=1'), ('tracestate', ' bar=2 ')])[0]
        tid, pid, flags = traceparent(h)
        check(tid == TID, 'case-insensitive names')
        check(flags & 1 == 0, 'not sampled stays not sampled (parent-based)')
        check(tracestate(h) == 'foo=1,bar=2', 'tracestate lines joined (%r)' % tracestate(h))

        # Level 2: the random flag is kept.
        h = run(port, lport, [('traceparent', '00-%s-%s-02' % (TID, SID))])[0]
        tid, pid, flags = traceparent(h)
        check(tid == TID and flags & 2, 'random flag propagated (flags %02x)' % flags)

        # A duplicated traceparent starts a new trace, without the tracestate.
        h = run(port, lport, [('traceparent', '00-12345678901234567890123456789011-%s-01' % SID),
                              ('traceparent', '00-%s-%s-01' % (TID, SID)),
                              ('tracestate', 'foo=1')])[0]
        tid, pid, flags = traceparent(h)
        check(tid not in (TID, '12345678901234567890123456789011', ''),
              'duplicated traceparent restarts the trace (%s)' % tid)
        check(tracestate(h) is None, 'no tracestate on a restarted trace')
        check(flags & 2, 'a new trace id is random (flag 02)')

        # Invalid traceparents restart the trace.
        for bad in ['00-%s-%s-01.' % (TID, SID), 'ff-%s-%s-01' % (TID, SID),
                    '00-00000000000000000000000000000000-%s-01' % SID,
                    '00-%s-0000000000000000-01' % TID, '00-ABCDEF78901234567890123456789012-%s-01' % SID]:
            h = run(port, lport, [('traceparent', bad), ('tracestate', 'foo=1')])[0]
            tid, pid, flags = traceparent(h)
            check(tid not in (TID, 'abcdef78901234567890123456789012', '0' * 32), 'restart on %r' % bad)
            check(tracestate(h) is None, 'tracestate dropped with %r' % bad)

        # Future version with extra fields is continued (downgraded to 00).
        h = run(port, lport, [('traceparent', 'cc-%s-%s-01-future' % (TID, SID))])[0]
        check(traceparent(h)[0] == TID, 'future version continued')

        # Several callbacks: one trace, distinct parent ids.
        hs = run(port, lport, [('traceparent', '00-%s-%s-01' % (TID, SID))], n=3)
        tps = [traceparent(x) for x in hs]
        check(len({t[0] for t in tps}) == 1 and tps[0][0] == TID, 'callbacks share the trace')
        check(len({t[1] for t in tps}) == 3, 'callbacks have distinct parent ids')
        hs = run(port, lport, [], n=3)
        tps = [traceparent(x) for x in hs]
        check(len({t[0] for t in tps}) == 1, 'a new trace is shared by the callbacks')
        check(len({t[1] for t in tps}) == 3, 'new trace: distinct parent ids')

        # Concurrent requests.
        results = []

        def worker(k):
            tid_k = '%032x' % (k + 1)
            hk = run(port, lport, [('traceparent', '00-%s-%s-01' % (tid_k, SID))], n=2)
            results.append(all(traceparent(x)[0] == tid_k for x in hk))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        check(len(results) == 6 and all(results), 'concurrent requests (%r)' % results)

        # Nested arguments are passed on as the callback body.
        status, _ = post(port, [], [{'url': 'http://127.0.0.1:%d/nested' % lport,
                                     'arguments': [{'url': 'x', 'arguments': []}]}])
        check(status == 200, 'nested arguments accepted')

        # Bad requests.
        for body in [b'not json', b'{"url": "x"}', b'[1]', b'[{"arguments": []}]']:
            status, out = post(port, [], body)
            ok = status == 400
            try:
                ok = ok and 'error' in json.loads(out)
            except ValueError:
                ok = False
            check(ok, 'bad body %r -> 400 with a JSON error (got %d %r)' % (body, status, out))
        status, out = post(port, [], [], path='/other')
        check(status == 404, 'unknown path -> 404')
    finally:
        svc.terminate()
        try:
            rc = svc.wait(10)
        except subprocess.TimeoutExpired:
            svc.kill()
            rc = svc.wait()
            failures.append('service did not stop on SIGTERM')
        listener.shutdown()
    check(rc == 0, 'service exit status %d' % rc)
    print('%s: %d failure(s)' % ('FAILED' if failures else 'OK', len(failures)))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
