/**
 * The floor for latency under load: a bare WebSocket server with no kernel and no feed, run as molt
 * is (its own process, ws deferring one message per socket per turn, msgpack in and out). It answers
 * every frame as molt would in shape: an error frame for what does not decode or has no id, a reply
 * for the rest, and for a post an event to every socket first. What its quiet client sees under a
 * flood or a fuzz is what this machine allows; molt is held to a multiple of that, measured in the
 * same run.
 */
import { Packr } from 'msgpackr';
import { WebSocketServer, type WebSocket } from 'ws';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', allowSynchronousEvents: false, perMessageDeflate: false });
let seq = 0;
wss.on('listening', () => {
  const { port } = wss.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});
wss.on('connection', (ws: WebSocket) => {
  ws.send(packr.pack({ t: 'hello', protocol: 1, boot: 'floor', conn: 'c', version: 1, release: 'floor', seq, commands: ['post'], view: null }));
  ws.on('message', (data: Buffer, binary: boolean) => {
    let frame: { id?: unknown; type?: unknown; text?: unknown } | null;
    try {
      if (!binary) throw new Error('text');
      frame = packr.unpack(data) as typeof frame;
    } catch {
      ws.send(packr.pack({ t: 'error', error: { code: 'E_BAD_FRAME', message: 'send binary msgpack maps' } }));
      return;
    }
    if (frame === null || frame === undefined || !Number.isSafeInteger(frame.id)) {
      ws.send(packr.pack({ t: 'error', error: { code: 'E_BAD_COMMAND', message: 'no id' } }));
      return;
    }
    if (frame.type === 'post') {
      const event = packr.pack({ t: 'event', seq: ++seq, version: 1, event: { type: 'post', post: { text: frame.text } } });
      for (const client of wss.clients) client.send(event);
    }
    ws.send(packr.pack({ t: 'reply', id: frame.id, ok: true, data: null }));
  });
});
