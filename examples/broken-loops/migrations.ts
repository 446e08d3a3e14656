/** Broken on purpose: migration 1 -> 2 never ends. The kernel must stop it with its time limit. */
import type { Migration } from '../../src/contract.ts';
import type { State as V1 } from '../../src/feed/v1/state.ts';
import type { State as V2 } from '../../src/feed/v2/state.ts';

const loops: Migration<V1, V2> = {
  from: 1,
  to: 2,
  describe: 'likes become ❤️ reactions (broken: never ends)',
  up(): never {
    for (;;) {}
  },
};

export const migrations: readonly Migration[] = [loops];
