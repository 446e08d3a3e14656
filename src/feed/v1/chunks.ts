/**
 * A long list stored as chunks of CHUNK entries, so that changing one entry through immer copies one
 * chunk and the outer array of chunk references, never the whole list. Entry `i` lives at
 * `chunks[i >> SHIFT][i & MASK]`; every chunk but the last is full.
 *
 * The helpers read frozen states and write immer drafts alike: `chunkSet` on a draft touches exactly
 * one chunk.
 */

export const SHIFT = 10;
export const CHUNK = 1 << SHIFT; // 1024
const MASK = CHUNK - 1;

export type Chunks<T> = T[][];

/** How many entries the list holds. O(1). */
export function chunkLength<T>(chunks: readonly (readonly T[])[]): number {
  const last = chunks[chunks.length - 1];
  return last === undefined ? 0 : (chunks.length - 1) * CHUNK + last.length;
}

/** Entry `i`, or undefined when `i` is out of range. */
export function chunkGet<T>(chunks: readonly (readonly T[])[], i: number): T | undefined {
  if (!Number.isInteger(i) || i < 0) return undefined;
  return chunks[i >> SHIFT]?.[i & MASK];
}

/** Replace entry `i` (which must exist). On a draft this copies one chunk. */
export function chunkSet<T>(chunks: Chunks<T>, i: number, value: T): void {
  const chunk = chunks[i >> SHIFT];
  if (chunk === undefined || (i & MASK) >= chunk.length) throw new RangeError(`chunk index ${i} out of range`);
  chunk[i & MASK] = value;
}

/** Append an entry; returns its index. On a draft this copies the last chunk (or starts a new one). */
export function chunkPush<T>(chunks: Chunks<T>, value: T): number {
  const i = chunkLength(chunks);
  if ((i & MASK) === 0) chunks.push([value]);
  else chunks[chunks.length - 1]!.push(value);
  return i;
}

/** Build chunks from a plain array with a plain loop (no immer): for migrations and test states. */
export function toChunks<T>(items: readonly T[]): Chunks<T> {
  const out: Chunks<T> = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/** Every entry in order, as one plain array (for tests and small states). */
export function fromChunks<T>(chunks: readonly (readonly T[])[]): T[] {
  const out: T[] = [];
  for (const chunk of chunks) for (const item of chunk) out.push(item);
  return out;
}
