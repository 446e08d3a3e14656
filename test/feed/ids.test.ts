import { describe, expect, it } from 'vitest';
import { postId, postSlot, userId, userSlot } from '../../src/feed/v1/ids.ts';

describe('ids', () => {
  it('derives ids from slots and back', () => {
    for (const slot of [0, 1, 35, 36, 1023, 999_999, 2 ** 40]) {
      expect(userSlot(userId(slot))).toBe(slot);
      expect(postSlot(postId(slot))).toBe(slot);
    }
    expect(userId(0)).toBe('u1');
    expect(postId(9)).toBe('pa');
    expect(postId(35)).toBe('p10');
  });

  it('rejects ids that are not spelled canonically', () => {
    for (const id of ['u0', 'u01', 'u99999999999999999', 'U1', 'u', 'u1.5', 'p1', 'u-1', 'u1e3', 1, null]) expect(userSlot(id)).toBe(-1);
    for (const id of ['p0', 'p01', 'pzzzzzzzzzzzz', 'pA', 'p', 'p_', 'u1', 'p-1', 'p1 ', 7]) expect(postSlot(id)).toBe(-1);
  });
});
