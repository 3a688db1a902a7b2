#!/usr/bin/env node
// Drives Debian's Chromium (headless) with playwright-core for connect-app/tests/browser.rs.
// No browser is downloaded: the executable is CHROMIUM (default /usr/bin/chromium), with a
// fresh profile per run. Atlassian's all.js is answered with a network error, so nothing
// leaves the machine and the page is shown working without it.
//
// JSON Lines on stdin, one answer line per input line on stdout:
//   {"op": "open", "url": U}          -> {"ok": true, "state", "text", "greeting", "navigations"}
//   {"op": "click"}                   -> {"ok": true, "state", "text", "navigations"}
//       clicks the page's button and waits for the app's next answer (data-answers grows)
//   {"op": "screenshot", "path": P}   -> {"ok": true, "path"}
//   {"op": "close"}                   -> {"ok": true, "console", "failed"}   and exits
// Any failure answers {"ok": false, "error": "<message>"}.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { chromium } = require('playwright-core');

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let context = null;
let page = null;
let profile = null;
let navigations = 0;
const consoleLines = [];
const failed = [];

async function launch() {
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'connect-app-chromium-'));
  // launchPersistentContext passes the profile as --user-data-dir.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: FLAGS,
    viewport: { width: 900, height: 420 },
  });
  await context.route('https://connect-cdn.atl-paas.net/**', (route) => route.abort('internetdisconnected'));
  page = context.pages()[0] || (await context.newPage());
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) navigations += 1;
  });
  page.on('console', (message) => consoleLines.push(message.type() + ': ' + message.text()));
  page.on('requestfailed', (request) => failed.push(request.url()));
}

async function result() {
  return page.evaluate(() => {
    const line = document.getElementById('session-result');
    return {
      state: line.dataset.state,
      text: line.textContent,
      answers: Number(line.dataset.answers || '0'),
      greeting: document.getElementById('greeting').textContent,
    };
  });
}

const OPS = {
  async open(input) {
    if (!context) await launch();
    await page.goto(input.url, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#session-whoami');
    // panel.js is deferred: it has run once the button's handler is there (state set or
    // button usable); wait for the script to be loaded.
    await page.waitForFunction(() => document.readyState !== 'loading');
    const now = await result();
    return { state: now.state, text: now.text, greeting: now.greeting, navigations };
  },
  async click() {
    const before = (await result()).answers;
    await page.click('#session-whoami');
    await page.waitForFunction(
      (n) => Number(document.getElementById('session-result').dataset.answers || '0') > n,
      before,
      { timeout: 10000 },
    );
    const now = await result();
    return { state: now.state, text: now.text, navigations };
  },
  async screenshot(input) {
    fs.mkdirSync(path.dirname(input.path), { recursive: true });
    await page.screenshot({ path: input.path, fullPage: true });
    return { path: input.path };
  },
  async close() {
    if (context) await context.close();
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
    context = null;
    return { console: consoleLines, failed };
  },
};

async function run(line) {
  try {
    const input = JSON.parse(line);
    const op = Object.prototype.hasOwnProperty.call(OPS, input.op) ? OPS[input.op] : null;
    if (!op) return { ok: false, error: 'unknown op ' + JSON.stringify(input.op) };
    return Object.assign({ ok: true }, await op(input));
  } catch (err) {
    return { ok: false, error: String((err && err.message) || err) };
  }
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(async () => {
    const answer = await run(line);
    process.stdout.write(JSON.stringify(answer) + '\n');
    if (answer.ok && answer.console !== undefined) process.exit(0);
  });
});
lines.on('close', () => {
  queue.then(async () => {
    if (context) await context.close();
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
    process.exit(0);
  });
});
