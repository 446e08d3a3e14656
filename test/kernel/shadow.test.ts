/**
 * The shadow run: before a cut-over, the last commands served are replayed with the context they ran
 * in, through the running version on the live state and through the new one on the migrated state. A
 * new version that throws, breaks its contract or refuses what the old one accepted is refused, with the
 * command and both outcomes; a same-version release (no migration) is shadow-run too, and may not take
 * away the view or the way back.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../../src/kernel/kernel.ts';
import type { ReleaseSource } from '../../src/kernel/release.ts';
import { buildRelease } from '../../src/release/build.ts';
import { TempReleases, abs } from '../support/releases.ts';
import { framesTo } from '../../src/transport/frames.ts';

const releases = new TempReleases();
let v1: ReleaseSource;
let v2: ReleaseSource;
const kernels: Kernel[] = [];
beforeAll(async () => {
  [v1, v2] = await Promise.all([releases.real(1), releases.real(2)]);
}, 60_000);
afterAll(() => releases.remove());
afterEach(() => {
  for (const k of kernels.splice(0)) k.close();
});

/** Feed v2 with `react` replaced by `body` (source of (state, command, ctx) => outcome). */
async function v2WithReact(body: string): Promise<ReleaseSource> {
  const folder = `${releases.dir}/react-${Math.random().toString(36).slice(2)}`;
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(folder, { recursive: true });
  writeFileSync(`${folder}/index.ts`, `import * as v2 from ${abs('src/feed/v2/index.ts')};
export const { version, commands, init, validate, census, sample } = v2;
export function handle(state, command, ctx) { return command.type === 'react' ? (${body})(state, command, ctx, v2) : v2.handle(state, command, ctx); }
`);
  writeFileSync(`${folder}/view.ts`, `export { default } from ${abs('src/feed/v2/view.ts')};\n`);
  const built = await buildRelease(folder);
  return { code: built.code, view: built.view, hash: built.hash };
}

async function onV2WithReactions(limits: { migrationTimeoutMs?: number } = {}) {
  const kernel = new Kernel(v1, { limits });
  kernels.push(kernel);
  const conn = kernel.connect(framesTo(() => {}));
  await kernel.dispatch(conn, { type: 'join', handle: 'shadowed' });
  const post = (await kernel.dispatch(conn, { type: 'post', text: 'react to me' })) as { data: { post: { id: string } } };
  expect((await kernel.upgrade(v2)).result).toBe('committed');
  for (const emoji of ['😂', '🎉']) expect((await kernel.dispatch(conn, { type: 'react', post: post.data.post.id, emoji })).ok).toBe(true);
  return { kernel, conn };
}

