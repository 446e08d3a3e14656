/**
 * What `npm start` and `npm run demo` read from the environment (README: the table), and how they
 * tell a person the feed is up: one line with the URL first. On a terminal the logs that follow are
 * pretty; otherwise (a pipe, a file, a service manager) every line, that one included, is JSON.
 */
import { Writable } from 'node:stream';
import pretty from 'pino-pretty';
import { configFromEnv } from './config.ts';
import type { RunningServer, ServerOptions } from './server.ts';
import { TokenFileError, usableToken } from './transport/token.ts';
import { BuildError } from './release/build.ts';
import { ListenError } from './server.ts';

export type Env = Readonly<Record<string, string | undefined>>;

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Server options from PORT, HOST, OPERATOR_PORT, OPERATOR_HOST, MOLT_BOOT, MOLT_TOKEN_FILE, LOG_LEVEL
 *  and every limit's MOLT_* variable (src/config.ts; MOLT_TOKEN is read by the server itself, and checked here). A bad
 *  value throws, naming the variable. */
export function serverOptionsFromEnv(env: Env): ServerOptions {
  const port = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name}=${raw} is not a port (0 to 65535)`);
    return n;
  };
  // MOLT_TOKEN travels in an HTTP header, where a space at either end is dropped and a character
  // past ASCII cannot go: one the server would hold but no request could ever match is refused here,
  // with the short one (a stack trace at start, exit 1, from the server's own check)
  const token = env['MOLT_TOKEN'];
  if (token !== undefined && token !== '' && !usableToken(token))
    throw new Error(`MOLT_TOKEN must be at least 16 characters of printable ASCII, with no spaces (it is sent in an HTTP header); it is ${token.length} characters${/^[\x21-\x7e]*$/.test(token) ? '' : ', some of them spaces, controls or past ASCII'}`);
  const level = env['LOG_LEVEL'];
  if (level !== undefined && level !== '' && !LEVELS.includes(level)) throw new Error(`LOG_LEVEL=${level} is not one of ${LEVELS.join(', ')}`);
  return {
    port: port('PORT', 8080),
    host: env['HOST'] || '0.0.0.0',
    operatorPort: port('OPERATOR_PORT', 8081),
    operatorHost: env['OPERATOR_HOST'] || '127.0.0.1',
    ...(env['MOLT_BOOT'] ? { boot: env['MOLT_BOOT'] } : {}),
    ...(env['MOLT_TOKEN_FILE'] ? { tokenFile: env['MOLT_TOKEN_FILE'] } : {}),
    ...(level ? { logLevel: level as 'info' } : {}),
    ...configFromEnv(env),
  };
}

/**
 * Where the logs go: held back until `ready()` has printed the line with the URL, then pretty on a
 * terminal, JSON lines otherwise.
 */
export function logOutput(out: NodeJS.WriteStream = process.stdout): { stream: Writable; ready(server: RunningServer, what: string): void } {
  const tty = out.isTTY === true;
  const sink: NodeJS.WritableStream = tty ? pretty({ colorize: true, singleLine: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname,service' }) : out;
  let held: Buffer[] | null = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (held) held.push(chunk);
      else sink.write(chunk);
      done();
    },
  });
  return {
    stream,
    ready(server, what) {
      const line = `${server.url}  ${what}`;
      if (tty) out.write(`\n  \x1b[1m${server.url}\x1b[0m  ${what}\n\n`);
      else out.write(JSON.stringify({ level: 30, time: Date.now(), service: 'molt', msg: line, url: server.url, operator: server.operatorUrl, version: server.kernel.version }) + '\n');
      const buffered = held ?? [];
      held = null;
      for (const chunk of buffered) sink.write(chunk);
    },
  };
}

/**
 * What a start that failed on a setting says (`npm start` and `npm run demo` alike, then exit 2): a boot
 * version that does not build, a token file no request can carry, a port that cannot be taken. Null for
 * anything else.
 */
export function settingFailure(err: unknown, env: Env): string | null {
  if (err instanceof BuildError) return `MOLT_BOOT=${env['MOLT_BOOT'] || '1 (the default)'} does not build: ${err.message}`;
  if (err instanceof TokenFileError) return err.message;
  if (!(err instanceof ListenError)) return null;
  const port = err.listener === 'public' ? 'PORT' : 'OPERATOR_PORT';
  const why = err.code === 'EADDRINUSE' ? 'is in use (another molt, or another program, listens there): stop that one or set another' : `cannot be taken (${(err.cause as Error).message}): set another`;
  return `${port}=${err.port} on ${err.host} ${why} ${port}`;
}
