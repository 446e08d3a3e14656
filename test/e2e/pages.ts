/** What the e2e suites do to a page and to the server, as a person and an operator would. */
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import type { RunningServer } from '../../src/server.ts';
import { molt } from '../support/client.ts';

/** The operator CLI against a suite's server, as JSON. */
export const operate = (server: RunningServer, ...args: string[]) => molt([...args, '--url', server.operatorUrl, '--token', server.token, '--json']);

/** `--accept-drops kind=n,...` for a push or rollback that drops these (the operator confirms losses). */
export const acceptDrops = (dropped: Record<string, number>): string[] => {
  const list = Object.entries(dropped).filter(([, n]) => n > 0).map(([k, n]) => `${k}=${n}`);
  return list.length ? ['--accept-drops', list.join(',')] : [];
};

/** The card of the post with this text on the page. */
export const post = (page: Page, text: string) => page.locator('#page article.post', { hasText: text });

export async function join(page: Page, handle: string): Promise<void> {
  await page.locator('input[name=handle]').fill(handle);
  await page.locator('form.join button[type=submit]').click();
  await expect.poll(() => page.locator('.whoami .handle').textContent()).toBe('@' + handle);
}

/** Post from the main composer and wait for the card. */
export async function write(page: Page, text: string): Promise<void> {
  await page.locator('textarea[name=draft]').fill(text);
  await page.locator('#me form.composer button[type=submit]').click();
  await post(page, text).first().waitFor();
}
