/**
 * Calls that take turns per key: a call for a key starts once every earlier call for that key
 * has finished, whether it succeeded or failed; calls for other keys run alongside. The
 * checkpointer's writers of one process take turns on a checkpoint's writes entry this way,
 * instead of meeting in compare-and-set conflicts.
 *
 * @example
 * const turns = new KeyedTurns();
 * await Promise.all([turns.run('k', a), turns.run('k', b)]); // b starts after a ends
 */
export class KeyedTurns {
  // Key -> the end of the last call queued on it.
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const mine = before.then(fn, fn);
    const done = mine.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, done);
    try {
      return await mine;
    } finally {
      if (this.tails.get(key) === done) this.tails.delete(key);
    }
  }
}
