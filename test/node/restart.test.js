// A router restart that clients survive: plain autobahn.js (default retry options, nothing in onclose)
// and wampy.js (default autoReconnect) reconnect by themselves after switchboard gets SIGTERM and is
// started again on the same port, because the default shutdown_mode closes connections without a GOODBYE.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const autobahn = require('autobahn');
const { Wampy } = require('wampy');
const WebSocket = require('ws');

const repo = path.resolve(__dirname, '..', '..');
const port = 18190;
const url = `ws://127.0.0.1:${port}/ws`;
let bin;
let router;

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

// startRouter runs the binary with the embedded default config on our port.
async function startRouter() {
  const r = { log: '' };
  r.proc = spawn(bin, [], { cwd: repo, env: { ...process.env, SWITCHBOARD_LISTENERS_0_ADDRESS: `127.0.0.1:${port}` }, stdio: ['ignore', 'pipe', 'pipe'] });
  r.proc.stdout.on('data', (d) => { r.log += d; });
  r.proc.stderr.on('data', (d) => { r.log += d; });
  r.exit = new Promise((resolve) => r.proc.once('close', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 30000;
  while (!(await portOpen(port))) {
    if (r.proc.exitCode !== null) throw new Error('switchboard exited early:\n' + r.log);
    if (Date.now() > deadline) throw new Error(`switchboard did not listen on ${port}:\n` + r.log);
    await new Promise((res) => setTimeout(res, 50));
  }
  return r;
}

async function stopRouter(r) {
  r.proc.kill('SIGTERM');
  const { code } = await withTimeout(r.exit, 15000, 'switchboard exit');
  assert.equal(code, 0, 'switchboard exit code after SIGTERM:\n' + r.log);
}

before(async () => {
  assert.equal(await portOpen(port), false, `port ${port} is already in use`);
  bin = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-restart-')), 'switchboard');
  execFileSync('go', ['build', '-o', bin, './cmd/switchboard'], { cwd: repo, stdio: 'inherit' });
  router = await startRouter();
});

after(async () => {
  if (router && router.proc.exitCode === null) await stopRouter(router);
});

test('plain autobahn.js and wampy.js reconnect by themselves after a router restart', async () => {
  // autobahn.js with its default retry options and no code in onclose.
  let abOpens = 0;
  let abReopened;
  const abAgain = new Promise((resolve) => { abReopened = resolve; });
  const conn = new autobahn.Connection({ url, realm: 'realm1' });
  const abFirst = new Promise((resolve) => {
    conn.onopen = () => { abOpens++; if (abOpens === 1) resolve(); else abReopened(); };
  });
  conn.open();
  await withTimeout(abFirst, 5000, 'autobahn.js first open');

  // wampy.js with its default autoReconnect.
  let wampyReconnected;
  const wampyAgain = new Promise((resolve) => { wampyReconnected = resolve; });
  const w = new Wampy(url, { realm: 'realm1', ws: WebSocket, onReconnectSuccess: () => wampyReconnected() });
  await withTimeout(w.connect(), 5000, 'wampy.js first connect');

  try {
    await stopRouter(router);
    const restartedAt = Date.now();
    router = await startRouter();
    await withTimeout(abAgain, 10000, 'autobahn.js onopen after the restart');
    await withTimeout(wampyAgain, 10000, 'wampy.js reconnect after the restart');
    assert.ok(Date.now() - restartedAt < 10000);
    assert.equal(abOpens, 2);
    // The new sessions work: wampy.js publishes, autobahn.js receives, through the restarted router.
    let gotEvent;
    const event = new Promise((resolve) => { gotEvent = resolve; });
    await conn.session.subscribe('app.restart.check', (args) => gotEvent(args[0]));
    await w.publish('app.restart.check', ['after-restart']);
    assert.equal(await withTimeout(event, 5000, 'event after the restart'), 'after-restart');
  } finally {
    conn.close();
    await w.disconnect().catch(() => {});
  }
});
