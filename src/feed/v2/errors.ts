/** Feed v2's refusals: all of v1's plus bad_emoji. docs/FEED.md documents each code. */
import type { Refusal } from '../../contract.ts';
import { ERRORS as V1_ERRORS, refusal } from '../v1/errors.ts';

export const ERRORS = {
  ...V1_ERRORS,
  bad_emoji: 'Pick one of ❤️ 😂 🎉 😮 😢 👍.',
} as const;

export type ErrorCode = keyof typeof ERRORS;

export function refuse(code: ErrorCode): Refusal {
  return refusal(code, ERRORS[code]);
}
