// A router restart that clients survive: plain autobahn.js (default retry options, nothing in onclose)
// and wampy.js (default autoReconnect) reconnect by themselves after switchboard gets SIGTERM and is
// started again on the same port, because the default shutdown_mode closes connections without a GOODBYE.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const autobahn = require('autobahn');
const { Wampy } = require('wampy');
const WebSocket = require('ws');
const harness = require('./harness');
const { withTimeout } = harness;

const port = 18190;
const url = `ws://127.0.0.1:${port}/ws`;
let bin;
let router;

// startRouter runs the binary with the embedded default config on our port.
const startRouter = () => harness.startRouter(bin, port);

async function stopRouter(r) {
  const { code } = await harness.stopProcess(r);
  assert.equal(code, 0, 'switchboard exit code after SIGTERM:\n' + r.log);
}

before(async () => {
  await harness.assertPortsFree(port);
  bin = harness.buildSwitchboard('restart');
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
    // Down for 2.5 s, longer than autobahn.js's first retry delay (1.5 s +-10%): a retry is refused
    // before the router is back, as when a deploy takes a moment.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    router = await startRouter();
    const restartedAt = Date.now();
    // Their own backoff decides when (autobahn.js: 1.5 s growing by 1.5x, jittered), and a loaded
    // machine starts the router late: the bound is generous, and how long it took is logged, not
    // asserted (speed is for benchmarks).
    await withTimeout(abAgain, 30000, 'autobahn.js onopen after the restart');
    await withTimeout(wampyAgain, 30000, 'wampy.js reconnect after the restart');
    console.log(`both reconnected ${Date.now() - restartedAt} ms after the router was back`);
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