describe('shadow run', () => {
  it('refuses a same-version release whose handler throws on a command the running one accepted', async () => {
    const { kernel } = await onV2WithReactions();
    const broken = await v2WithReact(`(s, c) => { if (c.emoji === '🎉') throw new Error('party emoji not supported'); return { state: s }; }`);
    const report = await kernel.upgrade(broken);
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_SHADOW', message: expect.stringMatching(/feed v2 fails on react .*🎉.*which v2 accepted.*party emoji not supported/) } });
    expect(kernel.release).toBe(v2.hash);
  }, 60_000);

  it.each([
    ['a reply holding NaN', `{ ...out, reply: { n: 0 / 0 } }`, /E_HANDLER_CONTRACT: feed v2 handle\('react'\): reply holds the number NaN at n/],
    ['an event holding a function', `{ ...out, events: [{ type: 'reacted', f: () => 1 }] }`, /E_HANDLER_CONTRACT: feed v2 handle\('react'\): events holds a function at f/],
    ['a reply past its bound', `{ ...out, reply: { big: 'x'.repeat(5 * 2 ** 20) } }`, /E_TOO_LARGE: feed v2 handle\('react'\): the reply is larger than 4,194,304 bytes/],
    ['a state grown past its bound', `{ ...out, state: { ...out.state, junk: 'y'.repeat(5 * 2 ** 20) + c.emoji } }`, /E_TOO_LARGE: feed v2 handle\('react'\): the state is larger than 4,194,304 bytes/],
  ])('refuses a release whose handler returns what the live process refuses (%s) on a command the running one accepted', async (_what, outcome, message) => {
    // The shadow run checked only the state a replayed command left: such a release committed, and
    // every command of that type was refused from then on
    const { kernel, conn } = await onV2WithReactions();
    const broken = await v2WithReact(`(s, c, ctx, v2) => { const out = v2.handle(s, c, ctx); return 'error' in out ? out : ${outcome}; }`);
    const report = await kernel.upgrade(broken);
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_SHADOW', message: expect.stringMatching(message) } });
    expect(kernel.release).toBe(v2.hash);
    const posts = (await kernel.dispatch(conn, { type: 'post', text: 'still serving' })) as { data: { post: { id: string } } };
    expect(await kernel.dispatch(conn, { type: 'react', post: posts.data.post.id, emoji: '🎉' })).toMatchObject({ ok: true });
  }, 60_000);

  it('refuses a new version whose handler never returns on a command the running one accepted, and keeps serving', async () => {
    const { kernel, conn } = await onV2WithReactions({ migrationTimeoutMs: 400 });
    const looping = await v2WithReact(`(s, c, ctx, v2) => { if (c.emoji === '🎉') for (;;) {} return v2.handle(s, c, ctx); }`);
    const report = await kernel.upgrade(looping);
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_SHADOW', message: expect.stringMatching(/feed v2 fails on react .*🎉.*which v2 accepted.*ran for more than 200 ms/) } });
    expect(kernel.release).toBe(v2.hash);
    expect((await kernel.dispatch(conn, { type: 'post', text: 'still here' })).ok).toBe(true);
  }, 60_000);

  it('refuses one that refuses what the running one accepted, and reports replies that differ when it accepts', async () => {
    const { kernel } = await onV2WithReactions();
    const picky = await v2WithReact(`(s, c) => c.emoji === '😂' ? { error: { code: 'no_laughing', message: 'No laughing.' } } : { state: s }`);
    expect(await kernel.upgrade(picky)).toMatchObject({ result: 'refused', error: { code: 'E_SHADOW', message: expect.stringMatching(/refuses react .*😂.*no_laughing: No laughing/) } });
    const quiet = await v2WithReact(`(s, c, ctx, v2) => { const out = v2.handle(s, c, ctx); return 'error' in out ? out : { ...out, reply: { ok: true } }; }`);
    const report = await kernel.upgrade(quiet);
    expect(report).toMatchObject({ result: 'committed', shadow: { replayed: expect.any(Number), differences: [expect.stringMatching(/react .*reply.*differs/), expect.any(String)] } });
  }, 60_000);

  it('catches examples/broken-throws pushed at version 2: no view, and no way back', async () => {
    const { kernel } = await onV2WithReactions();
    const built = await buildRelease('examples/broken-throws');
    const report = await kernel.upgrade({ code: built.code, view: built.view, hash: built.hash });
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_SHADOW', message: expect.stringMatching(/no browser view.*every open page would lose its look.*migration 1->2 has no down: version 2 could no longer roll back/) } });
    expect(kernel.release).toBe(v2.hash);
  }, 60_000);

  it('a rollback away from a release whose handler loops only in the rehearsal (module state) waits out one limit, not one per command', async () => {
    // The handler counts its calls in its own instance and loops on a post past the 31st. The
    // rehearsal's instance replayed the 31 commands before the push in its shadow run; the live
    // process's served 30 posts after it. On the way back the rehearsal replays all 61 through it, and
    // every post there runs past the limit.
    const folder = `${releases.dir}/counting-${Math.random().toString(36).slice(2)}`;
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(folder, { recursive: true });
    writeFileSync(`${folder}/index.ts`, `import * as v2 from ${abs('src/feed/v2/index.ts')};
export const { version, commands, init, validate, census, sample } = v2;
let calls = 0;
export function handle(state, command, ctx) { calls++; if (command.type === 'post' && calls > 31) for (;;) {} return v2.handle(state, command, ctx); }
`);
    writeFileSync(`${folder}/view.ts`, `export { default } from ${abs('src/feed/v2/view.ts')};\n`);
    const built = await buildRelease(folder);
    const kernel = new Kernel(v1, { limits: { migrationTimeoutMs: 400 } });
    kernels.push(kernel);
    const conn = kernel.connect(framesTo(() => {}));
    await kernel.dispatch(conn, { type: 'join', handle: 'counted' });
    for (let i = 0; i < 30; i++) expect((await kernel.dispatch(conn, { type: 'post', text: `before ${i}` })).ok).toBe(true);
    expect((await kernel.upgrade({ code: built.code, view: built.view, hash: built.hash })).result).toBe('committed');
    for (let i = 0; i < 30; i++) expect((await kernel.dispatch(conn, { type: 'post', text: `after ${i}` })).ok).toBe(true);
    const t0 = performance.now();
    const report = await kernel.rollback();
    // (waiting out the limit on each of the 60 posts took 24 s, past the rehearsal's deadline: E_REHEARSAL)
    expect(report.error ?? null).toBeNull();
    expect(report.result).toBe('committed');
    expect(performance.now() - t0).toBeLessThan(8_000);
    expect(kernel.version).toBe(1);
  }, 60_000);

  it('replays commands whatever numbers they hold (the small integers msgpack records would misread)', async () => {
    const kernel = new Kernel(v1);
    kernels.push(kernel);
    const conn = kernel.connect(framesTo(() => {}));
    await kernel.dispatch(conn, { type: 'join', handle: 'numbers' });
    await kernel.dispatch(conn, { type: 'post', text: 'count me' });
    // every positive fixint: with records on, 0x40-0x7f would be read as references to record shapes
    for (let n = 0; n < 128; n++) expect((await kernel.dispatch(conn, { type: 'timeline', limit: 1 + (n % 50), x: n, y: [n, n - 200, n + 0.5] })).ok).toBe(true);
    const dry = await kernel.upgrade(v2, { dryRun: true });
    expect(dry.error ?? null).toBeNull();
    expect(dry.result).toBe('dry-run');
    const report = await kernel.upgrade(v2);
    expect(report).toMatchObject({ result: 'committed', shadow: { replayed: expect.any(Number) } });
    expect(report.shadow!.replayed).toBeGreaterThanOrEqual(20);
  }, 60_000);

  it('a rollback reports the commands the older version no longer accepts, without refusing', async () => {
    const { kernel } = await onV2WithReactions();
    const report = await kernel.rollback({ acceptDrops: { reactions: 10 } });
    expect(report).toMatchObject({ result: 'committed', shadow: { notAccepted: { react: 2 } } });
  }, 60_000);
});
