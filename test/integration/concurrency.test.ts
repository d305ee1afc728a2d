import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { supportActors, supportIntake, type SupportModel } from '../../actors/index.js';
import { createLogger, Subjects, Worker } from '../../src/index.js';
import { ensureTopology } from '../../src/nats/topology.js';
import { eventually } from '../helpers/eventually.js';
import { publishRaw, serverPerFile, testConfig, uniquePrefix } from '../helpers/harness.js';

// `--concurrency N` bounds the steps of the whole worker, not of each of its pull loops.

const shared = serverPerFile();

/** A model whose calls wait for `release()`, counting how many run at once. */
function gatedModel() {
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const state = { running: 0, max: 0, calls: 0 };
  const call = async <T>(value: T): Promise<T> => {
    state.running += 1;
    state.calls += 1;
    state.max = Math.max(state.max, state.running);
    await gate;
    state.running -= 1;
    return value;
  };
  const model: SupportModel = {
    name: 'gated',
    classify: () => call({ category: 'technical', confidence: 0.9 }),
    draft: () => call('we are on it'),
  };
  return { model, state, release: () => open() };
}

describe('--concurrency', () => {
  it('bounds the steps of the whole worker across its pull loops', async () => {
    const prefix = uniquePrefix('conc');
    const s = new Subjects(prefix);
    const config = testConfig(shared.server, prefix);
    const logger = createLogger({}, 'silent');
    await ensureTopology(shared.nc, s, ['triage', 'specialist', 'gate'], {}, {}, logger);
    const gated = gatedModel();
    const worker = await Worker.start({
      config,
      definitions: supportActors({ model: gated.model, approvalCategories: [] }),
      intake: supportIntake,
      concurrency: 3,
      logger,
    });
    try {
      // Work for two pull loops at once: six tickets, and six triaged tickets for the specialist.
      const triaged = { type: 'triaged', category: 'technical', confidence: 0.9, by: 'model' };
      await Promise.all(
        Array.from({ length: 6 }, (_, i) => [
          publishRaw(shared.nc, s.ticketsNew, { request: 'bug' }),
          publishRaw(shared.nc, s.mailbox('specialist', `${prefix}w${i}`), {
            ...triaged,
            request: 'bug',
          }),
        ]).flat(),
      );
      const jsm = await jetstreamManager(shared.nc);
      const ackPending = async () =>
        (await jsm.consumers.info(s.streams.tickets, s.consumer('tickets'))).num_ack_pending +
        (await jsm.consumers.info(s.streams.mailbox, s.consumer('actor-specialist')))
          .num_ack_pending;
      // Both loops have pulled what they could, and the steps have reached the model.
      await eventually(async () => {
        expect(await ackPending()).toBeGreaterThanOrEqual(6);
        expect(gated.state.running).toBeGreaterThanOrEqual(3);
      });
      gated.release();
      // Six classifications, six drafts for those tickets and six for the specialist's messages.
      await eventually(() => gated.state.calls === 18, { timeout: 20_000 });
      expect(gated.state.max).toBe(3);
    } finally {
      gated.release();
      await worker.stop();
    }
  });
});
