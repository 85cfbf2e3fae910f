// What the node tests that run real processes share: building the switchboard binary, starting and
// stopping processes, waiting for their ports, a TCP proxy whose connections a test can cut, and a
// publish over the HTTP bridge. Not a test file itself (node --test runs *.test.js).
'use strict';

const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const repo = path.resolve(__dirname, '..', '..');

// autobahn.js uses the global WebSocket. Node 20's (--experimental-websocket) fires `error` but never
// `close` when a connection is refused, so autobahn.js, which retries on `close` as browsers fire it,
// would wait for ever after one retry that lands while a restarting router is not listening. The tests
// that load this file reconnect across restarts and cuts: give them the `ws` package's WebSocket,
// which fires `close` after `error` as browsers do (its `error` is an event to listen to, or it throws).
const WS = require('ws');
globalThis.WebSocket = class BrowserLikeWebSocket extends WS {
  constructor(...args) {
    super(...args);
    this.on('error', () => {});
  }
};

// portOpen reports whether something accepts TCP connections on 127.0.0.1:port.
function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

// assertPortsFree fails the test when one of the fixed ports it binds is taken.
async function assertPortsFree(...ports) {
  for (const port of ports) assert.equal(await portOpen(port), false, `port ${port} is already in use`);
}

// withTimeout rejects with "timeout: what" unless p settles within ms.
function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error('timeout: ' + what)), ms); })])
    .finally(() => clearTimeout(t));
}

// buildSwitchboard builds ./cmd/switchboard into a new temporary directory and returns the binary's path.
function buildSwitchboard(tag) {
  const bin = path.join(fs.mkdtempSync(path.join(os.tmpdir(), `switchboard-${tag}-`)), 'switchboard');
  execFileSync('go', ['build', '-o', bin, './cmd/switchboard'], { cwd: repo, stdio: 'inherit' });
  return bin;
}

// startProcess runs cmd in the repository with env added to ours; the result keeps its output in log
// and resolves exit with { code, signal }.
function startProcess(name, cmd, args, env = {}) {
  const p = { name, log: '' };
  p.proc = spawn(cmd, args, { cwd: repo, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  p.proc.stdout.on('data', (d) => { p.log += d; });
  p.proc.stderr.on('data', (d) => { p.log += d; });
  p.exit = new Promise((resolve) => p.proc.once('close', (code, signal) => resolve({ code, signal })));
  return p;
}

// waitForPort waits until p listens on port, and fails with its log if it exits or does not listen in time.
async function waitForPort(p, port, ms = 30000) {
  const deadline = Date.now() + ms;
  while (!(await portOpen(port))) {
    if (p.proc.exitCode !== null) throw new Error(`${p.name} exited early:\n${p.log}`);
    if (Date.now() > deadline) throw new Error(`${p.name} did not listen on ${port}:\n${p.log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// startRouter runs the binary with the embedded default config, its WebSocket listener on port, and
// waits until it listens.
async function startRouter(bin, port, env = {}) {
  const r = startProcess('switchboard', bin, [], { SWITCHBOARD_LISTENERS_0_ADDRESS: `127.0.0.1:${port}`, ...env });
  await waitForPort(r, port);
  return r;
}

// stopProcess sends SIGTERM (unless p has exited) and returns its { code, signal }.
async function stopProcess(p) {
  if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGTERM');
  return withTimeout(p.exit, 15000, `${p.name} exit`);
}

// startProxy listens on listenPort and pipes each connection to targetPort; cutAll drops every
// connection it carries, as a network or a proxy would.
async function startProxy(listenPort, targetPort) {
  const pairs = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => { client.destroy(); upstream.destroy(); pairs.delete(pair); };
    client.on('error', drop); upstream.on('error', drop); client.on('close', drop); upstream.on('close', drop);
  });
  await new Promise((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
  return {
    cutAll() { for (const pair of pairs) { pair.client.destroy(); pair.upstream.destroy(); } },
    close() { server.close(); },
  };
}

// bridgePublish posts body to the HTTP bridge's /publish on port, asserts 200 and returns the answer.
async function bridgePublish(port, body) {
  const res = await fetch(`http://127.0.0.1:${port}/publish`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `bridge publish: ${res.status} ${text}`);
  return JSON.parse(text);
}

module.exports = {
  repo, portOpen, assertPortsFree, withTimeout, buildSwitchboard, startProcess, waitForPort, startRouter,
  stopProcess, startProxy, bridgePublish,
};
