#!/usr/bin/env node
// Independent gRPC peer (@grpc/grpc-js, pinned in package.json) for the core gRPC runtime tests:
// the bmcfleet.test.Echo service of tests/proto/echo.proto, as a server or as a client.
//
// Usage:
//   node grpc_echo_peer.js server [--lifetime S]
//       Listens on 127.0.0.1 (free port), prints "PORT <n>". Unary and Chat answer with the
//       traceparent, tracestate and baggage received in the request metadata, server "grpc-js";
//       delay_ms and fail_code in a request are honoured.
//   node grpc_echo_peer.js client --target HOST:PORT --traceparent TP [--tracestate TS]
//                                 [--baggage B] [--lifetime S]
//       Calls the target with the given context in the metadata: Unary, Chat (3 messages),
//       and bad input (a payload that is not protobuf, an unknown method, an oversized message,
//       a Chat with a bad second message, a short deadline); then a last Unary to show the
//       server still serves. Prints one JSON object with every outcome on stdout and exits 0.
//   --lifetime S   exit by itself after S seconds (default 60): never outlives a test.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO = path.join(__dirname, '..', 'proto', 'echo.proto');
const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: Number, defaults: true });
const pkg = grpc.loadPackageDefinition(def).bmcfleet.test;

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const mode = process.argv[2];
const lifetime = Number(arg('--lifetime', '60'));
setTimeout(() => process.exit(3), lifetime * 1000).unref();

function first(md, key) {
  const v = md.get(key);
  return v.length ? String(v[0]) : '';
}

function replyFor(req, md, seq) {
  return {
    message: req.message,
    traceparent: first(md, 'traceparent'),
    tracestate: md.get('tracestate').map(String).join(','),
    baggage: md.get('baggage').map(String).join(','),
    seq,
    payload_size: req.payload ? req.payload.length : 0,
    server: 'grpc-js',
  };
}

function runServer() {
  const server = new grpc.Server();
  server.addService(pkg.Echo.service, {
    Unary(call, cb) {
      const req = call.request;
      setTimeout(() => {
        if (req.fail_code) cb({ code: req.fail_code, details: `failing as asked (${req.fail_code})` });
        else cb(null, replyFor(req, call.metadata, 1));
      }, req.delay_ms || 0);
    },
    Chat(call) {
      let seq = 0;
      call.on('data', (req) => {
        if (req.fail_code) {
          call.emit('error', { code: req.fail_code, details: `failing as asked (${req.fail_code})` });
          return;
        }
        call.write(replyFor(req, call.metadata, ++seq));
      });
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) { console.error(err); process.exit(2); }
    process.stdout.write(`PORT ${port}\n`);
  });
  const stop = () => server.tryShutdown(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function statusOf(err) {
  return err ? { code: err.code, details: err.details } : { code: 0, details: '' };
}

async function runClient() {
  const target = arg('--target');
  const md = new grpc.Metadata();
  md.set('traceparent', arg('--traceparent', ''));
  if (arg('--tracestate')) md.set('tracestate', arg('--tracestate'));
  if (arg('--baggage')) md.set('baggage', arg('--baggage'));
  const client = new pkg.Echo(target, grpc.credentials.createInsecure());
  const raw = new grpc.Client(target, grpc.credentials.createInsecure());
  const out = {};
  const deadline = (ms) => ({ deadline: new Date(Date.now() + ms) });

  const unary = (req, ms) => new Promise((resolve) => {
    client.Unary(req, md, deadline(ms || 5000), (err, resp) => resolve({ status: statusOf(err), reply: resp || null }));
  });
  const rawUnary = (method, buf) => new Promise((resolve) => {
    raw.makeUnaryRequest(method, (b) => b, (b) => b, buf, md, deadline(5000),
      (err, resp) => resolve({ status: statusOf(err), bytes: resp ? resp.length : 0 }));
  });
  const chat = (reqs) => new Promise((resolve) => {
    const replies = [];
    const call = client.Chat(md, deadline(5000));
    call.on('data', (r) => replies.push(r));
    call.on('status', (s) => resolve({ status: { code: s.code, details: s.details }, replies }));
    call.on('error', () => {});
    for (const r of reqs) call.write(r);
    call.end();
  });

  out.unary = await unary({ message: 'hello from grpc-js' });
  out.chat = await chat([{ message: 'one' }, { message: 'two' }, { message: 'three' }]);
  // bad input
  out.garbage = await rawUnary('/bmcfleet.test.Echo/Unary', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a]));
  out.unknown = await rawUnary('/bmcfleet.test.Echo/NoSuchMethod', Buffer.alloc(0));
  out.unknownService = await rawUnary('/no.such.Service/Unary', Buffer.alloc(0));
  out.oversized = await unary({ message: 'big', payload: Buffer.alloc(Number(arg('--oversize', '200000')), 0x61) });
  out.deadline = await unary({ message: 'slow', delay_ms: 2000 }, 200);
  out.failing = await unary({ message: 'fail', fail_code: 9 });
  out.after = await unary({ message: 'still serving' });
  // a Chat whose second message is not protobuf
  out.chatGarbage = await new Promise((resolve) => {
    const replies = [];
    const call = raw.makeBidiStreamRequest('/bmcfleet.test.Echo/Chat', (b) => b, (b) => b, md, deadline(5000));
    call.on('data', (r) => replies.push(r.length));
    call.on('status', (s) => resolve({ status: { code: s.code, details: s.details }, replies: replies.length }));
    call.on('error', () => {});
    const ok = pkg.Echo.service.Chat.requestSerialize({ message: 'fine' });
    call.write(ok);
    call.write(Buffer.from([0x0a, 0x7f, 0x01]));
    call.end();
  });
  process.stdout.write(JSON.stringify(out) + '\n');
  client.close();
  raw.close();
  process.exit(0);
}

if (mode === 'server') runServer();
else if (mode === 'client') runClient().catch((e) => { console.error(e); process.exit(2); });
else { console.error('usage: grpc_echo_peer.js server|client ...'); process.exit(2); }
