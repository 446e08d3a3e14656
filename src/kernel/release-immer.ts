/**
 * immer for one release: a copy of the module of its own, so nothing a release does to immer reaches
 * another release, or outlives itself.
 *
 * immer keeps state at module level: its settings (autoFreeze, strict copies and iteration), its plugins
 * (enableMapSet, enablePatches, enableArrayMethods, which changes what array callbacks on drafts are
 * given), and the scope of the produce running now. With one module for the process, a release that
 * turned autoFreeze off, refused or not, changed every release loaded after it; and a handler stopped
 * by the watchdog inside produce left its scope current for good (a `finally` does not run when V8
 * terminates), so every later produce in the process took itself for a nested one and froze nothing,
 * and the dead scope kept a draft of that state reachable.
 *
 * So each release gets a copy of immer's CommonJS build, evaluated from source compiled once; and when a
 * call into immer finds that an earlier one was stopped inside it (it began in an earlier bounded call,
 * and never returned), the release's copy is replaced by a fresh one with the same settings and
 * plugins. Drafts, `nothing` and `immerable` are keyed by registered symbols, so the copies understand
 * each other's.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

type Module = Record<string, unknown>;

const SOURCE = (() => {
  const index = createRequire(import.meta.url).resolve('immer'); // dist/cjs/index.js
  return path.join(path.dirname(index), 'immer.cjs.development.js');
})();

/** immer's module body, compiled once; each call of it is a fresh module. */
let compiled: ((exports: Module, module: { exports: Module }, process: unknown) => void) | null = null;

/** What the build reads of `process`: only NODE_ENV, as the kernel's own immer sees it. */
const PROCESS = Object.freeze({ env: Object.freeze({ NODE_ENV: process.env['NODE_ENV'] }) });

function freshModule(): Module {
  compiled ??= vm.compileFunction(readFileSync(SOURCE, 'utf8'), ['exports', 'module', 'process'], { filename: SOURCE }) as never;
  const module = { exports: {} as Module };
  compiled!(module.exports, module, PROCESS);
  return module.exports;
}

/** The calls that enter a scope of immer's (a draft being made or finished). */
const SCOPED = new Set(['produce', 'produceWithPatches', 'createDraft', 'finishDraft', 'applyPatches']);
/** The calls whose effect a fresh copy must have again: settings and plugins. */
const KEPT = new Set(['setAutoFreeze', 'setUseStrictShallowCopy', 'setUseStrictIteration', 'enableMapSet', 'enablePatches', 'enableArrayMethods']);

/**
 * The `immer` a release's `require('immer')` returns. `epoch` counts the bounded calls into release code
 * so far (sandbox.ts): a call into immer still open from an earlier one was stopped inside it.
 */
export function immerFor(epoch: () => number): Readonly<Module> {
  let mod = freshModule();
  /** The last call of each setting or plugin, in the order made (a handler may call one every time). */
  const kept = new Map<string, unknown[]>();
  /** The epoch of each scoped call open now, innermost last. */
  const open: number[] = [];
  const facade: Module = {};
  for (const name of Object.keys(mod)) {
    const value = mod[name];
    if (typeof value !== 'function' || name === 'Immer') {
      facade[name] = value;
      continue;
    }
    facade[name] = SCOPED.has(name)
      ? (...args: unknown[]) => {
          const now = epoch();
          if (open.length > 0 && open[open.length - 1] !== now) {
            // stopped inside immer in an earlier call: its scope is still current there
            open.length = 0;
            mod = freshModule();
            for (const [setting, a] of kept) (mod[setting] as (...x: unknown[]) => unknown)(...a);
          }
          open.push(now);
          try {
            return (mod[name] as (...x: unknown[]) => unknown)(...args);
          } finally {
            open.pop();
          }
        }
      : KEPT.has(name)
        ? (...args: unknown[]) => {
            kept.delete(name);
            kept.set(name, args);
            return (mod[name] as (...x: unknown[]) => unknown)(...args);
          }
        : (...args: unknown[]) => (mod[name] as (...x: unknown[]) => unknown)(...args);
  }
  return Object.freeze(facade);
}
