// Shared helpers for the browser tests: free ports, processes that are
// stopped when the tests end, Chromium from Debian, a static file server.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { chromium } = require('playwright-core');

const repo = path.resolve(__dirname, '..', '..');
const artifacts = path.join(repo, 'artifacts');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

// start runs a command in its own process group; stop() ends the group.
function start(cmd, args, opts = {}) {
  const p = spawn(cmd, args, { cwd: repo, detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  p.log = '';
  p.stdout.on('data', (d) => { p.log += d; });
  p.stderr.on('data', (d) => { p.log += d; });
  p.stop = () => { if (p.exitCode === null) { try { process.kill(-p.pid, 'SIGTERM'); } catch (_) { /* gone */ } } };
  return p;
}

async function waitFor(what, check, proc, timeoutMs = 180000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (proc && proc.exitCode !== null) throw new Error(`${what}: process exited:\n${proc.log}`);
    if (Date.now() > deadline) throw new Error(`${what}: timed out${proc ? ':\n' + proc.log : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// startSwitchboard runs `go run ./cmd/switchboard` with args and returns
// the address it listens on (read from its log).
async function startSwitchboard(args, env) {
  const p = start('go', ['run', './cmd/switchboard', ...args], { env: { ...process.env, ...env } });
  const addr = await waitFor('switchboard', () => {
    const m = p.log.match(/msg=listening address=(127\.0\.0\.1:\d+)/);
    return m && m[1];
  }, p);
  return { proc: p, addr };
}

function launchChromium() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// serveDir serves a directory over HTTP on 127.0.0.1.
async function serveDir(dir) {
  const types = { '.html': 'text/html', '.js': 'application/javascript' };
  const server = http.createServer((req, res) => {
    const file = path.join(dir, path.normalize(decodeURIComponent(req.url.split('?')[0])).replace(/^(\.\.[/\\])+/, ''));
    const target = fs.existsSync(file) && fs.statSync(file).isDirectory() ? path.join(file, 'index.html') : file;
    fs.readFile(target, (err, data) => {
      if (err) { res.writeHead(404); res.end(); return; }
      res.writeHead(200, { 'Content-Type': types[path.extname(target)] || 'application/octet-stream' });
      res.end(data);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

const autobahnJS = path.join(__dirname, 'node_modules', 'autobahn-browser', 'autobahn.min.js');

module.exports = { repo, artifacts, freePort, portOpen, start, waitFor, startSwitchboard, launchChromium, serveDir, autobahnJS };
