#!/usr/bin/env node
// OTLP/HTTP receiver for the interop and failure tests: an independent decoder of what the
// bmcfleet exporters send, built on the OpenTelemetry project's generated protobuf code
// (@opentelemetry/otlp-transformer, pinned in package.json) through otlp_decode.js, which the
// OTLP/gRPC receiver (otlp_grpc_receiver.js) shares.
//
// Usage: node otlp_receiver.js [--port N] [--out FILE] [--mode MODE] [--retry-after V]
//                              [--fail-first N] [--lifetime SECONDS]
//   --port N         listen on 127.0.0.1:N; 0 (default) picks a free port. The chosen port is
//                    printed on stdout as "PORT <n>" once listening.
//   --out FILE       append one JSON line per request: {"meta":{...},"request":{...}} where
//                    request is the decoded Export<Signal>ServiceRequest (toObject with longs as
//                    strings, enums as numbers, defaults false; bytes as lowercase hex; doubles
//                    that JSON cannot carry as "NaN", "Infinity", "-Infinity", "-0").
//   --mode MODE      how to answer: ok (default) | 503 | 429 | 400 | hang | partial
//   --retry-after V  Retry-After header value for 503/429 (seconds or an HTTP date)
//   --fail-first N   answer the first N requests with MODE, then ok
//   --lifetime S     exit by itself after S seconds (default 300): never outlives a test
// Environment: OTLP_RECEIVER_MODE, OTLP_RECEIVER_RETRY_AFTER, OTLP_RECEIVER_FAIL_FIRST give the
// same settings (options win).
//
// Accepts POST /v1/traces, /v1/metrics and /v1/logs with application/x-protobuf or
// application/json bodies, optionally Content-Encoding: gzip. JSON bodies of every signal are
// checked strictly against the OTLP/JSON rules (known lowerCamelCase keys only, lowercase hex ids,
// 64-bit integers as decimal strings, enums as integers, at most one member of a oneof) and then
// decoded through the same generated code; violations are reported in meta.jsonErrors. Span.flags and Span.Link.flags (fields 16 and 6,
// newer than the 0.52.1 proto) are read from the wire with protobufjs' own Reader and added to
// the decoded spans and links as "flags".
'use strict';

const fs = require('fs');
const http = require('http');
const zlib = require('zlib');
const {
  P, protobuf, signals, plain, toObjectOptions, attachFlags, decodeRequestPb,
} = require('./otlp_decode.js');

// URL path -> signal (the keys of otlp_decode.js' signal table)
const paths = { '/v1/traces': 'traces', '/v1/metrics': 'metrics', '/v1/logs': 'logs' };

// ---- options ----
function parseArgs(argv) {
  const o = {
    port: 0,
    out: null,
    mode: process.env.OTLP_RECEIVER_MODE || 'ok',
    retryAfter: process.env.OTLP_RECEIVER_RETRY_AFTER || null,
    failFirst: process.env.OTLP_RECEIVER_FAIL_FIRST ? Number(process.env.OTLP_RECEIVER_FAIL_FIRST) : Infinity,
    lifetime: 300,
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i], v = argv[i + 1];
    if (a === '--port') { o.port = Number(v); i++; }
    else if (a === '--out') { o.out = v; i++; }
    else if (a === '--mode') { o.mode = v; i++; }
    else if (a === '--retry-after') { o.retryAfter = v; i++; }
    else if (a === '--fail-first') { o.failFirst = Number(v); i++; }
    else if (a === '--lifetime') { o.lifetime = Number(v); i++; }
    else { console.error(`unknown option ${a}`); process.exit(2); }
  }
  if (!['ok', '503', '429', '400', 'hang', 'partial'].includes(o.mode)) {
    console.error(`unknown mode ${o.mode}`);
    process.exit(2);
  }
  return o;
}
const opt = parseArgs(process.argv);

