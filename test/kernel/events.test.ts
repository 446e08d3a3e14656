import { describe, expect, it } from 'vitest';
import { EventLog } from '../../src/kernel/events.ts';

describe('the event log', () => {
  it('numbers events without gaps, keeps the newest within its count, and $since answers from them or says E_GAP', () => {
    const log = new EventLog({ eventBacklog: 1500, backlogBytes: 1 << 30, maxReplyBytes: 1 << 30 });
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
    const log = new EventLog({ eventBacklog: 1000, backlogBytes: 10_000, maxReplyBytes: 1 << 30 });
    for (let i = 1; i <= 100; i++) log.append({ type: 'post', text: 'x'.repeat(1000) }, 2);
    const r = log.since(99, null);
    expect(r.ok).toBe(true);
    expect(log.since(80, null)).toMatchObject({ ok: false, error: { code: 'E_GAP' } });
    log.append({ type: 'big', text: 'y'.repeat(50_000) }, 2);
    const last = log.since(100, null);
    expect(last.ok && (last.data as { events: { seq: number; version: number }[] }).events).toMatchObject([{ seq: 101, version: 2 }]);
  });

  it('counts who may see an event in the bytes it keeps: long lists of recipients push the oldest out too', () => {
    const log = new EventLog({ eventBacklog: 1000, backlogBytes: 100_000, maxReplyBytes: 1 << 30 });
    for (let i = 1; i <= 100; i++) log.append({ type: 'x', to: new Array(1000).fill('') }, 1);
    // each keeps ~9,000 bytes (8 a slot, 1 a string): about ten fit in 100,000
    expect(log.since(85, null)).toMatchObject({ ok: false, error: { code: 'E_GAP' } });
    expect(log.since(95, null)).toMatchObject({ ok: true });
  });

  it('answers $since with E_GAP when the events asked for hold more than one reply may (the client reloads the timeline)', () => {
    const log = new EventLog({ eventBacklog: 1000, backlogBytes: 1 << 30, maxReplyBytes: 6_000 });
    for (let i = 1; i <= 10; i++) log.append({ type: 'post', text: 'x'.repeat(1000), ...(i <= 5 ? { to: ['ann'] } : {}) }, 1);
    // ten posts of 1,000 characters: more than a reply of 6,000 bytes holds
    expect(log.since(0, 'ann')).toMatchObject({ ok: false, error: { code: 'E_GAP', message: 'the events after 0 hold more than one reply may (6,000 bytes); reload the timeline' } });
    // what this reader may not see does not count: five of them fit
    const bob = log.since(0, 'bob');
    expect(bob.ok && (bob.data as { events: { seq: number }[] }).events.map((e) => e.seq)).toEqual([6, 7, 8, 9, 10]);
    // and fewer, asked for from later on, fit too
    const later = log.since(7, 'ann');
    expect(later.ok && (later.data as { events: { seq: number }[] }).events.map((e) => e.seq)).toEqual([8, 9, 10]);
  });
});
