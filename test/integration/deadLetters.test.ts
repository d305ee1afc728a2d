import { describe, expect, it } from 'vitest';
import { listDeadLetters, retryDeadLetter } from '../../src/client/deadLetters.js';
import { eventually } from '../helpers/eventually.js';
import { runCli } from '../helpers/cli.js';
import { publishRaw, readStream, serverPerFile, workflowScope } from '../helpers/harness.js';

// Operators see what was refused (hitl dlq) and send it again once the cause is fixed
// (hitl dlq retry <seq>).

const shared = serverPerFile();

describe('hitl dlq', () => {
  it('lists dead letters, and sends one again to the subject it came on', async () => {
    await using t = workflowScope(shared.server, 'dlq');
    await t.worker();
    const s = t.subjects;
    await publishRaw(shared.nc, s.ticketsNew, 'not json at all');
    const [letter] = await eventually(async () => {
      const letters = await listDeadLetters(shared.nc, s);
      expect(letters).toHaveLength(1);
      return letters;
    });
    expect(letter).toMatchObject({
      source: 'tickets',
      subject: s.ticketsNew,
      raw: 'not json at all',
    });
    expect(letter?.reason).toMatch(/^payload is not JSON/);

    const env = { NATS_URL: shared.server.url, HITL_PREFIX: s.prefix };
    const listed = await runCli(['dlq', '--json'], env);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([letter]);

    const seq = letter?.seq ?? 0;
    expect(await retryDeadLetter(shared.nc, s, seq)).toEqual({
      subject: s.ticketsNew,
      duplicate: false,
    });
    // The original bytes are stored again on their subject, and the dead letter is gone; the
    // cause is not fixed here, so the worker refuses the copy again, as a new dead letter.
    const tickets = await readStream(shared.nc, s.streams.tickets, s.ticketsNew);
    expect(tickets.map((m) => m.data)).toEqual(['not json at all', 'not json at all']);
    await eventually(async () => {
      const letters = await listDeadLetters(shared.nc, s);
      expect(letters.map((l) => l.seq)).toEqual([seq + 1]);
    });
    await expect(retryDeadLetter(shared.nc, s, seq)).rejects.toThrow(
      `no dead letter ${seq} in ${s.streams.dlq} (hitl dlq lists them)`,
    );
  });
});