// ---- strict OTLP/JSON check ----
const T = P.trace.v1, C = P.common.v1, R = P.resource.v1, M = P.metrics.v1, L = P.logs.v1;
function fieldsOf(Type, extra) {
  const names = Object.keys(Type.prototype).filter((k) => typeof Type.prototype[k] !== 'function');
  return new Set(names.concat(extra || []));
}
const schema = {
  ExportTraceServiceRequest: { keys: fieldsOf(P.collector.trace.v1.ExportTraceServiceRequest), msg: { resourceSpans: 'ResourceSpans' }, rep: ['resourceSpans'] },
  ResourceSpans: { keys: fieldsOf(T.ResourceSpans), msg: { resource: 'Resource', scopeSpans: 'ScopeSpans' }, rep: ['scopeSpans'], str: ['schemaUrl'] },
  Resource: { keys: fieldsOf(R.Resource), msg: { attributes: 'KeyValue' }, rep: ['attributes'], u32: ['droppedAttributesCount'] },
  ScopeSpans: { keys: fieldsOf(T.ScopeSpans), msg: { scope: 'InstrumentationScope', spans: 'Span' }, rep: ['spans'], str: ['schemaUrl'] },
  InstrumentationScope: { keys: fieldsOf(C.InstrumentationScope), msg: { attributes: 'KeyValue' }, rep: ['attributes'], str: ['name', 'version'], u32: ['droppedAttributesCount'] },
  Span: {
    keys: fieldsOf(T.Span, ['flags']),
    msg: { attributes: 'KeyValue', events: 'Event', links: 'Link', status: 'Status' },
    rep: ['attributes', 'events', 'links'],
    id16: ['traceId'], id8: ['spanId', 'parentSpanId'], str: ['traceState', 'name'],
    i64: ['startTimeUnixNano', 'endTimeUnixNano'], enm: ['kind'],
    u32: ['droppedAttributesCount', 'droppedEventsCount', 'droppedLinksCount', 'flags'],
  },
  Event: { keys: fieldsOf(T.Span.Event), msg: { attributes: 'KeyValue' }, rep: ['attributes'], str: ['name'], i64: ['timeUnixNano'], u32: ['droppedAttributesCount'] },
  Link: { keys: fieldsOf(T.Span.Link, ['flags']), msg: { attributes: 'KeyValue' }, rep: ['attributes'], id16: ['traceId'], id8: ['spanId'], str: ['traceState'], u32: ['droppedAttributesCount', 'flags'] },
  Status: { keys: fieldsOf(T.Status), str: ['message'], enm: ['code'] },
  KeyValue: { keys: fieldsOf(C.KeyValue), msg: { value: 'AnyValue' }, str: ['key'] },
  AnyValue: { keys: fieldsOf(C.AnyValue), msg: { arrayValue: 'ArrayValue', kvlistValue: 'KeyValueList' }, str: ['stringValue', 'bytesValue'], i64: ['intValue'], bool: ['boolValue'], dbl: ['doubleValue'], oneof: true },
  ArrayValue: { keys: fieldsOf(C.ArrayValue), msg: { values: 'AnyValue' }, rep: ['values'] },
  KeyValueList: { keys: fieldsOf(C.KeyValueList), msg: { values: 'KeyValue' }, rep: ['values'] },
  // metrics
  ExportMetricsServiceRequest: { keys: fieldsOf(P.collector.metrics.v1.ExportMetricsServiceRequest), msg: { resourceMetrics: 'ResourceMetrics' }, rep: ['resourceMetrics'] },
  ResourceMetrics: { keys: fieldsOf(M.ResourceMetrics), msg: { resource: 'Resource', scopeMetrics: 'ScopeMetrics' }, rep: ['scopeMetrics'], str: ['schemaUrl'] },
  ScopeMetrics: { keys: fieldsOf(M.ScopeMetrics), msg: { scope: 'InstrumentationScope', metrics: 'Metric' }, rep: ['metrics'], str: ['schemaUrl'] },
  Metric: {
    keys: fieldsOf(M.Metric), str: ['name', 'description', 'unit'],
    msg: { gauge: 'Gauge', sum: 'Sum', histogram: 'Histogram' },
    oneofGroups: [['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary']],
  },
  Gauge: { keys: fieldsOf(M.Gauge), msg: { dataPoints: 'NumberDataPoint' }, rep: ['dataPoints'] },
  Sum: { keys: fieldsOf(M.Sum), msg: { dataPoints: 'NumberDataPoint' }, rep: ['dataPoints'], enm: ['aggregationTemporality'], bool: ['isMonotonic'] },
  Histogram: { keys: fieldsOf(M.Histogram), msg: { dataPoints: 'HistogramDataPoint' }, rep: ['dataPoints'], enm: ['aggregationTemporality'] },
  NumberDataPoint: {
    keys: fieldsOf(M.NumberDataPoint), msg: { attributes: 'KeyValue', exemplars: 'Exemplar' }, rep: ['attributes', 'exemplars'],
    i64: ['startTimeUnixNano', 'timeUnixNano', 'asInt'], dbl: ['asDouble'], u32: ['flags'], oneofGroups: [['asInt', 'asDouble']],
  },
  HistogramDataPoint: {
    keys: fieldsOf(M.HistogramDataPoint), msg: { attributes: 'KeyValue', exemplars: 'Exemplar' }, rep: ['attributes', 'exemplars'],
    i64: ['startTimeUnixNano', 'timeUnixNano', 'count'], dbl: ['sum', 'min', 'max'], u32: ['flags'],
    i64rep: ['bucketCounts'], dblrep: ['explicitBounds'],
  },
  Exemplar: {
    keys: fieldsOf(M.Exemplar), msg: { filteredAttributes: 'KeyValue' }, rep: ['filteredAttributes'],
    i64: ['timeUnixNano', 'asInt'], dbl: ['asDouble'], id16: ['traceId'], id8: ['spanId'], oneofGroups: [['asInt', 'asDouble']],
  },
  // logs
  ExportLogsServiceRequest: { keys: fieldsOf(P.collector.logs.v1.ExportLogsServiceRequest), msg: { resourceLogs: 'ResourceLogs' }, rep: ['resourceLogs'] },
  ResourceLogs: { keys: fieldsOf(L.ResourceLogs), msg: { resource: 'Resource', scopeLogs: 'ScopeLogs' }, rep: ['scopeLogs'], str: ['schemaUrl'] },
  ScopeLogs: { keys: fieldsOf(L.ScopeLogs), msg: { scope: 'InstrumentationScope', logRecords: 'LogRecord' }, rep: ['logRecords'], str: ['schemaUrl'] },
  LogRecord: {
    keys: fieldsOf(L.LogRecord), msg: { body: 'AnyValue', attributes: 'KeyValue' }, rep: ['attributes'],
    i64: ['timeUnixNano', 'observedTimeUnixNano'], enm: ['severityNumber'], str: ['severityText'],
    u32: ['droppedAttributesCount', 'flags'], id16: ['traceId'], id8: ['spanId'],
  },
};
const requestTypes = { traces: 'ExportTraceServiceRequest', metrics: 'ExportMetricsServiceRequest', logs: 'ExportLogsServiceRequest' };
function checkJson(v, type, where, errs) {
  const s = schema[type];
  if (v === null || typeof v !== 'object' || Array.isArray(v)) { errs.push(`${where}: ${type} must be an object`); return; }
  const keys = Object.keys(v);
  if (s.oneof && keys.length > 1) errs.push(`${where}: AnyValue with ${keys.length} values`);
  for (const g of s.oneofGroups || []) {
    const set = g.filter((k) => keys.includes(k));
    if (set.length > 1) errs.push(`${where}: oneof members ${set.join(', ')} together`);
  }
  for (const k of keys) {
    const x = v[k], at = `${where}.${k}`;
    if (!s.keys.has(k)) { errs.push(`${at}: unknown key for ${type}`); continue; }
    const has = (list) => (s[list] || []).includes(k);
    if (s.msg && s.msg[k]) {
      if (has('rep')) {
        if (!Array.isArray(x)) { errs.push(`${at}: must be an array`); continue; }
        x.forEach((e, i) => checkJson(e, s.msg[k], `${at}[${i}]`, errs));
      } else checkJson(x, s.msg[k], at, errs);
    } else if (has('id16') || has('id8')) {
      const n = has('id16') ? 32 : 16;
      if (typeof x !== 'string' || !new RegExp(`^[0-9a-f]{${n}}$`).test(x)) errs.push(`${at}: not ${n} lowercase hex digits: ${JSON.stringify(x)}`);
    } else if (has('i64')) {
      if (typeof x !== 'string' || !/^-?[0-9]+$/.test(x)) errs.push(`${at}: 64-bit integer must be a decimal string: ${JSON.stringify(x)}`);
    } else if (has('i64rep')) {
      if (!Array.isArray(x) || !x.every((e) => typeof e === 'string' && /^[0-9]+$/.test(e))) errs.push(`${at}: must be an array of 64-bit integers as decimal strings: ${JSON.stringify(x)}`);
    } else if (has('dblrep')) {
      if (!Array.isArray(x) || !x.every((e) => typeof e === 'number' || ['NaN', 'Infinity', '-Infinity'].includes(e))) errs.push(`${at}: must be an array of numbers`);
    } else if (has('enm') || has('u32')) {
      if (!Number.isInteger(x) || x < 0) errs.push(`${at}: must be a non-negative integer: ${JSON.stringify(x)}`);
    } else if (has('str')) {
      if (typeof x !== 'string') errs.push(`${at}: must be a string`);
    } else if (has('bool')) {
      if (typeof x !== 'boolean') errs.push(`${at}: must be a boolean`);
    } else if (has('dbl')) {
      if (typeof x !== 'number' && !['NaN', 'Infinity', '-Infinity'].includes(x)) errs.push(`${at}: must be a number`);
    } else {
      errs.push(`${at}: unchecked field`);
    }
  }
}
// hex ids -> bytes so that fromObject (which expects base64 strings or bytes) reads them right
function hexIdsToBytes(v) {
  if (Array.isArray(v)) { v.forEach(hexIdsToBytes); return; }
  if (!v || typeof v !== 'object') return;
  for (const k of Object.keys(v)) {
    if (['traceId', 'spanId', 'parentSpanId'].includes(k) && typeof v[k] === 'string') v[k] = Buffer.from(v[k], 'hex');
    else hexIdsToBytes(v[k]);
  }
}
function rawJsonFlags(obj) {
  return (obj.resourceSpans || []).map((rs) => (rs.scopeSpans || []).map((ss) => (ss.spans || []).map((sp) => ({
    flags: sp.flags, links: (sp.links || []).map((l) => l.flags),
  }))));
}

