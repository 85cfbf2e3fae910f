// autobahn.js (node) against a router with ticket and JWT authentication
// and per-user permission templates.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const autobahn = require('autobahn');

const repo = path.resolve(__dirname, '..', '..');
const jwtSecret = 'node-test-jwt-secret-0123456789abcdef';
let router;
let log = '';
let url;

before(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-auth-'));
  const cfg = path.join(dir, 'config.yaml');
  fs.writeFileSync(cfg, `
log: { level: info }
listeners:
  - address: "127.0.0.1:0"
    websocket: {}
realms:
  - name: app
    auth:
      ticket:
        principals:
          Alice: { ticket: "alice-ticket-0123", role: user }
      jwt:
        secret: "${jwtSecret}"
        audience: switchboard
    roles:
      - name: user
        permissions:
          - { uri: "app.user.{authid}.", match: prefix, allow: { subscribe: true, publish: true } }
`);
  router = spawn('go', ['run', './cmd/switchboard', '-c', cfg], { cwd: repo, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  router.stdout.on('data', (d) => { log += d; });
  router.stderr.on('data', (d) => { log += d; });
  const deadline = Date.now() + 180000;
  while (!url) {
    const m = log.match(/msg=listening address=(127\.0\.0\.1:\d+)/);
    if (m) url = `ws://${m[1]}/ws`;
    else if (router.exitCode !== null) throw new Error('switchboard exited:\n' + log);
    else if (Date.now() > deadline) throw new Error('switchboard did not start:\n' + log);
    else await new Promise((r) => setTimeout(r, 100));
  }
});

after(() => {
  if (router && router.exitCode === null) process.kill(-router.pid, 'SIGTERM');
});

// join resolves with the session, or with the close reason if refused.
function join(options) {
  return new Promise((resolve) => {
    const conn = new autobahn.Connection({ url, realm: 'app', max_retries: 0, ...options });
    conn.onopen = (session) => resolve({ conn, session });
    conn.onclose = (reason, details) => { resolve({ refused: details.reason || reason }); return true; };
    conn.open();
  });
}

function jwt(claims, secret = jwtSecret) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${unsigned}.${crypto.createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

test('ticket: the right ticket joins, a wrong one is refused', async () => {
  const ok = await join({ authid: 'Alice', authmethods: ['ticket'], onchallenge: () => 'alice-ticket-0123' });
  assert.ok(ok.session, `refused: ${ok.refused}`);
  assert.equal(ok.session.id > 0, true);
  ok.conn.close();
  const bad = await join({ authid: 'Alice', authmethods: ['ticket'], onchallenge: () => 'wrong' });
  assert.equal(bad.refused, 'wamp.error.authentication_failed');
  const anon = await join({});
  assert.ok(anon.refused, 'anonymous join allowed on a realm without anonymous auth');
});

test('JWT: valid, expired, forged and wrong-audience tokens', async () => {
  const exp = Math.floor(Date.now() / 1000) + 60;
  const ok = await join({ authmethods: ['ticket'], onchallenge: () => jwt({ sub: 'carol', role: 'user', aud: 'switchboard', exp }) });
  assert.ok(ok.session, `refused: ${ok.refused}`);
  ok.conn.close();
  for (const [name, token] of Object.entries({
    expired: jwt({ sub: 'carol', role: 'user', aud: 'switchboard', exp: exp - 3600 }),
    forged: jwt({ sub: 'carol', role: 'user', aud: 'switchboard', exp }, 'some-other-secret-0123456789abcdefgh'),
    'wrong audience': jwt({ sub: 'carol', role: 'user', aud: 'elsewhere', exp }),
  })) {
    const r = await join({ authmethods: ['ticket'], onchallenge: () => token });
    assert.equal(r.refused, 'wamp.error.authentication_failed', name);
  }
});

test('templates: alice subscribes to her topics, not to bob\'s', async () => {
  const exp = Math.floor(Date.now() / 1000) + 60;
  const alice = await join({ authmethods: ['ticket'], onchallenge: () => jwt({ sub: 'alice', role: 'user', aud: 'switchboard', exp }) });
  assert.ok(alice.session, `refused: ${alice.refused}`);
  try {
    let gotEvent;
    const got = new Promise((resolve) => { gotEvent = resolve; });
    await alice.session.subscribe('app.user.alice.news', (args) => gotEvent(args[0]));
    await alice.session.publish('app.user.alice.news', ['mine'], {}, { acknowledge: true, exclude_me: false });
    assert.equal(await got, 'mine');
    await assert.rejects(alice.session.subscribe('app.user.bob.news', () => {}),
      (err) => err.error === 'wamp.error.not_authorized');
  } finally {
    alice.conn.close();
  }
});
