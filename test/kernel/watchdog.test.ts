import { describe, expect, it, vi } from 'vitest';
import { framesTo } from '../../src/transport/frames.ts';

// V8's watchdog can fire after the last step of a batch has finished (the deadline passed while the
// machine stalled): runBounded then throws although all the work is done. Simulate exactly that.
vi.mock('../../src/kernel/sandbox.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/kernel/sandbox.ts')>();
  return {
    ...real,
    runBounded: <T>(fn: () => T, ms: number): T => {
      fn();
      throw new real.TimeoutError(ms);
    },
  };
});

const { Kernel } = await import('../../src/kernel/kernel.ts');
const { tiny } = await import('../support/tiny.ts');

describe('a watchdog that fires after the batch finished', () => {
  it('keeps every completed command: committed, answered, its events sent', async () => {
    const kernel = new Kernel(tiny());
    const frames: { t: string }[] = [];
    const conn = kernel.connect(framesTo((f) => frames.push(f)));
    const replies = await Promise.all([kernel.dispatch(conn, { type: 'inc' }), kernel.dispatch(conn, { type: 'inc' })]);
    expect(replies).toEqual([{ ok: true, data: { value: 1 } }, { ok: true, data: { value: 2 } }]);
    expect(kernel.state).toEqual({ count: 2 });
    expect(frames.filter((f) => f.t === 'event')).toHaveLength(2);
    // and the kernel goes on serving
    expect(await kernel.dispatch(conn, { type: 'inc' })).toEqual({ ok: true, data: { value: 3 } });
  });
});
