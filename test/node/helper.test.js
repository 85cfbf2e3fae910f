// clients/js/switchboard.js (the browser helper) with npm autobahn in node, against the real binary:
// events published while its connection was cut all arrive once, in order; after a router restart
// (the in-memory history is gone) onGap runs and live events go on; after a router GOODBYE (which makes
// autobahn.js give up) it reconnects anyway; the state it reports follows.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const autobahn = require('autobahn');

const repo = path.resolve(__dirname, '..', '..');
const routerPort = 18197;
const proxyPort = 18198;
let bin;
let router;
let proxy;
const proxied = new Set();

function portOpen(p) {
  return new Promise((resolve) => {
    const s = net.connect(p, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error('timeout: ' + what)), ms); })])
    .finally(() => clearTimeout(t));
}

async function until(cond, ms, what) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timeout: ' + what);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function startRouter(env = {}) {
  const r = { log: '' };
  r.proc = spawn(bin, [], { cwd: repo, env: { ...process.env, SWITCHBOARD_LISTENERS_0_ADDRESS: `127.0.0.1:${routerPort}`, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  r.proc.stdout.on('data', (d) => { r.log += d; });
  r.proc.stderr.on('data', (d) => { r.log += d; });
  r.exit = new Promise((resolve) => r.proc.once('close', resolve));
  const deadline = Date.now() + 30000;
  while (!(await portOpen(routerPort))) {
    if (r.proc.exitCode !== null) throw new Error('switchboard exited early:\n' + r.log);
    if (Date.now() > deadline) throw new Error('switchboard did not listen:\n' + r.log);
    await new Promise((res) => setTimeout(res, 50));
  }
  return r;
}

async function stopRouter(r) {
  r.proc.kill('SIGTERM');
  await withTimeout(r.exit, 15000, 'switchboard exit');
}

before(async () => {
  for (const p of [routerPort, proxyPort]) assert.equal(await portOpen(p), false, `port ${p} is already in use`);
  bin = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-helper-')), 'switchboard');
  execFileSync('go', ['build', '-o', bin, './cmd/switchboard'], { cwd: repo, stdio: 'inherit' });
  router = await startRouter();
  proxy = net.createServer((client) => {
    const upstream = net.connect(routerPort, '127.0.0.1');
    const pair = { client, upstream };
    proxied.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => { client.destroy(); upstream.destroy(); proxied.delete(pair); };
    client.on('error', drop); upstream.on('error', drop); client.on('close', drop); upstream.on('close', drop);
  });
  await new Promise((resolve) => proxy.listen(proxyPort, '127.0.0.1', resolve));
});

after(async () => {
  proxy.close();
  if (router && router.proc.exitCode === null) await stopRouter(router);
});

async function bridgePublish(topic, n) {
  const res = await fetch(`http://127.0.0.1:${routerPort}/publish`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ topic, args: [n] }),
  });
  const body = await res.text();
  assert.equal(res.status, 200, `bridge publish: ${body}`);
  return JSON.parse(body).id;
}

test('the helper keeps a subscription live and complete across a cut, a restart and a GOODBYE', async () => {
  const { connect } = await import('../../clients/js/switchboard.js');
  const states = [];
  const gaps = [];
  const seen = [];
  const topic = 'app.helper.feed';
  const sb = connect({
    autobahn, url: `ws://127.0.0.1:${proxyPort}/ws`, realm: 'realm1',
    connectionOptions: { initial_retry_delay: 0.2, max_retry_delay: 1 },
    retry: { initial: 0.2, max: 1 },
    onState: (s) => states.push(s), onGap: (t) => gaps.push(t),
  });
  try {
    // The page was rendered at a position: it subscribes from there.
    const rendered = await bridgePublish(topic, 0);
    await bridgePublish(topic, 1);
    sb.subscribe(topic, (args) => seen.push(args[0]), { since: rendered });
    await until(() => seen.length === 1, 5000, 'the event after the rendered position');
    assert.deepEqual(seen, [1]);
    for (let n = 2; n <= 3; n++) await bridgePublish(topic, n);
    await until(() => seen.length === 3, 5000, 'live events');

    // Cut: 4-6 are published meanwhile, and all arrive once, in order.
    for (const pair of proxied) { pair.client.destroy(); pair.upstream.destroy(); }
    for (let n = 4; n <= 6; n++) await bridgePublish(topic, n);
    await until(() => seen.length === 6, 10000, 'the events published during the cut');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(gaps, []);
    assert.ok(states.includes('reconnecting') && states.at(-1) === 'open', `states ${states}`);

    // A restart: the router's in-memory history is gone, so onGap runs; live events go on.
    await stopRouter(router);
    router = await startRouter({ SWITCHBOARD_SHUTDOWN_MODE: 'goodbye' });
    await until(() => gaps.length === 1, 15000, 'onGap after the restart');
    assert.deepEqual(gaps, [topic]);
    await until(() => sb.state === 'open', 5000, 'open again');
    await new Promise((r) => setTimeout(r, 100));
    await bridgePublish(topic, 7);
    await until(() => seen.length === 7, 5000, 'a live event after the restart');

    // A GOODBYE (shutdown_mode goodbye): autobahn.js gives up, the helper does not.
    await stopRouter(router);
    router = await startRouter();
    await until(() => sb.state === 'open' && gaps.length === 2, 20000, 'reconnected after a GOODBYE');
    await new Promise((r) => setTimeout(r, 100));
    await bridgePublish(topic, 8);
    await until(() => seen.length === 8, 5000, 'a live event after the GOODBYE');
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8]);
  } finally {
    sb.close();
  }
});
