// clients/js/switchboard.js (the browser helper) with npm autobahn in node, against the real binary:
// events published while its connection was cut all arrive once, in order; after a router restart
// (the in-memory history is gone) onGap runs and live events go on; after a router GOODBYE (which makes
// autobahn.js give up) it reconnects anyway; the state it reports follows.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const autobahn = require('autobahn');
const harness = require('./harness');

const routerPort = 18197;
const proxyPort = 18198;
let bin;
let router;
let proxy;

async function until(cond, ms, what) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timeout: ' + what);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const startRouter = (env = {}) => harness.startRouter(bin, routerPort, env);
const stopRouter = (r) => harness.stopProcess(r);

before(async () => {
  await harness.assertPortsFree(routerPort, proxyPort);
  bin = harness.buildSwitchboard('helper');
  router = await startRouter();
  proxy = await harness.startProxy(proxyPort, routerPort);
});

after(async () => {
  if (proxy) proxy.close();
  if (router) await stopRouter(router);
});

async function bridgePublish(topic, n) {
  return (await harness.bridgePublish(routerPort, { topic, args: [n] })).id;
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
    proxy.cutAll();
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
