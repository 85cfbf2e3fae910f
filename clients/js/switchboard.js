// switchboard.js: a small helper for pages (and node) that keeps subscriptions to a switchboard
// router live across dropped connections and router restarts, and resumes them where they left off.
// One ES module, no build step: give it the autobahn.js module (the `autobahn` global of
// autobahn-browser in a page, `require('autobahn')` in node).
//
//   import { connect } from "/static/switchboard.js";
//   const sb = connect({ autobahn, url: "wss://example.com/ws", realm: "app",
//     onState: (state) => badge.textContent = state,          // connecting | open | reconnecting | closed
//     onGap: (topic) => reloadData(topic) });                  // events were lost: reload, live goes on
//   sb.subscribe("app.board.tasks", (args, kwargs, details) => render(args[0]), { since: renderedPosition });
//
// - Reconnects always: autobahn.js retries a lost connection, but gives up after a router GOODBYE; the
//   helper then opens it again itself, with backoff and jitter.
// - Resubscribes each subscription on every (re)connection with the SUBSCRIBE option `_since` = the last
//   publication it delivered (or the position the page was rendered at), so the router replays what was
//   published meanwhile; events already delivered are dropped if they come again.
// - When the router's history no longer reaches back (switchboard.error.history_gap: evicted, or the
//   router restarted), it calls onGap(topic) and subscribes afresh.

const defaultRetry = { initial: 1, max: 30, growth: 1.5, jitter: 0.3 }; // seconds

export function connect(options) {
  const { autobahn, url, realm, onState, onGap, onOpen, connectionOptions } = options;
  if (!autobahn || !url || !realm) throw new Error("switchboard.js: autobahn, url and realm are required");
  const retry = { ...defaultRetry, ...(options.retry || {}) };
  const subs = new Map(); // key -> { topic, handler, options, last, seen, live }
  let nextKey = 1;
  let session = null;
  let state = "connecting";
  let closing = false;
  let attempts = 0;
  let timer = null;

  function setState(s) {
    if (state === s) return;
    state = s;
    if (onState) onState(s);
  }

  const connection = new autobahn.Connection({
    url, realm, ...(connectionOptions || {}),
    // The helper decides about retries once autobahn.js stops.
    max_retries: (connectionOptions && connectionOptions.max_retries) ?? 15,
  });

  connection.onopen = (s, details) => {
    session = s;
    attempts = 0;
    setState("open");
    for (const sub of subs.values()) subscribeNow(sub);
    if (onOpen) onOpen(s, details);
  };

  connection.onclose = (reason, details) => {
    session = null;
    for (const sub of subs.values()) sub.live = null;
    if (closing) {
      setState("closed");
      return true;
    }
    if (details && details.will_retry) {
      setState("reconnecting");
      return false; // autobahn.js retries
    }
    // autobahn.js gave up (a GOODBYE, or its retries ran out): start over with backoff and jitter.
    setState("reconnecting");
    const delay = Math.min(retry.max, retry.initial * Math.pow(retry.growth, attempts++));
    const jittered = delay * (1 - retry.jitter + 2 * retry.jitter * Math.random());
    timer = setTimeout(() => { timer = null; if (!closing) connection.open(); }, jittered * 1000);
    return true;
  };

  function deliver(sub, args, kwargs, details) {
    const id = details && details.publication;
    if (id !== undefined && id !== null) {
      if (sub.seen.has(id)) return; // delivered already (a replay overlapping what we had)
      sub.seen.add(id);
      if (sub.seen.size > 1000) sub.seen.delete(sub.seen.values().next().value);
      sub.last = id;
    }
    sub.handler(args, kwargs, details);
  }

  function subscribeNow(sub) {
    if (!session) return;
    const s = session;
    const opts = { ...(sub.options || {}) };
    if (sub.last !== null && sub.last !== undefined) opts._since = sub.last;
    const handler = (args, kwargs, details) => deliver(sub, args, kwargs, details);
    s.subscribe(sub.topic, handler, opts).then(
      (live) => { if (session === s && subs.has(sub.key)) sub.live = live; else live.unsubscribe().catch(() => {}); },
      (err) => {
        if (err && err.error === "switchboard.error.history_gap") {
          sub.last = null; // start afresh: the app reloads its data
          if (onGap) onGap(sub.topic);
          if (session === s) subscribeNow(sub);
          return;
        }
        if (sub.onError) sub.onError(err);
      });
  }

  connection.open();

  return {
    // subscribe keeps handler subscribed to topic across reconnections. options are SUBSCRIBE options,
    // plus `since`: the publication the page's data was rendered at (from the bridge's /position).
    subscribe(topic, handler, subOptions = {}) {
      const { since, onError, ...rest } = subOptions;
      const sub = { key: nextKey++, topic, handler, options: rest, last: since ?? null, seen: new Set(), live: null, onError };
      subs.set(sub.key, sub);
      subscribeNow(sub);
      return {
        unsubscribe() {
          subs.delete(sub.key);
          if (sub.live) return sub.live.unsubscribe();
          return Promise.resolve();
        },
        get lastPublication() { return sub.last; },
      };
    },
    // session is the current autobahn.js session (null while disconnected), for calls and publishes.
    get session() { return session; },
    get state() { return state; },
    close() {
      closing = true;
      if (timer) clearTimeout(timer);
      try { connection.close(); } catch (e) { setState("closed"); }
    },
  };
}
