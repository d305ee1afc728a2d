import { describe, expect, it } from 'vitest';
import { IllegalWorkflowIdError } from '../../src/base/errors.js';
import { assertWorkflowId, isWorkflowId, Subjects } from '../../src/nats/subjects.js';

describe('Subjects with the default prefix', () => {
  const s = new Subjects();

  it.each([
    ['tickets', s.ticketsNew, 'hitl.tickets.new'],
    ['human request', s.humanRequest('wf-1'), 'hitl.human.request.wf-1'],
    ['human respond', s.respond('wf-1'), 'hitl.human.respond.wf-1'],
    ['event', s.event('wf-1', 'triaged'), 'hitl.events.wf-1.triaged'],
    ['outbound reply', s.outboundReply('wf-1'), 'hitl.outbound.reply.wf-1'],
    ['dead letter', s.dlq('tickets'), 'hitl.dlq.tickets'],
  ])('names the %s subject exactly as the contract does', (_label, actual, expected) => {
    expect(actual).toBe(expected);
  });

  it('names the wildcards of each contract subject', () => {
    expect(s.humanRequestAll).toBe('hitl.human.request.>');
    expect(s.respondAll).toBe('hitl.human.respond.>');
    expect(s.events()).toBe('hitl.events.>');
    expect(s.events('wf-1')).toBe('hitl.events.wf-1.>');
    expect(s.outboundAll).toBe('hitl.outbound.reply.>');
    expect(s.dlqAll).toBe('hitl.dlq.>');
  });

  it('names the streams and buckets exactly as the contract does', () => {
    expect(s.streams).toMatchObject({
      tickets: 'HITL_TICKETS',
      responses: 'HITL_RESPONSES',
      events: 'HITL_EVENTS',
      outbound: 'HITL_OUTBOUND',
      dlq: 'HITL_DLQ',
    });
    expect(s.buckets).toEqual({ snapshots: 'hitl_snapshots', interrupts: 'hitl_interrupts' });
  });

  it('keys a pending interrupt by the workflow id alone', () => {
    expect(s.interruptKey('wf-1')).toBe('wf-1');
  });

  it('keeps internal mailboxes under hitl.> without colliding with contract subjects', () => {
    const mailbox = s.mailbox('triage', 'wf-1');
    const contractHeads = ['tickets', 'human', 'events', 'outbound', 'dlq'];

    expect(mailbox.startsWith('hitl.')).toBe(true);
    expect(contractHeads).not.toContain(mailbox.split('.')[1]);
    expect(contractHeads).not.toContain(s.mailboxAll.split('.')[1]);
    expect(Object.values(s.streams)).toHaveLength(new Set(Object.values(s.streams)).size);
  });

  it('reads the workflow id back from a response subject', () => {
    expect(s.workflowOfResponse('hitl.human.respond.wf-1')).toBe('wf-1');
    // Contract v2: the token after the workflow id names the reviewer.
    expect(s.workflowOfResponse('hitl.human.respond.a.b')).toBe('a');
    expect(s.workflowOfResponse('hitl.human.respond.a b')).toBeUndefined();
    expect(s.workflowOfResponse('hitl.human.respond.wf-1.ana')).toBe('wf-1');
    expect(s.workflowOfResponse('other.human.respond.wf-1')).toBeUndefined();
  });

  it('reads the workflow id back from a mailbox subject', () => {
    expect(s.workflowOfMailbox('gate', s.mailbox('gate', 'wf-9'))).toBe('wf-9');
    expect(s.workflowOfMailbox('gate', s.mailbox('triage', 'wf-9'))).toBeUndefined();
  });
});

describe('Subjects with another prefix', () => {
  it('derives a separate set of subjects, streams and buckets', () => {
    const s = new Subjects('acme');

    expect(s.ticketsNew).toBe('acme.tickets.new');
    expect(s.respond('wf-1')).toBe('acme.human.respond.wf-1');
    expect(s.streams.tickets).toBe('ACME_TICKETS');
    expect(s.buckets.snapshots).toBe('acme_snapshots');
  });

  it('turns a multi-token prefix into legal stream and bucket names', () => {
    const s = new Subjects('acme.test');

    expect(s.ticketsNew).toBe('acme.test.tickets.new');
    expect(s.streams.events).toBe('ACME_TEST_EVENTS');
    expect(s.buckets.interrupts).toBe('acme_test_interrupts');
  });

  it.each(['', 'a..b', 'a b', 'hitl.>', 'hitl.*', '.hitl'])(
    "rejects the illegal prefix '%s'",
    (prefix) => {
      expect(() => new Subjects(prefix)).toThrow(`illegal subject prefix: '${prefix}'`);
    },
  );
});

describe('workflow ids', () => {
  it.each(['a', 'wf-1', 'WF_2', 'a'.repeat(64), '0-_-Z'])("accepts '%s'", (id) => {
    expect(isWorkflowId(id)).toBe(true);
    expect(assertWorkflowId(id)).toBe(id);
  });

  it.each(['', 'a b/c', 'a.b', 'wf*', 'wf>', 'é', 'a'.repeat(65)])(
    "rejects '%s' with an IllegalWorkflowIdError that says how to fix it",
    (id) => {
      expect(isWorkflowId(id)).toBe(false);
      expect(() => assertWorkflowId(id)).toThrow(IllegalWorkflowIdError);
      expect(() => assertWorkflowId(id)).toThrow(
        `illegal workflow id: '${id}' (use 1 to 64 letters, digits, '-' and '_')`,
      );
    },
  );

  it('refuses to build a subject for an illegal workflow id', () => {
    const s = new Subjects();

    expect(() => s.respond('a b/c')).toThrow(IllegalWorkflowIdError);
    expect(() => s.humanRequest('a.b')).toThrow(IllegalWorkflowIdError);
    expect(() => s.event('*', 'sent')).toThrow(IllegalWorkflowIdError);
    expect(() => s.outboundReply('>')).toThrow(IllegalWorkflowIdError);
    expect(() => s.interruptKey('')).toThrow(IllegalWorkflowIdError);
  });

  it('refuses an illegal actor kind in a mailbox subject', () => {
    expect(() => new Subjects().mailbox('Triage', 'wf-1')).toThrow(
      "illegal actor kind: 'Triage' (use lower-case letters, digits, '-' and '_')",
    );
  });
});
