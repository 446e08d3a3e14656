/**
 * The mirror: how the rehearsal process keeps an exact copy of the live state, so that release code
 * can run over the whole of it where an out-of-memory crash costs nothing.
 *
 *   full     the state in chunks: small subtrees whole, big nodes as shells whose big children follow
 *            (each chunk a [path, value] pair); the child builds the tree in order, then freezes it
 *   patches  what changed since the last sync, found by walking both states side by side and stopping
 *            wherever a node is the very same object: O(changes). A subtree that moved under a new
 *            parent (a vector's old root under its new one) is sent as a reference to where it was.
 *            A node replaced by an equal one (a like, then an unlike) is "touched": the mirror copies
 *            it too, so which entities are new objects is the same on both sides, and a catch-up
 *            round (which finds what changed by identity) re-migrates the same ones in both processes.
 *            Key order is copied too: a key deleted and added again goes last in the live node, where
 *            the copy would keep it in place (a REORDER patch puts the copy's keys in the live order).
 *
 * Both sides hold frozen trees of the same shape, so a patch addresses nodes by path. Patches carry the
 * old length or key count of each node they change, and the child checks them: a mirror that drifted
 * from the live state is noticed and rebuilt from a full sync. Nothing here runs release code.
 */
import { put } from '../guard.ts';

export type Path = (string | number)[];

/**
 * One change: set a value at a path, delete a key, truncate an array, put back a moved subtree, touch
 * a node (the same content, a new object), or put a node's keys in a new order.
 */
export type Patch =
  | readonly [op: 0, path: Path, value: unknown]
  | readonly [op: 1, path: Path]
  | readonly [op: 2, path: Path, length: number]
  | readonly [op: 3, path: Path, from: Path]
  | readonly [op: 4, path: Path]
  | readonly [op: 5, path: Path, keys: string[]];

export const SET = 0;
export const DELETE = 1;
export const TRUNCATE = 2;
export const MOVED = 3;
export const TOUCH = 4;
export const REORDER = 5;

/** Rough bytes of a value, stopping once past `limit` (so a big subtree costs `limit`, not its size). */
export function sizeUpTo(value: unknown, limit: number): number {
  let size = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && size <= limit) {
    const v = stack.pop();
    if (typeof v === 'string') size += v.length + 1;
    else if (typeof v === 'object' && v !== null) {
      size += 3;
      if (Array.isArray(v)) for (let i = 0; i < v.length; i++) stack.push(v[i]);
      else
        for (const k in v) {
          size += k.length + 1;
          stack.push((v as Record<string, unknown>)[k]);
        }
    } else size += 9;
  }
  return size;
}

/**
 * Split `state` into chunks of about `chunkBytes`, in an order the child can build from: a shell comes
 * before the big children that fill it. Resumable: call next() until it returns null.
 */
export class FullSync {
  readonly #stack: { path: Path; value: unknown }[];
  readonly #chunkBytes: number;

  constructor(state: unknown, chunkBytes = 64 * 1024) {
    this.#stack = [{ path: [], value: state }];
    this.#chunkBytes = chunkBytes;
  }

