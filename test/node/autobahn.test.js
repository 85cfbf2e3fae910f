// autobahn.js (npm "autobahn", node) and wampy.js against switchboard started exactly as
// README.md says: `go run ./cmd/switchboard` with the embedded default
// config on 127.0.0.1:8080.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const autobahn = require('autobahn');

const repo = path.resolve(__dirname, '..', '..');
const url = 'ws://127.0.0.1:8080/ws';
let router;
let routerLog = '';
let routerExit;

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

before(async () => {
  assert.equal(await portOpen(8080), false, 'port 8080 is already in use: stop whatever listens there');
  // detached: the router gets its own process group, so the signal below
  // reaches the switchboard process itself, not only `go run`.
  router = spawn('go', ['run', './cmd/switchboard'], { cwd: repo, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  router.stdout.on('data', (d) => { routerLog += d; });
  router.stderr.on('data', (d) => { routerLog += d; });
  // 'close' (not 'exit'): it fires once the process ended and its output was read.
  routerExit = new Promise((resolve) => router.once('close', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 180000; // go run may compile first
  while (!(await portOpen(8080))) {
    if (router.exitCode !== null) throw new Error('switchboard exited early:\n' + routerLog);
    if (Date.now() > deadline) throw new Error('switchboard did not listen on 8080:\n' + routerLog);
    await new Promise((r) => setTimeout(r, 100));
  }
});

after(async () => {
  if (!router || router.exitCode !== null) return;
  // SIGTERM reaches `go run` too, which dies of it; what matters is that
  // switchboard itself shut down gracefully (its exit code is checked by
  // cmd/switchboard's Go tests).
  process.kill(-router.pid, 'SIGTERM');
  await withTimeout(routerExit, 15000, 'switchboard exit');
  assert.match(routerLog, /msg="shutdown complete"/, 'switchboard log after SIGTERM:\n' + routerLog);
});

function connect(serializer) {
  return new Promise((resolve, reject) => {
    const conn = new autobahn.Connection({
      url, realm: 'realm1', serializers: [serializer], max_retries: 0,
    });
    conn.onopen = (session) => resolve({ conn, session });
    conn.onclose = (reason, details) => { reject(new Error(`connection closed: ${reason} ${JSON.stringify(details)}`)); return true; };
    conn.open();
  });
}

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error('timeout: ' + what)), ms); })])
    .finally(() => clearTimeout(t));
}

const serializers = {
  json: () => new autobahn.serializer.JSONSerializer(),
  msgpack: () => new autobahn.serializer.MsgpackSerializer(),
  cbor: () => new autobahn.serializer.CBORSerializer(),
};

for (const [name, make] of Object.entries(serializers)) {
  test(`pub/sub and RPC with ${name}`, async () => {
    const a = await connect(make());
    const b = await connect(make());
    try {
      assert.equal(a.session.isOpen, true);
      const topic = `com.example.node.${name}`;

      // pub/sub with args and kwargs, exact and prefix subscriptions.
      let gotEvent, gotPrefixEvent;
      const got = new Promise((resolve) => { gotEvent = resolve; });
      const gotPrefix = new Promise((resolve) => { gotPrefixEvent = resolve; });
      // Both SUBSCRIBEs are acknowledged before publishing.
      await a.session.subscribe(topic, (args, kwargs, details) => gotEvent({ args, kwargs, details }));
      await a.session.subscribe('com.example.node.', (args, kwargs, details) => gotPrefixEvent(details.topic), { match: 'prefix' });
      const pub = await b.session.publish(topic, ['hello', 42], { from: 'node' }, { acknowledge: true });
      assert.ok(pub.id > 0, 'publication id');
      const ev = await withTimeout(got, 5000, 'event');
      assert.deepEqual(ev.args, ['hello', 42]);
      assert.deepEqual(ev.kwargs, { from: 'node' });
      assert.equal(ev.details.publication, pub.id);
      assert.equal(await withTimeout(gotPrefix, 5000, 'prefix event'), topic);

      // RPC with a result and with an application error.
      await a.session.register(`com.example.add.${name}`, (args) => args[0] + args[1]);
      await a.session.register(`com.example.fail.${name}`, () => {
        throw new autobahn.Error('com.example.error.bad', ['nope'], { code: 7 });
      });
      assert.equal(await b.session.call(`com.example.add.${name}`, [2, 40]), 42);
      await assert.rejects(b.session.call(`com.example.fail.${name}`), (err) => {
        assert.equal(err.error, 'com.example.error.bad');
        assert.deepEqual(err.args, ['nope']);
        assert.equal(err.kwargs.code, 7);
        return true;
      });
      await assert.rejects(b.session.call('com.example.missing'), (err) => err.error === 'wamp.error.no_such_procedure');
    } finally {
      a.conn.close();
      b.conn.close();
    }
  });
}

