// autobahn.js (npm "autobahn", node) and wampy.js against switchboard started exactly as
// README.md says: `go run ./cmd/switchboard` with the embedded default
// config on 127.0.0.1:8080.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const autobahn = require('autobahn');
const { repo, portOpen, withTimeout } = require('./harness');

const url = 'ws://127.0.0.1:8080/ws';
let router;
let routerLog = '';
let routerExit;

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
const { CborSerializer: WampyCbor } = require('wampy/CborSerializer.js');
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

// Real clients, real payloads (issue 13), on the embedded default config.
const crypto = require('node:crypto');
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

const wampySerializers = {
  json: () => undefined, // wampy's default
  msgpack: () => new WampyMsgpack(),
  cbor: () => new WampyCbor(),
};

for (const [name, make] of Object.entries(wampySerializers)) {
  test(`wampy.js over ${name}: exact, prefix and wildcard subscriptions, publish with and without options, RPC`, async () => {
    // wampy sends unset options as null over msgpack and cbor ({match: undefined}).
    const a = await wampyConnect(make());
    const b = await wampyConnect(make());
    try {
      const base = `com.example.wampy.${name}`;
      const got = { exact: [], prefix: [], wildcard: [] };
      await a.subscribe(`${base}.news`, (e) => got.exact.push(e.argsList[0]));
      await a.subscribe(`${base}.p`, (e) => got.prefix.push(e.argsList[0]), { match: 'prefix' });
      await a.subscribe(`${base}..news`, (e) => got.wildcard.push(e.argsList[0]), { match: 'wildcard' });
      await b.publish(`${base}.news`, ['plain']);
      await b.publish(`${base}.pub.news`, ['with options'], { exclude_me: false, disclose_me: true });
      await b.publish(`${base}.news`, { argsList: ['last'], argsDict: { k: 1 } }, { exclude_me: true });
      const deadline = Date.now() + 5000;
      while (got.exact.length < 2 || got.prefix.length < 1 || got.wildcard.length < 1) {
        if (Date.now() > deadline) throw new Error('events missing: ' + JSON.stringify(got));
        await new Promise((r) => setTimeout(r, 20)); // polling for the events, with a deadline
      }
      assert.deepEqual(got, { exact: ['plain', 'last'], prefix: ['with options'], wildcard: ['with options'] });

      await a.register(`${base}.add`, ({ argsList }) => ({ argsList: [argsList[0] + argsList[1]] }));
      await a.register(`${base}.pattern`, ({ argsList }) => ({ argsList: ['pattern', ...argsList] }), { match: 'prefix' });
      assert.deepEqual((await b.call(`${base}.add`, [2, 40])).argsList, [42]);
      assert.deepEqual((await b.call(`${base}.pattern.any`, ['x'], { timeout: 5000 })).argsList, ['pattern', 'x']);
      await assert.rejects(b.call(`${base}.missing`), (err) => err.errorUri === 'wamp.error.no_such_procedure');
    } finally {
      await a.disconnect();
      await b.disconnect();
    }
  });
}

test('autobahn.js with explicit null options subscribes, publishes, registers and calls', async () => {
  const a = await connect(serializers.msgpack());
  const b = await connect(serializers.cbor());
  try {
    let gotEvent;
    const got = new Promise((resolve) => { gotEvent = resolve; });
    await a.session.subscribe('com.example.nulls', (args) => gotEvent(args[0]), { match: null, get_retained: null });
    await b.session.publish('com.example.nulls', ['n'], {}, { acknowledge: true, exclude_me: null, retain: null });
    assert.equal(await withTimeout(got, 5000, 'event'), 'n');
    await a.session.register('com.example.nulls.echo', (args) => args[0], { match: null, invoke: null });
    assert.equal(await b.session.call('com.example.nulls.echo', ['e'], {}, { timeout: null, receive_progress: null }), 'e');
  } finally {
    a.conn.close();
    b.conn.close();
  }
});

