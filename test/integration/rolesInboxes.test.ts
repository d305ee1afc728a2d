import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { describe, expect, it } from 'vitest';
import { HitlClient, Subjects, WorkflowNotParkedError } from '../../src/index.js';
import { readWorkflowEvents } from '../../src/client/eventLog.js';
import { runCli } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { readStream } from '../helpers/harness.js';
import { INBOX_PREFIX, refusal, shippedRolesServer, type Role } from '../helpers/shippedRoles.js';

// deploy/nats-server.conf, as shipped: per-role reply inboxes, reviewers who may answer only as
// themselves, the inbox gateway and the operator. Each allowed action succeeds; each refused one
// is refused by the server, and nothing reaches the streams.
const shipped = shippedRolesServer();
const subjects = new Subjects('hitl');
const encoder = new TextEncoder();

/** Submits a refund ticket as the publisher and waits until it waits at the gate. */
async function atGate(id: string): Promise<void> {
  const publisher = await HitlClient.connect({ config: shipped.config('publisher') });
  try {
    await publisher.submit({ id, request: 'I want my money back' });
  } finally {
    await publisher.close();
  }
  const reader = await HitlClient.connect({ config: shipped.config('ana') });
  try {
    await eventually(async () => expect((await reader.interrupt(id))?.type).toBe('approval'));
  } finally {
    await reader.close();
  }
}

async function outbound(wf: string): Promise<unknown[]> {
  const rows = await readStream(
    shipped.admin,
    subjects.streams.outbound,
    subjects.outboundReply(wf),
  );
  return rows.map((r) => r.data);
}

describe('per-role reply inboxes', () => {
  it('refuses a publisher that subscribes to _INBOX.> or another role’s prefix; it sees nothing while workflows run', async () => {
    await shipped.as('publisher', async (nc) => {
      let seen = 0;
      const others = (Object.keys(INBOX_PREFIX) as Role[])
        .filter((role) => INBOX_PREFIX[role] !== INBOX_PREFIX.publisher)
        .map((role) => `${INBOX_PREFIX[role]}.>`);
      const wanted = ['_INBOX.>', ...new Set(others), '>'];
      const subs = wanted.map((subject) =>
        nc.subscribe(subject, {
          callback: (err) => {
            if (!err) seen += 1;
          },
        }),
      );
      const closed = await Promise.all(subs.map((s) => s.closed));
      wanted.forEach((subject, i) =>
        expect(String(closed[i])).toContain(
          `Permissions Violation for Subscription to "${subject}"`,
        ),
      );

      // A workflow runs end to end meanwhile: worker KV reads and pulls, reviewer reads, acks.
      await atGate('inbox-1');
      const ana = await HitlClient.connect({ config: shipped.config('ana') });
      try {
        expect(await ana.resume('inbox-1', { resume: 'yes', reviewer: 'ana' })).toMatchObject({
          status: 'completed',
        });
      } finally {
        await ana.close();
      }
      // Its own prefix works: a JetStream publish's ack comes back on it.
      const ack = await jetstream(nc).publish(
        subjects.ticketsNew,
        encoder.encode('{"id":"inbox-1b","request":"hello"}'),
      );
      expect(ack.seq).toBeGreaterThan(0);
      expect(seen).toBe(0);
    });
  });

  it('refuses a client left on the default _INBOX prefix its replies', async () => {
    const config = shipped.config('publisher');
    delete config.nats.inboxPrefix;
    const tickets = await shipped.stored(subjects.streams.tickets);
    const client = await HitlClient.connect({ config });
    try {
      await expect(client.submit({ request: 'refund please' })).rejects.toThrow(
        /^this NATS user may not receive replies on '_INBOX\.[^']+' \(set NATS_INBOX_PREFIX to the inbox prefix its role may subscribe to, see deploy\/nats-server\.conf\)$/,
      );
    } finally {
      await client.close();
    }
    // The publish itself was allowed: the ticket is stored, but its ack was refused.
    expect(await shipped.stored(subjects.streams.tickets)).toBe(tickets + 1);
  });
});