test('an unknown realm is refused with ABORT wamp.error.no_such_realm', async () => {
  const reason = await new Promise((resolve) => {
    const conn = new autobahn.Connection({ url, realm: 'nope', max_retries: 0 });
    conn.onopen = () => resolve('opened');
    conn.onclose = (r, details) => { resolve(details.reason); return true; };
    conn.open();
  });
  assert.equal(reason, 'wamp.error.no_such_realm');
});

test('progressive call results from an autobahn.js callee', async () => {
  const callee = await connect(serializers.json());
  const caller = await connect(serializers.msgpack());
  try {
    await callee.session.register('com.example.progressive', (args, kwargs, details) => {
      assert.equal(typeof details.progress, 'function', 'receive_progress reached the callee');
      details.progress([1]);
      details.progress([2]);
      return 3;
    });
    const progress = [];
    const result = await withTimeout(new Promise((resolve, reject) => {
      caller.session.call('com.example.progressive', [], {}, { receive_progress: true })
        .then(resolve, reject, (p) => progress.push(p));
    }), 5000, 'progressive call');
    assert.equal(result, 3);
    assert.deepEqual(progress, [1, 2]);
  } finally {
    callee.conn.close();
    caller.conn.close();
  }
});

// wampy.js (npm "wampy", on the "ws" WebSocket package) against the same
// router: pub/sub, and progressive results from a wampy.js callee.
const { Wampy } = require('wampy');
const { MsgpackSerializer: WampyMsgpack } = require('wampy/MsgpackSerializer.js');
const WebSocket = require('ws');

async function wampyConnect(serializer) {
  const options = { realm: 'realm1', ws: WebSocket, autoReconnect: false };
  if (serializer) options.serializer = serializer; // default: JSON
  const w = new Wampy(url, options);
  await withTimeout(w.connect(), 5000, 'wampy connect');
  return w;
}

test('wampy.js: pub/sub, and progressive results from a wampy.js callee', async () => {
  const callee = await wampyConnect(new WampyMsgpack());
  const caller = await wampyConnect(undefined); // JSON
  const ab = await connect(serializers.cbor());
  try {
    const events = [];
    await caller.subscribe('com.example.wampy.news', (e) => { events.push(e.argsList[0]); });
    await callee.publish('com.example.wampy.news', ['hello'], { exclude_me: false });

    // wampy.js callees do not announce progressive_call_results, so they are
    // not told receive_progress; their progressive YIELDs still reach callers.
    await callee.register('com.example.wampy.progressive', ({ result_handler }) => {
      result_handler({ argsList: [1], options: { progress: true } });
      result_handler({ argsList: [2], options: { progress: true } });
      return { argsList: [3] };
    });
    // A wampy.js caller...
    const progress = [];
    const res = await withTimeout(caller.call('com.example.wampy.progressive', [], {
      progress_callback: (r) => progress.push(r.argsList[0]),
    }), 5000, 'wampy progressive call');
    assert.deepEqual(res.argsList, [3]);
    assert.deepEqual(progress, [1, 2]);
    // ... and an autobahn.js caller get the progressive results.
    const abProgress = [];
    const abResult = await withTimeout(new Promise((resolve, reject) => {
      ab.session.call('com.example.wampy.progressive', [], {}, { receive_progress: true })
        .then(resolve, reject, (p) => abProgress.push(p));
    }), 5000, 'autobahn call of a wampy callee');
    assert.equal(abResult, 3);
    assert.deepEqual(abProgress, [1, 2]);
    assert.deepEqual(events, ['hello']);
  } finally {
    await callee.disconnect();
    await caller.disconnect();
    ab.conn.close();
  }
});