test('a 1 MiB payload from autobahn.js and from wampy.js reaches subscribers of both libraries intact', async () => {
  const payload = crypto.randomBytes(786432).toString('base64'); // 1,048,576 characters
  assert.equal(payload.length, 1048576);
  const abPub = await connect(serializers.json());
  const abSub = await connect(serializers.msgpack());
  const wPub = await wampyConnect(undefined);
  const wSub = await wampyConnect(new WampyMsgpack());
  try {
    const abGot = [];
    const wGot = [];
    await abSub.session.subscribe('com.example.big', (args) => abGot.push(args[0]));
    await wSub.subscribe('com.example.big', (e) => wGot.push(e.argsList[0]));
    await abPub.session.publish('com.example.big', [payload], {}, { acknowledge: true });
    await wPub.publish('com.example.big', [payload]);
    const deadline = Date.now() + 15000;
    while (abGot.length < 2 || wGot.length < 2) {
      if (Date.now() > deadline) throw new Error(`events missing: autobahn ${abGot.length}, wampy ${wGot.length}`);
      await new Promise((r) => setTimeout(r, 20)); // polling for the events, with a deadline
    }
    for (const s of [...abGot, ...wGot]) {
      assert.equal(s.length, payload.length);
      assert.equal(sha256(s), sha256(payload));
    }
  } finally {
    abPub.conn.close();
    abSub.conn.close();
    await wPub.disconnect();
    await wSub.disconnect();
  }
});

async function tooBigCount() {
  const res = await fetch('http://127.0.0.1:8080/metrics');
  const text = await res.text();
  const m = text.match(/^switchboard_messages_refused_total\{reason="too_big"\} (\d+)/m);
  assert.ok(m, 'switchboard_messages_refused_total{reason="too_big"} is exported');
  return Number(m[1]);
}

test('a 20 MiB publish gets wamp.error.payload_size_exceeded in autobahn.js and the session goes on', async () => {
  const before = await tooBigCount();
  const a = await connect(serializers.json());
  try {
    const huge = 'z'.repeat(20 * 1024 * 1024);
    await assert.rejects(withTimeout(a.session.publish('com.example.huge', [huge], {}, { acknowledge: true }), 30000, 'publish'),
      (err) => err.error === 'wamp.error.payload_size_exceeded');
    const pub = await a.session.publish('com.example.huge', ['small'], {}, { acknowledge: true });
    assert.ok(pub.id > 0);
    assert.equal(a.session.isOpen, true);
  } finally {
    a.conn.close();
  }
  assert.equal(await tooBigCount(), before + 1);
});

test('kill cancel of a call to an autobahn.js callee: wamp.error.canceled before the callee finishes, no stray result', async () => {
  const callee = await connect(serializers.json());
  const caller = await connect(serializers.cbor());
  try {
    let invoked, release;
    const invocation = new Promise((r) => { invoked = r; });
    const finish = new Promise((r) => { release = r; });
    let calleeFinished = false;
    await callee.session.register('com.example.slow', async () => {
      invoked();
      await finish;
      calleeFinished = true;
      return 'late';
    });
    await callee.session.register('com.example.quick', () => 'quick');
    const call = caller.session.call('com.example.slow', [], {});
    await withTimeout(invocation, 5000, 'invocation');
    call.cancel({ mode: 'kill' });
    await assert.rejects(withTimeout(call, 5000, 'cancelled call'), (err) => err.error === 'wamp.error.canceled');
    assert.equal(calleeFinished, false, 'the caller was answered before the callee finished');
    release();
    // The callee's late YIELD goes before this call's on its connection: a
    // stray RESULT would reach the caller first (and autobahn.js would end
    // the session over it).
    assert.equal(await withTimeout(caller.session.call('com.example.quick'), 5000, 'call after the cancel'), 'quick');
    assert.equal(calleeFinished, true);
    assert.equal(caller.session.isOpen, true);
    assert.equal(callee.session.isOpen, true);
  } finally {
    callee.conn.close();
    caller.conn.close();
  }
});

