#!/usr/bin/env node
// OTLP/gRPC receiver for the OTLP/gRPC transport tests: an independent gRPC server
// (@grpc/grpc-js) serving the three OTLP collector services and decoding every request with
// the OpenTelemetry project's generated protobuf code (through otlp_decode.js, shared with the
// OTLP/HTTP receiver).
//
// Usage: node otlp_grpc_receiver.js [--out FILE] [--mode MODE] [--fail-first N]
//                                   [--retry-delay-ms MS] [--lifetime SECONDS]
//   Listens on 127.0.0.1 (free port) and prints "PORT <n>" once listening.
//   --out FILE        append one JSON line per request: {"meta":{...},"request":{...}}; meta has
//                     n, signal, path, metadata (every request header but the gRPC-internal
//                     ones, -bin values as hex), userAgent, encoding ("gzip" when the message
//                     arrived gzip-compressed, else "identity"), bytes (decompressed message
//                     size), mode, receivedAt.
//   --mode MODE       ok (default) | partial | unavailable | resource_exhausted (no RetryInfo;
//                     the status carries an ErrorInfo detail instead) | retry_info
//                     (RESOURCE_EXHAUSTED with a RetryInfo of --retry-delay-ms) |
//                     invalid_argument | hang
//   --fail-first N    answer the first N requests with MODE, then ok
//   --retry-delay-ms  the RetryInfo retry_delay (default 300)
//   --lifetime S      exit by itself after S seconds (default 120)
'use strict';

const fs = require('fs');
const zlib = require('zlib');
const grpc = require('@grpc/grpc-js');
const { protobuf, signals, decodeRequestPb, encodeResponsePb } = require('./otlp_decode.js');

function parseArgs(argv) {
  const o = { out: null, mode: 'ok', failFirst: Infinity, retryDelayMs: 300, lifetime: 120 };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i], v = argv[i + 1];
    if (a === '--out') { o.out = v; i++; }
    else if (a === '--mode') { o.mode = v; i++; }
    else if (a === '--fail-first') { o.failFirst = Number(v); i++; }
    else if (a === '--retry-delay-ms') { o.retryDelayMs = Number(v); i++; }
    else if (a === '--lifetime') { o.lifetime = Number(v); i++; }
    else { console.error(`unknown option ${a}`); process.exit(2); }
  }
  const modes = ['ok', 'partial', 'unavailable', 'resource_exhausted', 'retry_info', 'invalid_argument', 'hang'];
  if (!modes.includes(o.mode)) { console.error(`unknown mode ${o.mode}`); process.exit(2); }
  return o;
}
const opt = parseArgs(process.argv);

// google.rpc.Status { code, message, details: [Any] } for grpc-status-details-bin.
function any(typeUrl, value) {
  return protobuf.Writer.create().uint32(10).string(typeUrl).uint32(18).bytes(value).finish();
}
function retryInfo(ms) {
  const seconds = Math.floor(ms / 1000), nanos = (ms % 1000) * 1000000;
  const duration = protobuf.Writer.create().uint32(8).int64(seconds).uint32(16).int32(nanos).finish();
  return protobuf.Writer.create().uint32(10).bytes(duration).finish();
}
function errorInfo(reason) {
  return protobuf.Writer.create().uint32(10).string(reason).uint32(18).string('test.receiver').finish();
}
function statusDetails(code, message, details) {
  const w = protobuf.Writer.create().uint32(8).int32(code).uint32(18).string(message);
  for (const d of details) w.uint32(26).bytes(d);
  return Buffer.from(w.finish());
}

// grpc-js decompresses before the handler runs and drops grpc-encoding from the metadata; it
// looks zlib.createGunzip up at call time (a configurable property), so counting the calls tells whether a message
// arrived gzip-compressed (requests are handled one at a time in the tests).
let gunzips = 0, gunzipsSeen = 0;
const createGunzip = zlib.createGunzip;
Object.defineProperty(zlib, 'createGunzip', {
  value: (...a) => { gunzips++; return createGunzip(...a); },
  writable: false, enumerable: true, configurable: true,
});

let requests = 0;
const out = opt.out ? fs.openSync(opt.out, 'a') : null;
function record(line) {
  if (out !== null) fs.writeSync(out, JSON.stringify(line) + '\n');
}

function metadataObject(md) {
  const o = {};
  for (const [k, v] of Object.entries(md.getMap())) {
    o[k] = Buffer.isBuffer(v) ? v.toString('hex') : String(v);
  }
  return o;
}

function handler(signal) {
  return (call, callback) => {
    const n = ++requests;
    const mode = n <= opt.failFirst ? opt.mode : 'ok';
    const md = call.metadata;
    const meta = {
      n, signal, path: signals[signal].grpcPath, mode,
      metadata: metadataObject(md),
      userAgent: md.get('user-agent').map(String).join(' ') || null,
      encoding: gunzips > gunzipsSeen ? 'gzip' : 'identity',
      bytes: call.request.length,
      receivedAt: Date.now(),
    };
    gunzipsSeen = gunzips;
    let decoded = null;
    try {
      decoded = decodeRequestPb(signal, call.request);
    } catch (e) {
      meta.decodeError = String(e && e.message ? e.message : e);
    }
    record({ meta, request: decoded });
    if (meta.decodeError) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: meta.decodeError });
      return;
    }
    const trailers = new grpc.Metadata();
    switch (mode) {
      case 'hang':
        return; // never answered: the client's deadline ends the call
      case 'unavailable':
        return callback({ code: grpc.status.UNAVAILABLE, details: 'unavailable (test receiver)' });
      case 'invalid_argument':
        return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'rejected by the test receiver' });
      case 'resource_exhausted':
        trailers.set('grpc-status-details-bin', statusDetails(8, 'over quota', [
          any('type.googleapis.com/google.rpc.ErrorInfo', errorInfo('QUOTA'))]));
        return callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'over quota (no retry info)', metadata: trailers });
      case 'retry_info':
        trailers.set('grpc-status-details-bin', statusDetails(8, 'slow down', [
          any('type.googleapis.com/google.rpc.ErrorInfo', errorInfo('QUOTA')),
          any('type.googleapis.com/google.rpc.RetryInfo', retryInfo(opt.retryDelayMs))]));
        return callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'slow down (retry info)', metadata: trailers });
      case 'partial':
        return callback(null, encodeResponsePb(signal, true));
      default:
        return callback(null, encodeResponsePb(signal, false));
    }
  };
}

const server = new grpc.Server();
for (const signal of Object.keys(signals)) {
  const identity = (b) => b;
  server.addService({
    Export: {
      path: signals[signal].grpcPath, requestStream: false, responseStream: false,
      requestSerialize: identity, requestDeserialize: identity,
      responseSerialize: identity, responseDeserialize: identity,
    },
  }, { Export: handler(signal) });
}
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) { console.error(err); process.exit(2); }
  process.stdout.write(`PORT ${port}\n`);
});
const stop = () => { server.forceShutdown(); if (out !== null) fs.closeSync(out); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, opt.lifetime * 1000).unref();