describe('reviewers answer as themselves only', () => {
  it('refuses a reviewer who answers as another, or without a name; nothing reaches the stream', async () => {
    await atGate('inbox-2');
    const responses = await shipped.stored(subjects.streams.responses);
    await shipped.as('ana', async (nc) => {
      const js = jetstream(nc);
      const answer = encoder.encode('{"answer":"yes","reviewer":"ana"}');
      for (const subject of [subjects.respond('inbox-2', 'bo'), subjects.respond('inbox-2')]) {
        expect(await refusal(() => js.publish(subject, answer))).toContain(
          `Permissions Violation for Publish to "${subject}"`,
        );
      }
      // Nor what an operator's retry or cancel sends: a message to an actor's mailbox.
      expect(
        await refusal(() => js.publish(subjects.mailbox('gate', 'inbox-2'), answer)),
      ).toContain('Permissions Violation for Publish to "hitl.actor.gate.inbox-2"');
      for (const subject of ['_INBOX.>', '_INBOX_worker.>', '_INBOX_inbox.>']) {
        expect(String(await nc.subscribe(subject).closed)).toContain(
          `Permissions Violation for Subscription to "${subject}"`,
        );
      }
    });
    const forged = await runCli(
      ['respond', 'inbox-2', 'yes', '--reviewer', 'bo'],
      shipped.env('ana'),
    );
    expect(forged.code).toBe(1);
    expect(forged.stderr).toBe(
      "hitl: this NATS user may not publish to 'hitl.human.respond.inbox-2.bo' (permissions violation: use credentials of a role that may, see deploy/nats-server.conf)\n",
    );
    expect(await shipped.stored(subjects.streams.responses)).toBe(responses);

    const bo = await HitlClient.connect({ config: shipped.config('bo') });
    try {
      expect(await bo.resume('inbox-2', { resume: 'yes', reviewer: 'bo' })).toMatchObject({
        status: 'completed',
        outcome: 'sent',
      });
    } finally {
      await bo.close();
    }
    expect(await outbound('inbox-2')).toEqual([expect.objectContaining({ approvedBy: 'bo' })]);
  }, 60_000);
});

describe('the inbox gateway and the operator', () => {
  it('lets the inbox watch what waits and answer for whoever it signed in, and nothing more', async () => {
    await shipped.as('inbox', async (nc) => {
      const kv = await new Kvm(nc).open(subjects.buckets.interrupts);
      const watch = await kv.watch({ key: 'inbox-3' });
      await atGate('inbox-3');
      for await (const entry of watch) {
        if (entry.operation === 'PUT') break;
      }
      watch.stop();

      const js = jetstream(nc);
      expect(
        await refusal(() => js.publish(subjects.ticketsNew, encoder.encode('{"request":"x"}'))),
      ).toContain('Permissions Violation for Publish to "hitl.tickets.new"');
      expect(
        await refusal(() => js.publish('$KV.hitl_interrupts.inbox-3', encoder.encode('{}'))),
      ).toContain('Permissions Violation for Publish to "$KV.hitl_interrupts.inbox-3"');
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      expect(
        await refusal(() =>
          jsm.consumers.add(subjects.streams.events, {
            name: 'sneaky',
            deliver_subject: '$KV.hitl_interrupts.x',
            ack_policy: AckPolicy.None,
          }),
        ),
      ).toContain('Permissions Violation for Publish to "$JS.API.CONSUMER.CREATE.HITL_EVENTS');
      expect(String(await nc.subscribe('_INBOX_worker.>').closed)).toContain(
        'Permissions Violation for Subscription to "_INBOX_worker.>"',
      );
    });
    const inbox = await HitlClient.connect({ config: shipped.config('inbox') });
    try {
      expect(await inbox.resume('inbox-3', { resume: 'yes', reviewer: 'cy' })).toMatchObject({
        status: 'completed',
      });
    } finally {
      await inbox.close();
    }
    expect(await outbound('inbox-3')).toEqual([expect.objectContaining({ approvedBy: 'cy' })]);
  }, 60_000);

  it('lets the operator read workflows and dead letters and message mailboxes, not answer or submit', async () => {
    await atGate('inbox-4');
    const operator = await HitlClient.connect({ config: shipped.config('operator') });
    try {
      expect(await operator.parked()).toEqual([]);
      expect((await operator.snapshots('inbox-4')).map((s) => s.envelope.kind)).toContain('gate');
      await expect(operator.retry('inbox-4')).rejects.toBeInstanceOf(WorkflowNotParkedError);
      const jsm = await jetstreamManager(operator.nc, { checkAPI: false });
      expect((await jsm.streams.info(subjects.streams.dlq)).config.name).toBe('HITL_DLQ');
      const events = await readWorkflowEvents(operator.nc, subjects, 'inbox-4');
      expect(events.map((e) => e.type)).toContain('interrupted');
      const js = jetstream(operator.nc);
      // What retry (and cancel) send: a message to the actor's mailbox. A retry of an actor
      // that is not parked changes nothing.
      const ack = await js.publish(
        subjects.mailbox('gate', 'inbox-4'),
        encoder.encode('{"type":"hitl.retry"}'),
      );
      expect(ack.stream).toBe(subjects.streams.mailbox);
      for (const subject of [
        subjects.respond('inbox-4', 'operator'),
        subjects.respond('inbox-4'),
        subjects.ticketsNew,
      ]) {
        expect(await refusal(() => js.publish(subject, encoder.encode('{}')))).toContain(
          `Permissions Violation for Publish to "${subject}"`,
        );
      }
    } finally {
      await operator.close();
    }
    const ana = await HitlClient.connect({ config: shipped.config('ana') });
    try {
      expect((await ana.interrupt('inbox-4'))?.type).toBe('approval');
    } finally {
      await ana.close();
    }
  }, 60_000);
});
