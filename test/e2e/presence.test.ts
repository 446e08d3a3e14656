/**
 * Who is online, as a page shows it, when the kernel's presence notice does not get through the first
 * time. On a loaded machine the watchdog counts wall time, so even the trivial presence handler can be
 * cut off at its limit (E_HANDLER_TIMEOUT); that notice was dropped for good, and every page kept
 * showing the person as online (or never showed them) until it was reloaded. Here the booted release's
 * presence handler runs out its time once, on the first notice of each kind.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.ts';
import { HAVE_CHROMIUM, launch, watch } from '../support/browser.ts';
import { abs } from '../support/releases.ts';
import { join } from './pages.ts';

const T = 60_000;

/** Feed v1, except that its presence handler loops the first time it hears of someone going `online` (true or false). */
function presenceOnceSlow(): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'molt-presence-'));
  const v1 = abs('src/feed/v1/index.ts');
  writeFileSync(
    path.join(dir, 'index.ts'),
    `import { handle as served } from ${v1};\nexport * from ${v1};\n` +
      `const slowed: boolean[] = [];\n` +
      `export const handle: typeof served = (s, c, ctx) => {\n` +
      `  if (c.type === 'presence' && typeof c.online === 'boolean' && !slowed.includes(c.online)) { slowed.push(c.online); for (;;) {} }\n` +
      `  return served(s, c, ctx);\n};\n`,
  );
  writeFileSync(path.join(dir, 'migrations.ts'), `export { migrations } from ${abs('migrations/index.ts')};\n`);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const onlineList = (page: Page) => page.locator('#online .person .handle').allTextContents();

describe.skipIf(!HAVE_CHROMIUM)('presence when a notice times out', () => {
  let server: RunningServer;
  let browser: Browser;
  const slow = presenceOnceSlow();

  beforeAll(async () => {
    server = await startServer({ port: 0, operatorPort: 0, token: 'presence-suite-token-0123', logLevel: 'silent', boot: slow.dir });
    browser = await launch();
  }, T);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    slow.remove();
  });

  it('shows someone coming and going though the first notice of each ran out its time', async () => {
    const a = await (await browser.newContext()).newPage();
    const bctx = await browser.newContext();
    const b = await bctx.newPage();
    const errors: string[] = [];
    for (const p of [a, b]) {
      watch(p);
      p.on('pageerror', (e) => errors.push(e.message));
    }
    await a.goto(server.url);
    // alice's own online notice is the first (slowed) one; she is signed in all the same
    await join(a, 'alice');
    await expect.poll(() => onlineList(a)).toEqual(['@alice']);
    await b.goto(server.url);
    await join(b, 'bob');
    await expect.poll(() => onlineList(a)).toEqual(['@alice', '@bob']);
    // bob closes his page: the first offline notice runs out its time
    await b.close();
    await expect.poll(() => onlineList(a)).toEqual(['@alice']);
    expect(await a.locator('#online-count').textContent()).toBe('1');
    expect(errors).toEqual([]);
  }, T);
});
