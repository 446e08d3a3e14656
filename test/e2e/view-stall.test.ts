/**
 * A page whose thread loses the CPU for half a second once, inside a call into the release's view (as
 * on a loaded machine), keeps the view. One 515 ms renderPost of the released v1 view under load put a
 * page on the plain view with "This version's look could not be loaded" until it was reloaded. Here
 * the release test/fixtures/view-stalls-once draws its first card in 600 ms, then as fast as v2's view.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server.ts';
import { HAVE_CHROMIUM, openPage } from '../support/browser.ts';
import { join, operate, post, write } from './pages.ts';

const T = 60_000;
const state = (page: Page) => page.evaluate(() => (window as unknown as { molt: { state(): { release: string; view: string; viewProblem: string | null } } }).molt.state());

describe.skipIf(!HAVE_CHROMIUM)('a page that stalls once inside its view', () => {
  let server: RunningServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    ({ server, browser, page } = await openPage({ port: 0, operatorPort: 0, token: 'view-stall-suite-token-01', logLevel: 'silent' }));
  }, T);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('keeps the release’s view, with no notice, after one slow card', async () => {
    await join(page, 'sam');
    await write(page, 'Drawn once slowly, then as usual.');
    const result = await operate(server, 'push', 'test/fixtures/view-stalls-once');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const release = JSON.parse(result.stdout).to.release as string;
    await expect.poll(async () => (await state(page)).release).toBe(release);
    // the page is built with the release's view (the 600 ms card among its cards)
    await expect.poll(async () => (await state(page)).view).not.toBe('likes');
    await post(page, 'Drawn once slowly').locator('.chip, .act').first().waitFor();
    await write(page, 'And a card after it.');
    const s = await state(page);
    expect(s.viewProblem).toBeNull();
    expect(s.view).not.toBe('plain');
    expect(await page.locator('#view-notice .view-notice').count()).toBe(0);
  }, T);
});
