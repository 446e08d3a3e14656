import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const running = new Set<ChildProcess>();

/** Kill every server this file started that is still running (call it in afterAll: a test that
 *  timed out never reached its own finally). */
export function stopChildren(): void {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  running.clear();
}

/** `src/main.ts` (or another server) in a child process on free ports; resolves with its URL once it
 *  prints it (as a JSON log line with `url`). */
export async function startChild(env: Record<string, string> = {}, entry = 'src/main.ts') {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', OPERATOR_PORT: '0', MOLT_TOKEN: 'child-server-token-0123456789', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const lines: string[] = [];
  let rest = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      rest += String(d);
      for (let nl = rest.indexOf('\n'); nl >= 0; nl = rest.indexOf('\n')) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        lines.push(line);
        const url = (JSON.parse(line) as { url?: string }).url;
        if (url) resolve(url);
      }
    });
    child.stderr!.on('data', (d: Buffer) => lines.push(String(d)));
    child.once('exit', (code) => reject(new Error(`the server exited with ${code}: ${lines.join('\n')}`)));
  });
  return { child, url, wsUrl: `${url.replace(/^http/, 'ws')}/ws`, lines };
}


/**
 * Run `script` (an ES module in TypeScript; `${SRC('src/...')}` in it imports a file of this repository)
 * in a Node process of its own, and resolve with its exit code and what it wrote to stdout; or with
 * `late` if it is still running after `ms`, when it is killed: what a test sees of a process that
 * wedged, instead of a stuck test run.
 */
export async function runScript(script: string, ms: number, late: string, flags: string[] = []): Promise<{ ended: number | string; out: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'molt-script-'));
  const file = path.join(dir, 'script.mts');
  writeFileSync(file, script);
  try {
    const child = spawn(process.execPath, [...flags, '--import', 'tsx', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const ended = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(late);
      }, ms);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code ?? -1);
      });
    });
    return { ended, out };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A file of this repository as a quoted file URL, to import from a script `runScript` runs. */
export const SRC = (p: string): string => JSON.stringify(pathToFileURL(path.join(ROOT, p)).href);
