import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { HitlClient, Subjects } from '../../src/index.js';
import { readWorkflowEvents } from '../../src/client/eventLog.js';
import { runCli, spawnCli, waitForOutput } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { refusal, shippedRolesServer } from '../helpers/shippedRoles.js';

// The shipped example configuration, as it is: its roles name the default prefix `hitl`, so this
// file (its own server) runs under that prefix, with a workflow id per test.
const shipped = shippedRolesServer();
const subjects = new Subjects('hitl');
const encoder = new TextEncoder();
const roleEnv = shipped.env;
const roleConfig = shipped.config;
const as = shipped.as;
const storedCount = (stream: string) => shipped.stored(stream);

describe('deploy/nats-server.conf roles', () => {
  it(
    'lets a publisher submit, a worker run and a reviewer list, answer and show',
    { timeout: 120_000 },
    async () => {
      const submitted = await runCli(
        ['submit', 'I want my money back', '--id', 'roles-1'],
        roleEnv('publisher'),
      );
      expect(submitted).toMatchObject({ code: 0, stdout: 'roles-1\n' });

      const reviewer = await HitlClient.connect({ config: roleConfig('ana') });
      try {
        await eventually(async () =>
          expect((await reviewer.interrupt('roles-1'))?.type).toBe('approval'),
        );
      } finally {
        await reviewer.close();
      }
      const pending = await runCli(['pending', '--json'], roleEnv('ana'));
      expect(pending.code).toBe(0);
      expect(JSON.parse(pending.stdout)).toEqual([
        expect.objectContaining({ workflowId: 'roles-1', interruptId: 'gate-1' }),
      ]);
      // Parked workflows, read key by key (no consumer): none here.
      const parked = await runCli(['parked', '--json'], roleEnv('ana'));
      expect(parked).toMatchObject({ code: 0, stdout: '[]\n' });
      const tap = spawnCli(['tap', 'roles-1', '--json'], roleEnv('ana'));
      const listening = new Promise<void>((resolve) => {
        tap.stderr?.on('data', (d: Buffer) => {
          if (d.toString().includes('hitl tap: listening')) resolve();
        });
      });
      const tapped = waitForOutput(tap, /"type":"completed"/);
      await listening;
      const answered = await runCli(
        ['respond', 'roles-1', 'yes', '--reviewer', 'ana'],
        roleEnv('ana'),
      );
      expect(answered).toMatchObject({ code: 0, stdout: 'roles-1: yes accepted\n' });
      expect(await tapped).toMatch(/"type":"approved"/);
      tap.kill('SIGTERM');
      await eventually(async () => {
        const shown = await runCli(['show', 'roles-1', '--json'], roleEnv('ana'));
        expect(shown.code).toBe(0);
        const timeline = JSON.parse(shown.stdout) as { events: { type: string }[] };
        expect(timeline.events.map((e) => e.type)).toContain('completed');
      });
    },
  );

  it(
    'lets the operator cancel a paused workflow and refuses a reviewer the cancel',
    { timeout: 120_000 },
    async () => {
      const submitted = await runCli(
        ['submit', 'refund please', '--id', 'roles-c'],
        roleEnv('publisher'),
      );
      expect(submitted.code).toBe(0);
      const operator = await HitlClient.connect({ config: roleConfig('operator') });
      try {
        await eventually(async () =>
          expect((await operator.interrupt('roles-c'))?.type).toBe('approval'),
        );
        const mailbox = await storedCount(subjects.streams.mailbox);
        const byReviewer = await runCli(
          ['cancel', 'roles-c', '--reason', 'not mine to end'],
          roleEnv('ana'),
        );
        expect(byReviewer).toMatchObject({
          code: 1,
          stderr:
            "hitl: this NATS user may not publish to 'hitl.actor.gate.roles-c' (permissions violation: use credentials of a role that may, see deploy/nats-server.conf)\n",
        });
        expect(await storedCount(subjects.streams.mailbox)).toBe(mailbox);
        expect((await operator.interrupt('roles-c'))?.type).toBe('approval');

        // The operator's NATS user is who the event names.
        const byOperator = await runCli(
          ['cancel', 'roles-c', '--reason', 'customer withdrew'],
          roleEnv('operator'),
        );
        expect(byOperator).toMatchObject({
          code: 0,
          stdout: 'roles-c: cancelled at gate (paused) by operator: customer withdrew\n',
        });
        expect(await operator.interrupt('roles-c')).toBeUndefined();
        const events = await readWorkflowEvents(operator.nc, subjects, 'roles-c');
        expect(events.filter((e) => e.type === 'completed')).toEqual([
          expect.objectContaining({
            data: expect.objectContaining({
              outcome: 'cancelled',
              reason: 'customer withdrew',
              by: 'operator',
            }),
          }),
        ]);
      } finally {
        await operator.close();
      }
    },
  );

  it('refuses the publisher everything but submitting tickets', { timeout: 60_000 }, async () => {
    const responses = await storedCount(subjects.streams.responses);
    await as('publisher', async (nc) => {
      const js = jetstream(nc);
      expect(
        await refusal(() => js.publish(subjects.respond('roles-x'), encoder.encode('{}'))),
      ).toMatch(/Permissions Violation for Publish to "hitl\.human\.respond\.roles-x"/);
      const sub = nc.subscribe(subjects.events());
      expect(String(await sub.closed)).toMatch(
        /Permissions Violation for Subscription to "hitl\.events\.>"/,
      );
      expect(await refusal(() => readWorkflowEvents(nc, subjects, 'roles-1'))).toMatch(
        /Permissions Violation for Publish to "\$JS\.API\.STREAM\.MSG\.GET\.HITL_EVENTS"/,
      );
    });
    const respond = await runCli(
      ['respond', 'roles-1', 'yes', '--reviewer', 'x'],
      roleEnv('publisher'),
    );
    expect(respond.code).toBe(1);
    expect(respond.stderr).toBe(
      "hitl: this NATS user may not publish to 'hitl.human.respond.roles-1.x' (permissions violation: use credentials of a role that may, see deploy/nats-server.conf)\n",
    );
    expect(await storedCount(subjects.streams.responses)).toBe(responses);
  });

  it(
    'refuses the reviewer tickets, writes to KV and events, and consumers',
    { timeout: 60_000 },
    async () => {
      const tickets = await storedCount(subjects.streams.tickets);
      const events = await storedCount(subjects.streams.events);
      await as('ana', async (nc) => {
        const js = jetstream(nc);
        const publish = (subject: string) => () =>
          js.publish(subject, encoder.encode('{"request":"x"}'));
        expect(await refusal(publish(subjects.ticketsNew))).toMatch(
          /Permissions Violation for Publish to "hitl\.tickets\.new"/,
        );
        expect(await refusal(publish('$KV.hitl_interrupts.x'))).toMatch(
          /Permissions Violation for Publish to "\$KV\.hitl_interrupts\.x"/,
        );
        expect(await refusal(publish(subjects.event('x', 'completed')))).toMatch(
          /Permissions Violation for Publish to "hitl\.events\.x\.completed"/,
        );
        // A consumer could deliver stored messages to any subject: a write in disguise.
        const jsm = await jetstreamManager(nc, { checkAPI: false });
        expect(
          await refusal(() =>
            jsm.consumers.add(subjects.streams.events, {
              name: 'sneaky',
              deliver_subject: '$KV.hitl_interrupts.x',
              ack_policy: AckPolicy.None,
            }),
          ),
        ).toMatch(/Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.CREATE\.HITL_EVENTS/);
      });
      const submit = await runCli(['submit', 'refund please'], roleEnv('ana'));
      expect(submit.code).toBe(1);
      expect(submit.stderr).toMatch(
        /^hitl: this NATS user may not publish to 'hitl\.tickets\.new'/,
      );
      expect(await storedCount(subjects.streams.tickets)).toBe(tickets);
      expect(await storedCount(subjects.streams.events)).toBe(events);
    },
  );

  it('lets the worker delete a message of its buckets, and of no other stream', async () => {
    await as('worker', async (nc) => {
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      const js = jetstream(nc, { checkAPI: false });
      // What a completed workflow's removal (HITL_FINISHED_RETENTION_MS) and an answered
      // interrupt do with the purge marker they leave.
      for (const bucket of [subjects.buckets.snapshots, subjects.buckets.interrupts]) {
        const marker = await js.publish(`$KV.${bucket}.roles-marker`, new Uint8Array(0));
        expect(await jsm.streams.deleteMessage(`KV_${bucket}`, marker.seq, false)).toBe(true);
      }
      expect(
        await refusal(() => jsm.streams.deleteMessage(subjects.streams.events, 1, false)),
      ).toMatch(
        /Permissions Violation for Publish to "\$JS\.API\.STREAM\.MSG\.DELETE\.HITL_EVENTS"/,
      );
      expect(await refusal(() => jsm.streams.purge(subjects.streams.events))).toMatch(
        /Permissions Violation for Publish to "\$JS\.API\.STREAM\.PURGE\.HITL_EVENTS"/,
      );
    });
  });
});
