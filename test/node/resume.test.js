// A dropped connection loses nothing: plain autobahn.js (no helper) sees publications 1-5, its
// connection is cut (a TCP proxy between it and the router drops it), 5 more are published over the
// HTTP bridge, autobahn.js reconnects by itself and subscribes with _since = the last publication it saw,
// and receives exactly 6-10 in order, then live ones. With an unknown ID: switchboard.error.history_gap.
// The router is the real binary with the embedded default config (which keeps recent events per topic).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const autobahn = require('autobahn');
const { assertPortsFree, withTimeout, buildSwitchboard, startRouter, stopProcess, startProxy, bridgePublish: publish } = require('./harness');

const routerPort = 18195;
const proxyPort = 18196;
let router;
let proxy;

before(async () => {
  await assertPortsFree(routerPort, proxyPort);
  router = await startRouter(buildSwitchboard('resume'), routerPort);
  // A TCP proxy whose connections the test can drop, as a network or a proxy would.
  proxy = await startProxy(proxyPort, routerPort);
});

after(async () => {
  if (proxy) proxy.close();
  if (router) await stopProcess(router);
});

async function bridgePublish(topic, n) {
  return (await publish(routerPort, { topic, args: [n] })).id;
}

test('plain autobahn.js resumes with _since after its connection is cut: exactly 6-10, in order, then live', async () => {
  const topic = 'app.resume.feed';
  const seen = [];
  let lastPublication = null;
  let opens = 0;
  let onSubscribed;
  let subscribed = new Promise((resolve) => { onSubscribed = resolve; });
  // Default retry options; onopen subscribes, from where it left off once it has seen something.
  const conn = new autobahn.Connection({ url: `ws://127.0.0.1:${proxyPort}/ws`, realm: 'realm1', initial_retry_delay: 0.2 });
  conn.onopen = async (session) => {
    opens++;
    const options = lastPublication === null ? {} : { _since: lastPublication };
    await session.subscribe(topic, (args, kwargs, details) => {
      seen.push(args[0]);
      lastPublication = details.publication;
    }, options);
    onSubscribed();
  };
  conn.open();
  try {
    await withTimeout(subscribed, 5000, 'first subscribe');
    for (let n = 1; n <= 5; n++) await bridgePublish(topic, n);
    const until = Date.now() + 5000;
    while (seen.length < 5 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(seen, [1, 2, 3, 4, 5]);

    // The connection is cut; meanwhile 6-10 are published.
    subscribed = new Promise((resolve) => { onSubscribed = resolve; });
    proxy.cutAll();
    for (let n = 6; n <= 10; n++) await bridgePublish(topic, n);
    await withTimeout(subscribed, 10000, 'resubscribe after reconnecting');
    assert.equal(opens, 2);
    await bridgePublish(topic, 11);
    const until2 = Date.now() + 5000;
    while (seen.length < 11 && Date.now() < until2) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200)); // a duplicate would arrive meanwhile
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 'replayed 6-10 exactly once, in order, then live 11');

    // An ID the history does not hold: history_gap, so the page knows to reload.
    await assert.rejects(conn.session.subscribe(topic, () => {}, { _since: 42 }), (err) => {
      assert.equal(err.error, 'switchboard.error.history_gap');
      assert.equal(err.kwargs.topic, topic);
      return true;
    });
  } finally {
    conn.close();
  }
});