  /** The next batch of patches, about `budgetBytes` in all; null when the whole state is out. */
  next(budgetBytes: number): Patch[] | null {
    if (this.#stack.length === 0) return null;
    const out: Patch[] = [];
    let bytes = 0;
    while (this.#stack.length > 0 && bytes < budgetBytes) {
      const { path, value } = this.#stack.pop()!;
      const size = sizeUpTo(value, this.#chunkBytes);
      if (size <= this.#chunkBytes || typeof value !== 'object' || value === null) {
        out.push([SET, path, value]);
        bytes += size;
        continue;
      }
      // a big node: its shell (small children inline, big ones as null) now, the big ones after
      const big: { path: Path; value: unknown }[] = [];
      let shell: unknown;
      if (Array.isArray(value)) {
        const copy: unknown[] = new Array(value.length);
        for (let i = 0; i < value.length; i++) {
          const child: unknown = value[i];
          if (typeof child === 'object' && child !== null) {
            copy[i] = null;
            big.push({ path: [...path, i], value: child });
          } else copy[i] = child;
        }
        shell = copy;
      } else {
        const copy: Record<string, unknown> = {};
        for (const k in value) {
          const child = (value as Record<string, unknown>)[k];
          if (typeof child === 'object' && child !== null) {
            // put, not assigned: a state holding an object of more than 64 KB with a key named
            // constructor could not be upgraded at all (E_INTERNAL, this copy failing)
            put(copy, k, null);
            big.push({ path: [...path, k], value: child });
          } else put(copy, k, child);
        }
        shell = copy;
      }
      out.push([SET, path, shell]);
      bytes += 64;
      // pushed in reverse so they come out in order
      for (let i = big.length - 1; i >= 0; i--) this.#stack.push(big[i]!);
    }
    return out;
  }
}

/** What changed from `before` to `after`, as patches; O(the changed paths). */
export function diff(before: unknown, after: unknown): Patch[] {
  const out: Patch[] = [];
  if (before !== after) diffValue(before, after, [], [], out);
  return out;
}

interface Ancestor {
  node: object;
  path: Path;
}

function diffValue(a: unknown, b: unknown, path: Path, ancestors: Ancestor[], out: Patch[]): void {
  if (a === b) return;
  if (typeof b === 'object' && b !== null) {
    // a subtree that moved under a new parent: one of the old nodes above this one
    for (let i = ancestors.length - 1; i >= 0; i--) {
      if (ancestors[i]!.node === b) {
        out.push([MOVED, path, ancestors[i]!.path]);
        return;
      }
    }
    if (typeof a === 'object' && a !== null && Array.isArray(a) === Array.isArray(b)) {
      const before = out.length;
      ancestors.push({ node: a, path });
      if (Array.isArray(b)) {
        const old = a as unknown[];
        for (let i = 0; i < b.length; i++) diffValue(old[i], b[i], [...path, i], ancestors, out);
        if (b.length < old.length) out.push([TRUNCATE, path, b.length]);
      } else {
        const old = a as Record<string, unknown>;
        for (const k in b) diffValue(old[k], (b as Record<string, unknown>)[k], [...path, k], ancestors, out);
        for (const k in old) if (!Object.hasOwn(b, k)) out.push([DELETE, [...path, k]]);
        // the copy keeps its keys where they were and adds new ones at the end; the live node may
        // have them otherwise (a reaction taken back and given again goes last): key order is content
        const keys = reordered(old, b as Record<string, unknown>);
        if (keys !== null) out.push([REORDER, path, keys]);
      }
      ancestors.pop();
      // a new object with nothing new in it: the mirror's gets renewed too
      if (out.length === before) out.push([TOUCH, path]);
      return;
    }
  }
  out.push([SET, path, b]);
}

/**
 * The keys of `b` in its order, when a copy of `a` patched to `b` would have them in another: the keys
 * `a` keeps stay where they were there, and new ones go last. Null when the order is the same.
 */
function reordered(a: Record<string, unknown>, b: Record<string, unknown>): string[] | null {
  const now = Object.keys(b);
  let i = 0;
  for (const k in a) {
    if (!Object.hasOwn(b, k)) continue;
    if (now[i++] !== k) return now;
  }
  for (; i < now.length; i++) if (Object.hasOwn(a, now[i]!)) return now;
  return null;
}

/** A node of the copy being patched (fresh, not yet frozen) with its keys put in `keys`' order. */
function inOrder(node: Record<string | number, unknown>, keys: readonly string[]): Record<string | number, unknown> {
  const values = keys.map((k) => node[k]);
  for (const k of keys) delete node[k];
  keys.forEach((k, i) => put(node, k, values[i]));
  return node;
}

/** The value at `path` in `root`, or undefined. */
export function at(root: unknown, path: Path): unknown {
  let node = root;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return node;
}

/**
 * Apply patches to a frozen tree by path copies (each touched node copied once per batch, frozen at
 * the end with the new values), returning the new root. Values set are deep-frozen here.
 */
export function apply(root: unknown, patches: readonly Patch[]): unknown {
  const fresh = new Set<object>();
  const own = (node: unknown, key: string | number | undefined): Record<string | number, unknown> => {
    if (typeof node === 'object' && node !== null) {
      if (fresh.has(node)) return node as Record<string | number, unknown>;
      const copy = Array.isArray(node) ? node.slice() : { ...(node as object) };
      fresh.add(copy);
      return copy as Record<string | number, unknown>;
    }
    // a path through nothing: only for a number key is it an array
    const made = typeof key === 'number' ? [] : {};
    fresh.add(made);
    return made as Record<string | number, unknown>;
  };
  // what a patch makes of the node it addresses (`was`, under `key`): all but DELETE, which takes it away
  const made = (patch: Patch, was: unknown, key: string | number | undefined): unknown => {
    switch (patch[0]) {
      case SET:
        return deepFreeze(patch[2]);
      case MOVED:
        return at(root, patch[2]);
      case TOUCH:
        return own(was, key);
      case REORDER:
        return inOrder(own(was, key), patch[2]);
      case TRUNCATE: {
        const copy = own(was, 0) as unknown as unknown[];
        copy.length = patch[2];
        return copy;
      }
      default:
        return undefined;
    }
  };
  let top: unknown = root;
  for (const patch of patches) {
    const path = patch[1];
    if (path.length === 0) {
      if (patch[0] !== DELETE) top = made(patch, top, undefined);
      continue;
    }
    top = own(top, path[0]);
    let node = top as Record<string | number, unknown>;
    for (let i = 0; i < path.length - 1; i++) {
      const child = own(node[path[i]!], path[i + 1]);
      put(node, path[i]!, child);
      node = child;
    }
    const last = path[path.length - 1]!;
    if (patch[0] === DELETE) delete node[last];
    else put(node, last, made(patch, node[last], last));
  }
  for (const node of fresh) Object.freeze(node);
  return top;
}

/** Freeze a freshly decoded subtree (every node: nothing in it is shared yet). */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  const stack: object[] = [value];
  while (stack.length > 0) {
    const node = stack.pop()!;
    Object.freeze(node);
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const v: unknown = node[i];
        if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) stack.push(v);
      }
    } else
      for (const k in node) {
        const v = (node as Record<string, unknown>)[k];
        if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) stack.push(v);
      }
  }
  return value;
}

/**
 * Build a state from a full sync's patches, in order. Shells are filled in place as their children
 * arrive (nothing is shared yet), and the whole tree is frozen at the end.
 */
export class Builder {
  #root: unknown = undefined;

  add(patches: readonly Patch[]): void {
    for (const patch of patches) {
      if (patch[0] !== SET) throw new Error('a full sync only sets values');
      const [, path, value] = patch;
      if (path.length === 0) {
        this.#root = value;
        continue;
      }
      const parent = at(this.#root, path.slice(0, -1)) as Record<string | number, unknown>;
      put(parent, path[path.length - 1]!, value);
    }
  }

  /** The built state, deep-frozen. */
  done(): unknown {
    return deepFreeze(this.#root);
  }
}
