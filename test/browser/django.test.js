// The live task board (examples/django-live) end to end: switchboard and the
// Django dev server as real processes on loopback, alice and bob in headless
// Chromium, changes made through Django appearing live.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const h = require('./harness');

const example = path.join(h.repo, 'examples', 'django-live');
const python = '/usr/bin/python3'; // Debian's, which sees python3-django
let router, django, browser, base;
let env, tmp, routerAddr;

// The pages reach the router through this TCP proxy, which the test can cut
// (as a network or a proxy would) and hold shut while events are published.
const proxy = { conns: new Set(), refusing: false };
async function startProxy() {
  proxy.server = net.createServer((client) => {
    if (proxy.refusing) { client.destroy(); return; }
    const [host, port] = routerAddr.split(':');
    const upstream = net.connect(Number(port), host);
    const pair = { client, upstream };
    proxy.conns.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => { client.destroy(); upstream.destroy(); proxy.conns.delete(pair); };
    client.on('error', drop); upstream.on('error', drop); client.on('close', drop); upstream.on('close', drop);
  });
  await new Promise((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
  return proxy.server.address().port;
}
function cutConnections() {
  for (const pair of proxy.conns) { pair.client.destroy(); pair.upstream.destroy(); }
}

function manage(...args) {
  return execFileSync(python, ['manage.py', ...args], { cwd: example, env, encoding: 'utf8', timeout: 60000 });
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'django-live-'));
  const djangoPort = await h.freePort();
  env = {
    ...process.env,
    DJANGO_DB: path.join(tmp, 'db.sqlite3'),
    DJANGO_BRIDGE_SECRET: 'e2e-bridge-secret-0123456789abcdef',
    DJANGO_HOOK_SECRET: 'e2e-hook-secret-0123456789abcdef',
  };
  // The example's own config, on free ports.
  const cfg = fs.readFileSync(path.join(example, 'switchboard.yaml'), 'utf8')
    .replaceAll('127.0.0.1:8080', '127.0.0.1:0')
    .replaceAll('127.0.0.1:8000', `127.0.0.1:${djangoPort}`);
  fs.writeFileSync(path.join(tmp, 'switchboard.yaml'), cfg);
  const sb = await h.startSwitchboard(['-c', path.join(tmp, 'switchboard.yaml')], env);
  router = sb.proc;
  routerAddr = sb.addr;
  env.SWITCHBOARD_HTTP = `http://${sb.addr}`;
  env.SWITCHBOARD_WS = `ws://127.0.0.1:${await startProxy()}/ws`;

  fs.copyFileSync(h.autobahnJS, path.join(example, 'board', 'static', 'board', 'autobahn.min.js'));
  manage('migrate', '--no-input');
  manage('seed');
  django = h.start(python, ['manage.py', 'runserver', `127.0.0.1:${djangoPort}`, '--noreload'], { cwd: example, env });
  base = `http://127.0.0.1:${djangoPort}`;
  await h.waitFor('django', () => h.portOpen(djangoPort), django, 60000);
  browser = await h.launchChromium();
});

after(async () => {
  if (proxy.server) proxy.server.close();
  if (browser) await browser.close();
  if (django) django.stop();
  if (router) router.stop();
});

async function signIn(user, serializer) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/accounts/login/`);
  await page.fill('#id_username', user);
  await page.fill('#id_password', `${user}-password`);
  await Promise.all([page.waitForNavigation(), page.click('#login')]);
  await page.goto(`${base}/?serializer=${serializer}`);
  await page.waitForFunction((u) => document.getElementById('state').textContent.startsWith(`connected as ${u}`), user, { timeout: 10000 });
  return page;
}

const listHas = (id, text) => (args) => [...document.querySelectorAll(`#${args.id} li`)].some((li) => li.textContent.includes(args.text));

