import { describe, expect, it } from 'vitest';
import { EventLog } from '../../src/kernel/events.ts';

describe('the event log', () => {
  it('numbers events without gaps, keeps the newest within its count, and $since answers from them or says E_GAP', () => {
    const log = new EventLog({ eventBacklog: 1500, backlogBytes: 1 << 30 });
    for (let i = 1; i <= 5000; i++) log.append({ type: 'post', n: i, ...(i % 2 === 0 ? { to: ['ann'] } : {}) }, 1);
    expect(log.seq).toBe(5000);
    // 3501..5000 are kept
    expect(log.since(3499, null)).toMatchObject({ ok: false, error: { code: 'E_GAP', message: expect.stringContaining('oldest kept: 3501') } });
    const all = log.since(3500, 'ann');
    if (!all.ok) throw new Error(all.error.message);
    const seqs = (all.data as { events: { seq: number; event: { n: number } }[] }).events.map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 1500 }, (_, i) => 3501 + i));
    // what was addressed to ann alone is not shown to someone else
    const bob = log.since(4990, 'bob');
    expect(bob.ok && (bob.data as { events: { seq: number; event: { n: number } }[] }).events.map((e) => e.event.n)).toEqual([4991, 4993, 4995, 4997, 4999]);
    expect(log.since(5000, null)).toEqual({ ok: true, data: { events: [], seq: 5000 } });
    expect(log.since(5001, null)).toMatchObject({ ok: false, error: { code: 'E_BAD_COMMAND' } });
  });

  it('lets the oldest go when the kept events pass their bytes, always keeping the newest', () => {
    const log = new EventLog({ eventBacklog: 1000, backlogBytes: 10_000 });
    for (let i = 1; i <= 100; i++) log.append({ type: 'post', text: 'x'.repeat(1000) }, 2);
    const r = log.since(99, null);
    expect(r.ok).toBe(true);
    expect(log.since(80, null)).toMatchObject({ ok: false, error: { code: 'E_GAP' } });
    log.append({ type: 'big', text: 'y'.repeat(50_000) }, 2);
    const last = log.since(100, null);
    expect(last.ok && (last.data as { events: { seq: number; version: number }[] }).events).toMatchObject([{ seq: 101, version: 2 }]);
  });
});
