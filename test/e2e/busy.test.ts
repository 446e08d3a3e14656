/**
 * What a page shows when the server is too busy to answer something once (a handler cut off at its
 * time limit). Who is online, when the kernel's presence notice does not get through the first
 * time. On a loaded machine the watchdog counts wall time, so even the trivial presence handler can be
 * cut off at its limit (E_HANDLER_TIMEOUT); that notice was dropped for good, and every page kept
 * showing the person as online (or never showed them) until it was reloaded. Here the booted release's
 * presence handler runs out its time once, on the first notice of each kind. And the page's own
 * question, `online`, asked when it connects: refused so (or set aside, or the queue full), it was
 * never asked again, and the page showed nobody who had come before it. And the first page of posts:
 * refused so, the page said "No posts yet" over a feed with posts, until it was reloaded.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.ts';
import { HAVE_CHROMIUM, launch, watch } from '../support/browser.ts';
import { abs } from '../support/releases.ts';
import { TestClient } from '../support/client.ts';
import { join, post } from './pages.ts';

const T = 60_000;

/**
 * Feed v1, except that its handler loops the first time it meets a command whose `key` (an expression
 * over the command `c`) is not null and new.
 */
function loopsOnce(key: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'molt-presence-'));
  const v1 = abs('src/feed/v1/index.ts');
  writeFileSync(
    path.join(dir, 'index.ts'),
    `import { handle as served } from ${v1};\nexport * from ${v1};\n` +
      `const slowed: unknown[] = [];\n` +
      `export const handle: typeof served = (s, c, ctx) => {\n` +
      `  const key = ${key};\n` +
      `  if (key !== null && !slowed.includes(key)) { slowed.push(key); for (;;) {} }\n` +
      `  return served(s, c, ctx);\n};\n`,
  );
  writeFileSync(path.join(dir, 'migrations.ts'), `export { migrations } from ${abs('migrations/index.ts')};\n`);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A suite's server, booting the feed of loopsOnce(`key`), and a browser: opened before its tests,
 * closed (and the feed's folder removed) after them.
 */
function slowSuite(key: string, token: string): { server: RunningServer; browser: Browser } {
  const slow = loopsOnce(key);
  const s = {} as { server: RunningServer; browser: Browser };
  beforeAll(async () => {
    s.server = await startServer({ port: 0, operatorPort: 0, token, logLevel: 'silent', boot: slow.dir });
    s.browser = await launch();
  }, T);
  afterAll(async () => {
    await s.browser?.close();
    await s.server?.close();
    slow.remove();
  });
  return s;
}

const onlineList = (page: Page) => page.locator('#online .person .handle').allTextContents();

describe.skipIf(!HAVE_CHROMIUM)('presence when a notice times out', () => {
  // the first notice of someone coming online, and the first of someone going
  const s = slowSuite(`c.type === 'presence' && typeof c.online === 'boolean' ? c.online : null`, 'presence-suite-token-0123');

  it('shows someone coming and going though the first notice of each ran out its time', async () => {
    const a = await (await s.browser.newContext()).newPage();
    const bctx = await s.browser.newContext();
    const b = await bctx.newPage();
    const errors: string[] = [];
    for (const p of [a, b]) {
      watch(p);
      p.on('pageerror', (e) => errors.push(e.message));
    }
    await a.goto(s.server.url);
    // alice's own online notice is the first (slowed) one; she is signed in all the same
    await join(a, 'alice');
    await expect.poll(() => onlineList(a)).toEqual(['@alice']);
    await b.goto(s.server.url);
    await join(b, 'bob');
    await expect.poll(() => onlineList(a)).toEqual(['@alice', '@bob']);
    // bob closes his page: the first offline notice runs out its time
    await b.close();
    await expect.poll(() => onlineList(a)).toEqual(['@alice']);
    expect(await a.locator('#online-count').textContent()).toBe('1');
    expect(errors).toEqual([]);
  }, T);
});

describe.skipIf(!HAVE_CHROMIUM)('who is online when the page cannot ask at first', () => {
  // the page's first \`online\` (when it connects) runs out its time: E_HANDLER_TIMEOUT
  const s = slowSuite(`c.type === 'online' ? 'online' : null`, 'presence-suite-token-4567');

  it('asks again, and shows who was already there', async () => {
    const dana = await TestClient.open(s.server.wsUrl);
    await dana.ok('join', { handle: 'dana' });
    const page = await (await s.browser.newContext()).newPage();
    watch(page);
    await page.goto(s.server.url);
    // dana was online before the page opened: the page learns it only by asking
    await expect.poll(() => onlineList(page)).toEqual(['@dana']);
    await join(page, 'eve');
    await expect.poll(() => onlineList(page)).toEqual(['@dana', '@eve']);
    dana.close();
  }, T);
});

describe.skipIf(!HAVE_CHROMIUM)('the posts when the page cannot load them at first', () => {
  // the first two \`timeline\` commands run out their time: the view's probe's and the page's own
  const s = slowSuite(`c.type === 'timeline' && slowed.length < 2 ? slowed.length : null`, 'presence-suite-token-8901');

  it('does not say there are no posts, and shows them once the server answers', async () => {
    const dana = await TestClient.open(s.server.wsUrl);
    await dana.ok('join', { handle: 'dana' });
    await dana.ok('post', { text: 'Posted before the page opened' });
    const page = await (await s.browser.newContext()).newPage();
    watch(page);
    await page.goto(s.server.url);
    await post(page, 'Posted before the page opened').waitFor({ timeout: 15_000 });
    expect(await page.locator('#page .more[data-state="empty"]').count()).toBe(0);
    dana.close();
  }, T);
});
