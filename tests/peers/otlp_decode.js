// Shared OTLP decoding for the test receivers (OTLP/HTTP: otlp_receiver.js, OTLP/gRPC:
// otlp_grpc_receiver.js): the OpenTelemetry project's generated protobuf code from
// @opentelemetry/otlp-transformer (pinned in package.json) turns an Export<Signal>ServiceRequest
// body into a JSON-friendly object, so every receiver reports requests the same way.
'use strict';

const path = require('path');

const transformerDir = path.dirname(
  require.resolve('@opentelemetry/otlp-transformer/package.json'));
const root = require(path.join(transformerDir, 'build/src/generated/root.js'));
const protobuf = require(require.resolve('protobufjs/minimal', { paths: [transformerDir] }));

const P = root.opentelemetry.proto;

// Per signal: request and response types, and the partial_success a receiver reports when told.
const signals = {
  traces: {
    req: P.collector.trace.v1.ExportTraceServiceRequest,
    resp: P.collector.trace.v1.ExportTraceServiceResponse,
    partial: { rejectedSpans: 1, errorMessage: 'receiver was told to reject one span' },
    grpcPath: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  },
  metrics: {
    req: P.collector.metrics.v1.ExportMetricsServiceRequest,
    resp: P.collector.metrics.v1.ExportMetricsServiceResponse,
    partial: { rejectedDataPoints: 1, errorMessage: 'receiver was told to reject one point' },
    grpcPath: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
  },
  logs: {
    req: P.collector.logs.v1.ExportLogsServiceRequest,
    resp: P.collector.logs.v1.ExportLogsServiceResponse,
    partial: { rejectedLogRecords: 1, errorMessage: 'receiver was told to reject one record' },
    grpcPath: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  },
};

// decoded object -> JSON-friendly: bytes as lowercase hex, doubles JSON cannot carry as strings.
function plain(v) {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : (v > 0 ? 'Infinity' : '-Infinity');
  if (Object.is(v, -0)) return '-0'; // JSON.stringify would print 0
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v)) o[k] = plain(v[k]);
    return o;
  }
  return v;
}
const toObjectOptions = { longs: String, enums: Number, defaults: false };

// Span.flags / Link.flags (fields 16 and 6, newer than the 0.52.1 proto) straight from the wire.
function readFields(buf, onField) {
  const r = protobuf.Reader.create(buf);
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3, wt = tag & 7;
    if (wt === 2) onField(field, wt, r.bytes());
    else if (wt === 5) onField(field, wt, r.fixed32());
    else r.skipType(wt);
  }
}
function rawTraceFlags(body) {
  // [[ [ {flags, links:[flags...]} per span ] per scopeSpans ] per resourceSpans]
  const out = [];
  readFields(body, (f, wt, rs) => {
    if (f !== 1 || wt !== 2) return;
    const scopes = [];
    readFields(rs, (f2, wt2, ss) => {
      if (f2 !== 2 || wt2 !== 2) return;
      const spans = [];
      readFields(ss, (f3, wt3, sp) => {
        if (f3 !== 2 || wt3 !== 2) return;
        const s = { flags: undefined, links: [] };
        readFields(sp, (f4, wt4, v) => {
          if (f4 === 16 && wt4 === 5) s.flags = v;
          if (f4 === 13 && wt4 === 2) {
            let lf;
            readFields(v, (f5, wt5, lv) => { if (f5 === 6 && wt5 === 5) lf = lv; });
            s.links.push(lf);
          }
        });
        spans.push(s);
      });
      scopes.push(spans);
    });
    out.push(scopes);
  });
  return out;
}
function attachFlags(obj, raw) {
  (obj.resourceSpans || []).forEach((rs, i) => (rs.scopeSpans || []).forEach((ss, j) =>
    (ss.spans || []).forEach((sp, k) => {
      const r = raw[i] && raw[i][j] && raw[i][j][k];
      if (!r) return;
      if (r.flags !== undefined) sp.flags = r.flags;
      (sp.links || []).forEach((l, m) => { if (r.links[m] !== undefined) l.flags = r.links[m]; });
    })));
}

// Decodes a protobuf Export<Signal>ServiceRequest body (a Buffer) of signal "traces", "metrics"
// or "logs" into the JSON-friendly object (toObject with longs as strings, enums as numbers,
// defaults false; Span/Link flags added). Throws on malformed protobuf.
function decodeRequestPb(signal, body) {
  const s = signals[signal];
  const decoded = plain(s.req.toObject(s.req.decode(body), toObjectOptions));
  if (signal === 'traces') attachFlags(decoded, rawTraceFlags(body));
  return decoded;
}

// Encodes the success answer: an empty Export<Signal>ServiceResponse, or one with the
// signal's partial_success when partial is true.
function encodeResponsePb(signal, partial) {
  const s = signals[signal];
  return Buffer.from(s.resp.encode(s.resp.fromObject(partial ? { partialSuccess: s.partial } : {})).finish());
}

module.exports = {
  P, protobuf, signals, plain, toObjectOptions, readFields, rawTraceFlags, attachFlags,
  decodeRequestPb, encodeResponsePb,
};
