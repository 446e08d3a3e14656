/**
 * What a command's events cost after its handler: the transport writes each to every connection that
 * may see it, outside the watchdog and the breaker. Measured on a real server (600 sockets, one client
 * sending one command whose 1,000 events held 4 KB each): 2.4 GB written, the event loop held 2.6 s,
 * and at the default 20 commands a second one client held the process for good. Bounded where the
 * handler's output is checked: refused with E_TOO_LARGE, nothing sent, the state unchanged.
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../src/kernel/kernel.ts';
import { framesTo } from '../../src/transport/frames.ts';
import type { ServerFrame } from '../../src/transport/protocol.ts';
import { tiny } from '../support/tiny.ts';
import { encode } from '../../src/transport/codec.ts';
import { eventFrame } from '../../src/transport/frames.ts';

function withSpam(connections: number, limits: { maxFanoutFrames?: number } = {}) {
  const kernel = new Kernel(
    tiny({
      commands: ['inc', 'spam', 'login'],
      handle: `(s, c, ctx) => c.type === 'spam'
        ? { state: produce(s, (d) => { d.count += 1 }), events: Array.from({ length: c.n }, (_, i) => ({ type: 'spam', i, big: (c.ch ?? 'x').repeat(c.size), ...(c.to ? { to: c.to } : {}) })) }
        : handle(s, c, ctx)`,
    }),
    { limits },
  );
  let frames = 0;
  const conns = Array.from({ length: connections }, () => kernel.connect(framesTo((f: ServerFrame) => void (f.t === 'event' && frames++))));
  return { kernel, conns, frames: () => frames };
}

describe("a command's events, times the connections they go to", () => {
  it('refuses 1,000 events of 4 KB to 600 connections (2.4 GB to write) and sends nothing', async () => {
    const { kernel, conns, frames } = withSpam(600);
    const before = kernel.state;
    const r = await kernel.dispatch(conns[0]!, { type: 'spam', n: 1000, size: 4000 });
    expect(r).toMatchObject({ ok: false, error: { code: 'E_TOO_LARGE', message: expect.stringMatching(/would go out as 600,000 frames to 600 connections/) } });
    expect(kernel.state).toBe(before);
    expect(frames()).toBe(0);
  });

  it('refuses fewer, larger events whose bytes times connections pass the bound', async () => {
    const { kernel, conns, frames } = withSpam(600);
    const r = await kernel.dispatch(conns[0]!, { type: 'spam', n: 60, size: 4000 });
    expect(r).toMatchObject({ ok: false, error: { code: 'E_TOO_LARGE', message: expect.stringMatching(/would carry [\d,]+ bytes to 600 connections together/) } });
    expect(frames()).toBe(0);
  });

  it('counts a text as it goes out, in UTF-8: 60 events of 1,400 euro signs to 600 connections (151 MB written) pass no more than 60 of 1,400 x', async () => {
    // counted a character a byte, they were 51 MB and went out: a text of characters past U+07FF
    // writes three bytes each, and every bound in bytes let three times what it says through
    const { kernel, conns, frames } = withSpam(600);
    const wire = encode(eventFrame({ seq: 1, version: 1, event: { type: 'spam', i: 0, big: '€'.repeat(1400) } })).length;
    expect(wire * 60 * 600).toBeGreaterThan(128 * 1024 * 1024);
    const r = await kernel.dispatch(conns[0]!, { type: 'spam', n: 60, size: 1400, ch: '€' });
    expect(r).toMatchObject({ ok: false, error: { code: 'E_TOO_LARGE', message: expect.stringMatching(/would carry [\d,]+ bytes to 600 connections together/) } });
    expect(frames()).toBe(0);
    expect(await kernel.dispatch(conns[0]!, { type: 'spam', n: 60, size: 1400 })).toMatchObject({ ok: true });
  });

  it('takes no more commands into a batch once their events send as much as one command may: the rest wait for the next turn', async () => {
    const { kernel, conns } = withSpam(600);
    // the turn of the event loop each event frame goes out in
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    tick();
    const turns = new Set<number>();
    kernel.connect(framesTo((f: ServerFrame) => void (f.t === 'event' && turns.add(turn))));
    // ten commands of 100 events to 601 connections: 60,100 frames each, within the bound; in one batch
    // (ten of 160 events of 1.3 KB to 600 sockets) they held a server 2.3 s
    const all = await Promise.all(Array.from({ length: 10 }, () => kernel.dispatch(conns[0]!, { type: 'spam', n: 100, size: 100 })));
    ticking = false;
    expect(all.every((r) => r.ok)).toBe(true);
    expect(turns.size).toBeGreaterThanOrEqual(5); // two a batch at most
  });

  it('serves one event to every connection, and counts an addressed event only where it goes', async () => {
    const { kernel, conns, frames } = withSpam(600);
    expect(await kernel.dispatch(conns[0]!, { type: 'spam', n: 1, size: 100 })).toMatchObject({ ok: true });
    expect(frames()).toBe(600);
    await kernel.dispatch(conns[1]!, { type: 'login', user: 'ada' });
    const sent = frames();
    // 1,000 events of 4 KB to one user's one connection: 4 MB written
    expect(await kernel.dispatch(conns[0]!, { type: 'spam', n: 1000, size: 4000, to: ['ada', 'ada', 'nobody'] })).toMatchObject({ ok: true });
    expect(frames() - sent).toBe(1000);
  });

  it('lets four events to every connection pass however many connections there are, and refuses a fifth', async () => {
    // (an honest reply sends two to everyone; with many connections that alone passes a small bound)
    const { kernel, conns, frames } = withSpam(600, { maxFanoutFrames: 1_000 });
    expect(await kernel.dispatch(conns[0]!, { type: 'spam', n: 4, size: 10 })).toMatchObject({ ok: true });
    expect(frames()).toBe(2_400);
    const refused = await kernel.dispatch(conns[0]!, { type: 'spam', n: 5, size: 10 });
    expect(refused).toMatchObject({ ok: false, error: { code: 'E_TOO_LARGE', message: expect.stringMatching(/3,000 frames to 600 connections; one command may send at most 2,400/) } });
    expect(frames()).toBe(2_400);
  });
});
