// Three switchboard processes as one cluster, end to end with real processes: a NATS server binary
// (make deps installs it), three `switchboard` binaries started with the embedded default config plus
// environment overrides (SWITCHBOARD_LISTENERS_0_ADDRESS, SWITCHBOARD_CLUSTER_NATS_URL), and
// autobahn.js subscribing on one node while events are published on the others over WAMP and over the
// HTTP bridge, and calling a callee of another node over WAMP and over the bridge's /call.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const autobahn = require('autobahn');
const { assertPortsFree, buildSwitchboard, startProcess, waitForPort, stopProcess, bridgePublish } = require('./harness');

const natsPort = 14222;
const nodePorts = [18181, 18182, 18183];
const procs = [];

function start(name, cmd, args, env) {
  const p = startProcess(name, cmd, args, env);
  procs.push(p);
  return p;
}

before(async () => {
  await assertPortsFree(natsPort, ...nodePorts);
  const gobin = execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8' }).trim() + '/bin';
  const natsServer = path.join(gobin, 'nats-server');
  assert.ok(fs.existsSync(natsServer), `${natsServer} is missing: run make deps`);
  const bin = buildSwitchboard('cluster');

  const nats = start('nats-server', natsServer, ['-a', '127.0.0.1', '-p', String(natsPort)], {});
  await waitForPort(nats, natsPort, 60000);
  nodePorts.forEach((port, i) => start(`switchboard-${i + 1}`, bin, [], {
    SWITCHBOARD_LISTENERS_0_ADDRESS: `127.0.0.1:${port}`,
    SWITCHBOARD_CLUSTER_NATS_URL: `nats://127.0.0.1:${natsPort}`,
    SWITCHBOARD_CLUSTER_NODE: `node-${i + 1}`,
  }));
  for (const [i, port] of nodePorts.entries()) await waitForPort(procs[i + 1], port, 60000);
});

after(async () => {
  for (const p of procs.slice().reverse()) await stopProcess(p);
  for (const p of procs.slice(1)) {
    assert.match(p.log, /msg="shutdown complete"/, `${p.name} log:\n${p.log}`);
  }
});

function connect(port) {
  return new Promise((resolve, reject) => {
    const conn = new autobahn.Connection({ url: `ws://127.0.0.1:${port}/ws`, realm: 'realm1', max_retries: 0 });
    conn.onopen = (session) => resolve({ conn, session });
    conn.onclose = (reason, details) => { reject(new Error(`connection closed: ${reason} ${JSON.stringify(details)}`)); return true; };
    conn.open();
  });
}

test('an autobahn.js subscriber on node 1 gets events published on nodes 2 (WAMP) and 3 (HTTP bridge) exactly once, in order', async () => {
  const sub = await connect(nodePorts[0]);
  const pub = await connect(nodePorts[1]);
  try {
    const exact = [];
    const prefix = [];
    await sub.session.subscribe('app.cluster.news', (args) => exact.push(args[0]));
    await sub.session.subscribe('app.cluster.user.', (args, kw, details) => prefix.push([args[0], details.topic]), { match: 'prefix' });

    // Interest reaches the other nodes through NATS in a moment: probe until it has.
    const deadline = Date.now() + 10000;
    while (!exact.includes('probe') || !prefix.some(([a]) => a === 'probe')) {
      assert.ok(Date.now() < deadline, 'no probe crossed the cluster');
      await pub.session.publish('app.cluster.news', ['probe'], {}, { acknowledge: true });
      await pub.session.publish('app.cluster.user.probe', ['probe'], {}, { acknowledge: true });
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 200));
    exact.length = 0;
    prefix.length = 0;

    for (let i = 1; i <= 50; i++) {
      await pub.session.publish('app.cluster.news', [i], {}, { acknowledge: true });
    }
    await bridgePublish(nodePorts[2], { topic: 'app.cluster.news', args: ['from-bridge'] });
    await pub.session.publish('app.cluster.user.42.feed', ['to-42'], {}, { acknowledge: true });
    await bridgePublish(nodePorts[2], { topic: 'app.cluster.user.7', args: ['to-7'] });

    const want = [...Array.from({ length: 50 }, (_, i) => i + 1), 'from-bridge'];
    const until = Date.now() + 10000;
    while ((exact.length < want.length || prefix.length < 2) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 300)); // a duplicate would arrive meanwhile
    assert.deepEqual(exact, want, 'events of node 2 in order, then the bridge event of node 3, each once');
    assert.deepEqual(prefix, [['to-42', 'app.cluster.user.42.feed'], ['to-7', 'app.cluster.user.7']]);
  } finally {
    sub.conn.close();
    pub.conn.close();
  }
});

test('every node is ready: /readyz checks its NATS round trip', async () => {
  for (const port of nodePorts) {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(res.status, 200, `node on ${port}: ${await res.text()}`);
  }
});

test('an autobahn.js caller on node 1 and an HTTP /call on node 2 reach an autobahn.js callee on node 3', async () => {
  const callee = await connect(nodePorts[2]);
  const caller = await connect(nodePorts[0]);
  try {
    await callee.session.register('app.cluster.add', (args) => args[0] + args[1]);
    await callee.session.register('app.cluster.fail', () => {
      throw new autobahn.Error('app.error.cluster_refused', ['no']);
    });
    // The registration reaches the other nodes through NATS in a moment: call until it has.
    const deadline = Date.now() + 10000;
    let sum;
    for (;;) {
      try {
        sum = await caller.session.call('app.cluster.add', [40, 2]);
        break;
      } catch (err) {
        assert.equal(err.error, 'wamp.error.no_such_procedure', `call across nodes: ${JSON.stringify(err)}`);
        assert.ok(Date.now() < deadline, 'the registration on node 3 did not reach node 1');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.equal(sum, 42);
    await assert.rejects(caller.session.call('app.cluster.fail', []),
      (err) => err.error === 'app.error.cluster_refused' && err.args[0] === 'no');

    // The HTTP bridge on node 2: the same registration, once node 2 knows it.
    const until = Date.now() + 10000;
    for (;;) {
      const res = await fetch(`http://127.0.0.1:${nodePorts[1]}/call`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ procedure: 'app.cluster.add', args: [1, 2] }),
      });
      const body = JSON.parse(await res.text());
      if (res.status === 200) {
        assert.deepEqual(body, { args: [3] });
        break;
      }
      assert.equal(body.error, 'wamp.error.no_such_procedure', `bridge call across nodes: ${res.status} ${JSON.stringify(body)}`);
      assert.ok(Date.now() < until, 'the registration on node 3 did not reach node 2');
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    callee.conn.close();
    caller.conn.close();
  }
});
