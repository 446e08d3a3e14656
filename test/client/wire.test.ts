/**
 * The wire on a dead network: the socket stays "open" (no close arrives until the network is back),
 * so the heartbeat's unanswered $ping is all the page has to go on. It must count the socket as gone
 * then, not when the close handshake ends (found in Chromium offline: the strip said "Live" for 32 s).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HEARTBEAT_MS, HEARTBEAT_TIMEOUT_MS, Wire, type WireState } from '../../client/src/wire.ts';

/** A WebSocket whose network died once it opened: it sends into nothing, and its close never ends. */
class DeadNetworkSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  static made: DeadNetworkSocket[] = [];
  readyState = DeadNetworkSocket.CONNECTING;
  binaryType = 'blob';
  sent = 0;
  closeCalls = 0;
  onopen: (() => void) | null = null;
  onmessage: ((msg: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(readonly url: string) {
    DeadNetworkSocket.made.push(this);
  }
  send(): void {
    this.sent++;
  }
  close(): void {
    this.closeCalls++;
    this.readyState = DeadNetworkSocket.CLOSING; // and there it stays: no close frame comes back
  }
  opened(): void {
    this.readyState = DeadNetworkSocket.OPEN;
    this.onopen?.();
  }
}

describe('the wire on a dead network', () => {
  const real = (globalThis as { WebSocket?: unknown }).WebSocket;
  beforeEach(() => {
    vi.useFakeTimers();
    DeadNetworkSocket.made = [];
    (globalThis as { WebSocket?: unknown }).WebSocket = DeadNetworkSocket;
  });
  afterEach(() => {
    vi.useRealTimers();
    (globalThis as { WebSocket?: unknown }).WebSocket = real;
  });

  it('counts the socket as gone when a $ping goes unanswered: offline answers, and a new socket is tried', async () => {
    const states: WireState[] = [];
    const wire = new Wire('ws://molt.test/ws', { hello() {}, event() {}, upgrade() {}, state: (s) => states.push(s) });
    wire.start();
    DeadNetworkSocket.made[0]!.opened();
    expect(wire.open).toBe(true);
    const waiting = wire.request('timeline'); // sent into the dead network
    await vi.advanceTimersByTimeAsync(HEARTBEAT_MS + HEARTBEAT_TIMEOUT_MS);
    // sent, then the socket went: the server may have run it, and the person is told so (not "not
    // connected", which reads as "send it again": a post sent again would be there twice)
    expect(await waiting).toMatchObject({ ok: false, error: { code: 'E_OFFLINE', message: expect.stringContaining('may have gone through') } });
    expect(await wire.request('timeline')).toMatchObject({ ok: false, error: { code: 'E_OFFLINE', message: expect.stringMatching(/^Not connected/) } });
    expect(wire.open).toBe(false);
    expect(states.at(-1)).toMatchObject({ kind: 'waiting', attempt: 1 });
    expect(DeadNetworkSocket.made[0]!.closeCalls).toBe(1);
    // the backoff's wait, and a new socket
    await vi.advanceTimersByTimeAsync(1_000);
    expect(DeadNetworkSocket.made).toHaveLength(2);
    // the old socket's close, when it finally comes, changes nothing
    DeadNetworkSocket.made[0]!.onclose?.();
    expect(DeadNetworkSocket.made).toHaveLength(2);
    wire.stop();
  });
});
