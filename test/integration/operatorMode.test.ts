import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectNats,
  HitlClient,
  loadConfig,
  Subjects,
  type HitlConfig,
  type Worker,
} from '../../src/index.js';
import { startNatsServer, type NatsServerHandle } from '../../src/cli/natsServer.js';
import { eventually } from '../helpers/eventually.js';
import { readStream, startWorker } from '../helpers/harness.js';
import { operatorSetup, type OperatorSetup } from '../helpers/operatorMode.js';
import { refusal } from '../helpers/shippedRoles.js';

// Decentralised auth (operator, account and user JWTs), where one template serves every
// reviewer: the account's scoped signing key allows hitl.human.respond.*.{{name()}}, and the
// server fills in each reviewer's JWT name. nats-server in operator mode, memory resolver.
let ops: OperatorSetup;
let server: NatsServerHandle;
let worker: Worker;
let anaCreds: string;
const subjects = new Subjects('hitl');
const encoder = new TextEncoder();

function credsConfig(creds: string, env: Record<string, string> = {}): HitlConfig {
  return loadConfig({
    NATS_URL: server.url,
    NATS_CREDS: creds,
    HITL_MODEL_PROVIDER: 'mock',
    HITL_REVIEWER_FROM_SUBJECT: 'true',
    ...env,
  });
}

const reviewerConfig = (creds: string) =>
  credsConfig(creds, { NATS_INBOX_PREFIX: '_INBOX_reviewer' });

async function responsesStored(): Promise<number> {
  const nc = await connectNats(credsConfig(ops.creds.worker ?? '').nats);
  try {
    return (await (await jetstreamManager(nc)).streams.info(subjects.streams.responses)).state
      .messages;
  } finally {
    await nc.close();
  }
}

beforeAll(async () => {
  ops = await operatorSetup();
  server = await startNatsServer({ configFile: ops.configFile });
  worker = await startWorker(credsConfig(ops.creds.worker ?? ''));
  anaCreds = await ops.reviewer('ana');
});

afterAll(async () => {
  await worker?.stop();
  await server?.dispose();
  await ops?.[Symbol.asyncDispose]();
});

describe('operator mode: reviewers signed with a scoped signing key', () => {
  it('lets a reviewer answer as themself, and refuses them another name or an unnamed answer', async () => {
    const start = await HitlClient.connect({ config: credsConfig(ops.creds.worker ?? '') });
    try {
      await start.submit({ id: 'jwt-1', request: 'I want my money back' });
    } finally {
      await start.close();
    }
    const ana = await HitlClient.connect({ config: reviewerConfig(anaCreds) });
    try {
      await eventually(async () => expect((await ana.interrupt('jwt-1'))?.type).toBe('approval'));
      const before = await responsesStored();
      const js = jetstream(ana.nc);
      const answer = encoder.encode('{"answer":"yes"}');
      for (const subject of [subjects.respond('jwt-1', 'bo'), subjects.respond('jwt-1')]) {
        expect(await refusal(() => js.publish(subject, answer))).toContain(
          `Permissions Violation for Publish to "${subject}"`,
        );
      }
      expect(await responsesStored()).toBe(before);

      expect(await ana.resume('jwt-1', { resume: 'yes', reviewer: 'ana' })).toMatchObject({
        status: 'completed',
        outcome: 'sent',
      });
    } finally {
      await ana.close();
    }
    const nc = await connectNats(credsConfig(ops.creds.worker ?? '').nats);
    try {
      const replies = await readStream(
        nc,
        subjects.streams.outbound,
        subjects.outboundReply('jwt-1'),
      );
      expect(replies.map((r) => r.data)).toEqual([expect.objectContaining({ approvedBy: 'ana' })]);
    } finally {
      await nc.close();
    }
  });

  it('gives every reviewer the same template, each with their own name', async () => {
    const boCreds = await ops.reviewer('bo');
    const bo = await connectNats(reviewerConfig(boCreds).nats);
    try {
      const js = jetstream(bo);
      expect(
        await refusal(() => js.publish(subjects.respond('jwt-2', 'ana'), encoder.encode('{}'))),
      ).toContain('Permissions Violation for Publish to "hitl.human.respond.jwt-2.ana"');
      // Allowed by the template: the publish reaches the stream (no workflow waits, so the
      // runtime rejects it; what matters here is that the server let bo publish as bo).
      const ack = await js.publish(
        subjects.respond('jwt-2', 'bo'),
        encoder.encode('{"answer":"yes"}'),
      );
      expect(ack.stream).toBe(subjects.streams.responses);
    } finally {
      await bo.close();
    }
  });

  it('refuses a reviewer what the role may not read or write', async () => {
    const nc = await connectNats(reviewerConfig(anaCreds).nats);
    try {
      const js = jetstream(nc);
      expect(
        await refusal(() => js.publish(subjects.ticketsNew, encoder.encode('{"request":"x"}'))),
      ).toContain('Permissions Violation for Publish to "hitl.tickets.new"');
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      expect(
        await refusal(() => jsm.streams.getMessage(subjects.streams.dlq, { seq: 1 })),
      ).toContain('Permissions Violation for Publish to "$JS.API.STREAM.MSG.GET.HITL_DLQ"');
      for (const subject of ['_INBOX.>', '_INBOX_worker.>', 'hitl.actor.>']) {
        expect(String(await nc.subscribe(subject).closed)).toContain(
          `Permissions Violation for Subscription to "${subject}"`,
        );
      }
    } finally {
      await nc.close();
    }
  });
});
