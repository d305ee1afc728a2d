/**
 * `--concurrency` bounds the steps of the whole worker. Each pull loop sizes its batch by the
 * free capacity it sees, but two loops may see the same free slots at once: a message pulled
 * beyond the bound waits here (kept alive by its heartbeat) until a step ends.
 */
export class Slots {
  /** Steps running now, across every pull loop: at most `concurrency`. */
  private running = 0;
  /** Messages pulled while every slot was taken, first come first served. */
  private readonly queue: (() => void)[] = [];

  constructor(private readonly concurrency: number) {}

  /** Waits for a free slot, and takes it. */
  async take(): Promise<void> {
    if (this.running < this.concurrency) {
      this.running += 1;
      return;
    }
    // The slot is handed over by release, already counted.
    await new Promise<void>((resolve) => this.queue.push(resolve));
  }

  /** Hands the slot to the first message waiting, or frees it. */
  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.running -= 1;
  }
}