test('changes made through Django appear live; per-user events stay private; RPC into Django', async () => {
  const alice = await signIn('alice', 'json');
  const bob = await signIn('bob', 'msgpack');
  assert.match(await alice.textContent('#state'), /\(json\)/);
  assert.match(await bob.textContent('#state'), /\(msgpack\)/);

  // A task saved through Django (manage.py shell, as another user) reaches both pages (a generous
  // functional bound: it includes starting manage.py shell; speed is measured by the benchmarks).
  manage('shell', '-c', "from board.models import Task; from django.contrib.auth.models import User; " +
    "Task.objects.create(title='water the plants', created_by=User.objects.get(username='bob'))");
  for (const page of [alice, bob]) {
    await page.waitForFunction(listHas(), { id: 'tasks', text: 'water the plants (bob)' }, { timeout: 30000 });
  }

  // A notification for alice appears on her page only; a later shared task
  // proves bob's page has received everything published before it.
  manage('shell', '-c', "from board.models import Notification; from django.contrib.auth.models import User; " +
    "Notification.objects.create(user=User.objects.get(username='alice'), text='your order shipped')");
  await alice.waitForFunction(listHas(), { id: 'notifications', text: 'your order shipped' }, { timeout: 5000 });
  manage('shell', '-c', "from board.models import Task; from django.contrib.auth.models import User; " +
    "Task.objects.create(title='marker', created_by=User.objects.get(username='alice'))");
  await bob.waitForFunction(listHas(), { id: 'tasks', text: 'marker (alice)' }, { timeout: 5000 });
  assert.equal(await bob.evaluate(() => document.querySelectorAll('#notifications li').length), 0,
    "bob's page received alice's notification");

  // The form on bob's page, then a browser-to-Django RPC through the HTTP callee.
  await bob.fill('input[name=title]', 'buy milk');
  await Promise.all([bob.waitForNavigation(), bob.click('form button')]);
  await alice.waitForFunction(listHas(), { id: 'tasks', text: 'buy milk (bob)' }, { timeout: 5000 });
  await alice.click('#count');
  await alice.waitForFunction(() => /^\d+ tasks \(\d+ yours\)$/.test(document.getElementById('count-result').textContent), null, { timeout: 5000 });
  assert.equal(await alice.textContent('#count-result'), '3 tasks (1 yours)');

  fs.mkdirSync(h.artifacts, { recursive: true });
  await alice.screenshot({ path: path.join(h.artifacts, 'django-live-alice.png'), fullPage: true });
});

function createTask(title, by) {
  manage('shell', '-c', "from board.models import Task; from django.contrib.auth.models import User; " +
    `Task.objects.create(title='${title}', created_by=User.objects.get(username='${by}'))`);
}

const taskTitles = () => [...document.querySelectorAll('#tasks li')].map((li) => li.textContent);

test('a dropped connection loses nothing: the tasks saved meanwhile appear once, in order, without a reload', async () => {
  const page = await signIn('bob', 'json');
  await page.evaluate(() => { window.notReloaded = true; });
  proxy.refusing = true; // the network is down until the tasks are saved
  cutConnections();
  await page.waitForFunction(() => document.getElementById('state').textContent.startsWith('disconnected'), null, { timeout: 10000 });
  for (const title of ['while away 1', 'while away 2', 'while away 3']) createTask(title, 'alice');
  proxy.refusing = false;
  await page.waitForFunction(() => document.getElementById('state').textContent.startsWith('connected as bob'), null, { timeout: 30000 });
  await page.waitForFunction(listHas(), { id: 'tasks', text: 'while away 3 (alice)' }, { timeout: 10000 });
  const titles = await page.evaluate(taskTitles);
  const away = titles.filter((t) => t.startsWith('while away'));
  assert.deepEqual(away, ['while away 3 (alice)', 'while away 2 (alice)', 'while away 1 (alice)'], 'each once, newest first');
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was reloaded');
  assert.equal(await page.evaluate(() => window.boardGaps), 0, 'the history filled the gap');
});

test('a router restart: the page reconnects by itself, onGap reloads its task list (not the page), and it is live again', async () => {
  const page = await signIn('alice', 'json');
  await page.evaluate(() => { window.notReloaded = true; });
  router.stop();
  await page.waitForFunction(() => document.getElementById('state').textContent.startsWith('disconnected'), null, { timeout: 10000 });
  // A task saved while the router is down reaches the database only; the page gets it from onGap's reload.
  createTask('while the router was down', 'bob');
  // Same address as before, so the proxy's upstream is right again.
  const cfg = fs.readFileSync(path.join(tmp, 'switchboard.yaml'), 'utf8').replace('127.0.0.1:0', routerAddr);
  fs.writeFileSync(path.join(tmp, 'switchboard-again.yaml'), cfg);
  await h.waitFor('old router gone', async () => !(await h.portOpen(Number(routerAddr.split(':')[1]))), null, 15000);
  router = (await h.startSwitchboard(['-c', path.join(tmp, 'switchboard-again.yaml')], env)).proc;
  await page.waitForFunction(() => document.getElementById('state').textContent.startsWith('connected as alice'), null, { timeout: 30000 });
  // The new router's history does not hold the page's last event: onGap reloaded the list.
  await page.waitForFunction(() => window.boardGaps >= 1, null, { timeout: 10000 });
  await page.waitForFunction(listHas(), { id: 'tasks', text: 'while the router was down (bob)' }, { timeout: 10000 });
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was reloaded');
  // And it is live again.
  createTask('after the restart', 'bob');
  await page.waitForFunction(listHas(), { id: 'tasks', text: 'after the restart (bob)' }, { timeout: 5000 });
});
