/**
 * Imported before SES, which builds every compartment's RegExp over the global one it finds when it
 * loads: that one is then the bounded RegExp (builtins.ts, boundRegExp).
 */
import { boundRegExp } from './builtins.ts';

boundRegExp();
