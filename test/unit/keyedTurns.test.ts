import { describe, expect, it } from 'vitest';
import { KeyedTurns } from '../../src/langgraph/keyedTurns.js';

function latch(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('KeyedTurns', () => {
  it('starts a call for a key only after the earlier one ended, failed or not', async () => {
    const turns = new KeyedTurns();
    const gate = latch();
    const log: string[] = [];
    const first = turns.run('k', async () => {
      log.push('first start');
      await gate.promise;
      log.push('first end');
      throw new Error('first failed');
    });
    const second = turns.run('k', () => {
      log.push('second');
      return Promise.resolve(2);
    });
    const other = turns.run('other', () => {
      log.push('other');
      return Promise.resolve(3);
    });
    expect(await other).toBe(3);
    expect(log).toEqual(['first start', 'other']);
    gate.open();
    await expect(first).rejects.toThrow('first failed');
    expect(await second).toBe(2);
    expect(log).toEqual(['first start', 'other', 'first end', 'second']);
  });
});