// ---- server ----
let requests = 0;
const out = opt.out ? fs.openSync(opt.out, 'a') : null;
function record(line) {
  if (out !== null) fs.writeSync(out, JSON.stringify(line) + '\n');
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const signal = Object.prototype.hasOwnProperty.call(paths, req.url) ? paths[req.url] : null;
    if (req.method !== 'POST' || !signal) { res.writeHead(404).end(); return; }
    const svc = signals[signal];
    const n = ++requests;
    const ctype = (req.headers['content-type'] || '').split(';')[0].trim();
    const encoding = req.headers['content-encoding'] || 'identity';
    const meta = { n, path: req.url, contentType: ctype, contentEncoding: encoding, userAgent: req.headers['user-agent'] || null, receivedAt: Date.now() };
    const mode = n <= opt.failFirst ? opt.mode : 'ok';
    meta.mode = mode;
    let body = Buffer.concat(chunks);
    meta.bytes = body.length;
    let decoded = null;
    try {
      if (encoding === 'gzip') body = zlib.gunzipSync(body);
      else if (encoding !== 'identity') throw new Error(`unsupported content-encoding ${encoding}`);
      if (ctype === 'application/x-protobuf') {
        decoded = decodeRequestPb(signal, body);
      } else if (ctype === 'application/json') {
        const obj = JSON.parse(body.toString('utf8'));
        const errs = [];
        checkJson(obj, requestTypes[signal], '$', errs);
        meta.jsonErrors = errs;
        const flags = signal === 'traces' ? rawJsonFlags(obj) : null;
        hexIdsToBytes(obj);
        decoded = plain(svc.req.toObject(svc.req.fromObject(obj), toObjectOptions));
        if (flags) attachFlags(decoded, flags);
      } else {
        throw new Error(`unsupported content-type ${ctype}`);
      }
    } catch (e) {
      meta.decodeError = String(e && e.message ? e.message : e);
    }
    record({ meta, request: decoded });
    if (meta.decodeError) {
      res.writeHead(400, { 'Content-Type': 'application/json' }).end(JSON.stringify({ code: 3, message: meta.decodeError }));
      return;
    }
    const json = ctype === 'application/json';
    // Success bodies are Export<Signal>ServiceResponse; failure bodies a google.rpc.Status.
    const reply = (status, headers, obj, Type) => {
      let payload;
      if (json) payload = Buffer.from(JSON.stringify(obj));
      else if (Type) payload = Buffer.from(Type.encode(Type.fromObject(obj)).finish());
      else payload = Buffer.from(protobuf.Writer.create().uint32(8).int32(obj.code).uint32(18).string(obj.message).finish());
      res.writeHead(status, Object.assign({ 'Content-Type': json ? 'application/json' : 'application/x-protobuf', 'Content-Length': payload.length }, headers));
      res.end(payload);
    };
    switch (mode) {
      case 'hang': return; // never answered: the client has to give up
      case '503':
      case '429':
        return reply(Number(mode), opt.retryAfter ? { 'Retry-After': opt.retryAfter } : {}, { code: 14, message: 'unavailable (test receiver)' }, null);
      case '400':
        return reply(400, {}, { code: 3, message: 'rejected by the test receiver' }, null);
      case 'partial':
        return reply(200, {}, { partialSuccess: svc.partial }, svc.resp);
      default:
        return reply(200, {}, {}, svc.resp);
    }
  });
});
server.keepAliveTimeout = 60000;
server.listen(opt.port, '127.0.0.1', () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});
const stop = () => { server.close(); if (out !== null) fs.closeSync(out); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, opt.lifetime * 1000).unref();