// A callee that announces call_canceling, spoken by hand in JSON (neither
// autobahn.js nor wampy.js announces it as a callee), and callers
// cancelling in each mode: autobahn.js for kill; for skip and killnowait a
// hand-written caller too, because autobahn.js 26.3 rejects those locally
// and then takes the router's ERROR for the call (which the WAMP spec
// requires) as a protocol violation and closes its own session.
function rawSession(roles) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['wamp.2.json']);
    const inbox = [];
    const waiting = [];
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      const w = waiting.shift();
      if (w) w(m); else inbox.push(m);
    };
    const next = (ms = 5000) => (inbox.length ? Promise.resolve(inbox.shift())
      : withTimeout(new Promise((r) => waiting.push(r)), ms, 'message to a raw session'));
    ws.onerror = reject;
    ws.onopen = async () => {
      ws.send(JSON.stringify([1, 'realm1', { roles }]));
      const welcome = await next();
      if (welcome[0] !== 2) return reject(new Error('raw session not welcomed: ' + JSON.stringify(welcome)));
      resolve({ ws, next, send: (m) => ws.send(JSON.stringify(m)) });
    };
  });
}

const cancelingCallee = { callee: { features: { call_canceling: true, progressive_call_results: true } }, publisher: {} };
const cancelingCaller = { caller: { features: { call_canceling: true } }, publisher: {} };

for (const mode of ['skip', 'kill', 'killnowait']) {
  test(`cancel mode ${mode} to a callee that announces call_canceling`, async () => {
    const callee = await rawSession(cancelingCallee);
    const caller = await rawSession(cancelingCaller);
    try {
      const proc = `com.example.cancelable.${mode}`;
      callee.send([64, 1, {}, proc]);
      assert.equal((await callee.next())[0], 65, 'REGISTERED');
      caller.send([48, 1, {}, proc, []]);
      const inv = await callee.next();
      assert.equal(inv[0], 68, 'INVOCATION');
      caller.send([49, 1, { mode }]);
      if (mode === 'skip') {
        // No INTERRUPT for skip: the callee's next message answers its own request.
        callee.send([16, 2, { acknowledge: true }, 'com.example.cancelable.ping']);
        assert.equal((await callee.next())[0], 17, 'PUBLISHED, not an INTERRUPT');
      } else {
        const intr = await callee.next();
        assert.deepEqual([intr[0], intr[1], intr[2].mode], [69, inv[1], mode], 'INTERRUPT');
      }
      if (mode === 'kill') {
        // The caller waits for the callee's answer to the INTERRUPT, and gets it.
        callee.send([8, 68, inv[1], {}, 'com.example.stopped', ['by request']]);
      }
      const err = await caller.next();
      assert.deepEqual(err.slice(0, 5), [8, 48, 1, {}, mode === 'kill' ? 'com.example.stopped' : 'wamp.error.canceled']);
      if (mode !== 'kill') callee.send([70, inv[1], {}, ['late']]); // discarded
      // No stray RESULT: the caller's next message answers its next request.
      caller.send([16, 3, { acknowledge: true }, 'com.example.cancelable.ping']);
      assert.equal((await caller.next())[0], 17, 'PUBLISHED, not a RESULT');
    } finally {
      callee.ws.close();
      caller.ws.close();
    }
  });
}

test('kill cancel from autobahn.js to a callee that announces call_canceling relays its ERROR', async () => {
  const callee = await rawSession(cancelingCallee);
  const caller = await connect(serializers.json());
  try {
    callee.send([64, 1, {}, 'com.example.cancelable.ab']);
    assert.equal((await callee.next())[0], 65, 'REGISTERED');
    const call = caller.session.call('com.example.cancelable.ab', [], {});
    const outcome = call.then((r) => ({ result: r }), (err) => ({ err }));
    const inv = await callee.next();
    call.cancel({ mode: 'kill' });
    const intr = await callee.next();
    assert.deepEqual([intr[0], intr[1], intr[2].mode], [69, inv[1], 'kill'], 'INTERRUPT');
    callee.send([8, 68, inv[1], {}, 'com.example.stopped', ['by request']]);
    const { err } = await withTimeout(outcome, 5000, 'kill');
    assert.equal(err && err.error, 'com.example.stopped');
    assert.equal(caller.session.isOpen, true);
  } finally {
    callee.ws.close();
    caller.conn.close();
  }
});
