/**
 * A full collection, for the memory guards (orchestrate.ts): what a process keeps, without the garbage
 * not yet collected that its heap statistics count too. V8 gives `gc` to contexts made while its
 * --expose-gc flag is on; the flag is on only while the one context it is taken from is made, so no
 * other context (a release's) has it.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

export const collect = ((): (() => void) => {
  v8.setFlagsFromString('--expose-gc');
  try {
    return vm.runInNewContext('gc') as () => void;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
})();
