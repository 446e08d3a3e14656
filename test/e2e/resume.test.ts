/**
 * A page that cannot resume its session because of the server (here a release whose `resume` handler
 * loops: E_HANDLER_TIMEOUT, then E_CIRCUIT_OPEN) keeps its token and tries again; once the operator
 * pushes a fixed release, the person is signed in as before. Only the feed's own answer (bad_session)
 * ends a session: dropping the token on a server error would lose the handle for good.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRelease } from '../../src/release/build.ts';
import type { RunningServer } from '../../src/server.ts';
import { HAVE_CHROMIUM, openPage } from '../support/browser.ts';
import { loopingVersion } from '../support/releases.ts';

const T = 60_000;

describe.skipIf(!HAVE_CHROMIUM)('a session the server cannot resume yet', () => {
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const looping = loopingVersion('resume');

  beforeAll(async () => {
    // the default handler limit (250 ms), not a shorter one: every command runs under it, and on a loaded
    // machine a join took over 50 ms and was refused (E_HANDLER_TIMEOUT), so the page never signed in
    ({ server, browser, page } = await openPage({ port: 0, operatorPort: 0, token: 'resume-suite-token-0123', logLevel: 'silent', boot: looping.dir, limits: { breakerOpenMs: 2_000 } }));
  }, T);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    looping.remove();
  });

  it('keeps the token, says it is trying again, and is signed in once a fixed release runs', async () => {
    await page.locator('input[name=handle]').fill('erin');
    await page.locator('form.join button[type=submit]').click();
    await expect.poll(() => page.locator('.whoami .handle').textContent()).toBe('@erin');
    const token = await page.evaluate(() => localStorage.getItem('molt.token'));
    expect(token).toMatch(/./);

    await page.reload();
    await expect.poll(() => page.locator('.notice').textContent(), { timeout: 10_000 }).toMatch(/Could not resume your session as @erin yet: .*Trying again in \d+ s; your draft is kept\./);
    expect(await page.evaluate(() => localStorage.getItem('molt.token'))).toBe(token);
    // it keeps trying: past three timeouts the server sets resume aside, and the page waits as told
    await expect.poll(() => server.kernel.status().circuits.filter((c) => c.timeouts >= 3).map((c) => c.command), { timeout: 15_000 }).toEqual(['resume']);
    expect(await page.evaluate(() => localStorage.getItem('molt.token'))).toBe(token);

    // the operator pushes the fixed release (the same version: a hotfix)
    const fixed = await buildRelease(1);
    const report = await server.kernel.upgrade({ code: fixed.code, view: fixed.view, hash: fixed.hash });
    expect(report.result).toBe('committed');
    await expect.poll(() => page.locator('.whoami .handle').textContent(), { timeout: 20_000 }).toBe('@erin');
    expect(await page.locator('form.join').count()).toBe(0);
  }, T);
});
