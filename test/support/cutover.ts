/**
 * A cut-over with a change made right before it: a kernel on v1 (1,000 posts, a cut-over limit of
 * 1 s) with two people; `release` pushed with --hold; once held, the author posts 'late' and the
 * cut-over is asked for at once, and the reader sends a command, which waits on it. A held round may
 * take the post first (then nothing waits for a cut-over: E_NOT_HELD, and `cutOver` is false).
 */
import { expect } from 'vitest';
import { Kernel, type UpgradeReport } from '../../src/kernel/kernel.ts';
import type { ReleaseSource } from '../../src/kernel/release.ts';
import { framesTo } from '../../src/transport/frames.ts';
import type { ServerFrame } from '../../src/transport/protocol.ts';
import { buildV1 } from '../feed/build.ts';

export async function lateBeforeCutover(from: ReleaseSource, release: ReleaseSource, kernels: Kernel[]): Promise<{ kernel: Kernel; report: UpgradeReport; cutOver: boolean; waited: number; written: unknown }> {
  const kernel = new Kernel(from, { initialState: buildV1(1000, 50), limits: { rehearsalHeapMb: 512, cutoverTimeoutMs: 1000 } });
  kernels.push(kernel);
  const frames: ServerFrame[] = [];
  const author = kernel.connect(framesTo((f) => frames.push(f)));
  const reader = kernel.connect(framesTo(() => {}));
  await kernel.dispatch(author, { type: 'join', handle: 'author' });
  await kernel.dispatch(reader, { type: 'join', handle: 'reader' });
  const pending = kernel.upgrade(release, { hold: true });
  while (!frames.some((f) => f.t === 'upgrade' && f.phase === 'held')) await new Promise((r) => setTimeout(r, 10));
  expect(await kernel.dispatch(author, { type: 'post', text: 'late' })).toMatchObject({ ok: true });
  const written = kernel.state;
  let cutOver = true;
  try {
    kernel.cutover();
  } catch (err) {
    expect(err).toMatchObject({ code: 'E_NOT_HELD' });
    cutOver = false;
  }
  const t0 = performance.now();
  expect(await kernel.dispatch(reader, { type: 'timeline' })).toMatchObject({ ok: true });
  const waited = performance.now() - t0;
  return { kernel, report: await pending, cutOver, waited, written };
}
