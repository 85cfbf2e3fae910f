// The browser quickstart page against `go run ./cmd/switchboard` (the
// embedded default config), as README says, in headless Chromium, with JSON
// and MessagePack; the HTTP bridge's curl example reaches the page.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

let router, server, browser, pageURL;

before(async () => {
  assert.equal(await h.portOpen(8080), false, 'port 8080 is in use: stop whatever listens there');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickstart-'));
  fs.copyFileSync(path.join(h.repo, 'examples', 'browser-quickstart', 'index.html'), path.join(dir, 'index.html'));
  fs.copyFileSync(h.autobahnJS, path.join(dir, 'autobahn.min.js'));
  server = await h.serveDir(dir);
  pageURL = `http://127.0.0.1:${server.address().port}/`;
  ({ proc: router } = await h.startSwitchboard([]));
  browser = await h.launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.close();
  if (router) router.stop();
});

for (const serializer of ['json', 'msgpack']) {
  test(`quickstart page with ${serializer}`, async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${pageURL}?serializer=${serializer}`);
      await page.waitForFunction(() => document.getElementById('sum').textContent === '5', null, { timeout: 10000 });
      assert.match(await page.textContent('#state'), new RegExp(`connected \\(${serializer}\\)`));
      await page.click('#publish');
      await page.waitForFunction(() => document.getElementById('event').textContent === 'hello from the page', null, { timeout: 5000 });
      // README's curl command, through the HTTP bridge (loopback, no keys).
      const r = await fetch('http://127.0.0.1:8080/publish', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ topic: 'com.example.news', args: ['hello from curl'] }),
      });
      assert.equal(r.status, 200);
      await page.waitForFunction(() => document.getElementById('event').textContent === 'hello from curl', null, { timeout: 5000 });
    } finally {
      await page.close();
    }
  });
}
