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
const h = require('./harness');

const example = path.join(h.repo, 'examples', 'django-live');
const python = '/usr/bin/python3'; // Debian's, which sees python3-django
let router, django, browser, base;
let env, tmp, routerAddr;

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
  env.SWITCHBOARD_WS = `ws://${sb.addr}/ws`;

  fs.copyFileSync(h.autobahnJS, path.join(example, 'board', 'static', 'board', 'autobahn.min.js'));
  manage('migrate', '--no-input');
  manage('seed');
  django = h.start(python, ['manage.py', 'runserver', `127.0.0.1:${djangoPort}`, '--noreload'], { cwd: example, env });
  base = `http://127.0.0.1:${djangoPort}`;
  await h.waitFor('django', () => h.portOpen(djangoPort), django, 60000);
  browser = await h.launchChromium();
});

after(async () => {
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

test('the page shows the outage and reconnects when the router is back', async () => {
  const page = await signIn('alice', 'json');
  router.stop();
  await page.waitForFunction(() => document.getElementById('state').textContent.startsWith('disconnected'), null, { timeout: 10000 });
  // Same address as before, so the page's URL is right again.
  const cfg = fs.readFileSync(path.join(tmp, 'switchboard.yaml'), 'utf8').replace('127.0.0.1:0', routerAddr);
  fs.writeFileSync(path.join(tmp, 'switchboard-again.yaml'), cfg);
  await h.waitFor('old router gone', async () => !(await h.portOpen(Number(routerAddr.split(':')[1]))), null, 15000);
  router = (await h.startSwitchboard(['-c', path.join(tmp, 'switchboard-again.yaml')], env)).proc;
  await page.waitForFunction(() => document.getElementById('state').textContent.startsWith('connected as alice'), null, { timeout: 30000 });
  // And it is live again.
  manage('shell', '-c', "from board.models import Task; from django.contrib.auth.models import User; " +
    "Task.objects.create(title='after the restart', created_by=User.objects.get(username='bob'))");
  await page.waitForFunction(listHas(), { id: 'tasks', text: 'after the restart (bob)' }, { timeout: 5000 });
});
