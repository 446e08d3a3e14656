/**
 * The kernel's notices (src/kernel/notices.ts) as the wire frames of docs/PROTOCOL.md. The kernel
 * speaks in welcomes, numbered events and upgrade notices; this is the one place that names them
 * `hello`, `event` and `upgrade` frames and stamps the protocol version.
 *
 * A broadcast notice is one object for every connection: its frame is made once, so the codec can
 * encode it once for all sockets (codec.ts and ws.ts cache by frame, for the last few: last.ts).
 */
import type { Result } from '../kernel/kernel.ts';
import type { Listener, Numbered, UpgradeNotice, Welcome } from '../kernel/notices.ts';
import { Last } from './last.ts';
import { PROTOCOL_VERSION, type EventFrame, type HelloFrame, type ReplyFrame, type ServerFrame, type UpgradeFrame } from './protocol.ts';

export function helloFrame(welcome: Welcome): HelloFrame {
  return { t: 'hello', protocol: PROTOCOL_VERSION, ...welcome };
}

// the kernel hands an event (an upgrade notice) to every connection in turn: the same frame for all
const events = new Last<Numbered, EventFrame>();
export function eventFrame(numbered: Numbered): EventFrame {
  return events.get(numbered) ?? events.set(numbered, { t: 'event', seq: numbered.seq, version: numbered.version, event: numbered.event });
}

const upgrades = new Last<UpgradeNotice, UpgradeFrame>();
/** A connection's committed frame -> the frame every connection shares, without the hello. */
const shared = new WeakMap<UpgradeFrame, UpgradeFrame>();
export function upgradeFrame(notice: UpgradeNotice, welcome?: Welcome): UpgradeFrame {
  const frame = upgrades.get(notice) ?? upgrades.set(notice, { t: 'upgrade', ...notice });
  if (!welcome) return frame;
  // 'committed' carries this connection's hello: a frame of its own, on the shared one
  const own: UpgradeFrame = { ...frame, hello: helloFrame(welcome) };
  shared.set(own, frame);
  return own;
}

/** For a connection's own committed frame: the frame it extends (encode it once, then add hello). */
export function sharedPart(frame: ServerFrame): UpgradeFrame | undefined {
  return frame.t === 'upgrade' ? shared.get(frame) : undefined;
}

/** A listener that hands the kernel's notices to `send` as wire frames. */
export function framesTo(send: (frame: ServerFrame) => void): Listener {
  return {
    welcome: (welcome) => send(helloFrame(welcome)),
    event: (numbered) => send(eventFrame(numbered)),
    upgrade: (notice, welcome) => send(upgradeFrame(notice, welcome)),
  };
}

/** The reply frame for command `id`: `$since` answers with numbered events, sent as event frames. */
export function replyFrame(id: number, type: string, result: Result): ReplyFrame {
  if (!result.ok) return { t: 'reply', id, ok: false, error: result.error };
  if (type === '$since') {
    const { events: list, seq } = result.data as { events: Numbered[]; seq: number };
    return { t: 'reply', id, ok: true, data: { events: list.map(eventFrame), seq } };
  }
  return { t: 'reply', id, ok: true, data: result.data };
}
