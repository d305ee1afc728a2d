import { describe, expect, it } from 'vitest';
import { outboxEffects } from '../../src/runtime/outbox.js';
import { OutboxSchema, type InterruptRecord, type Outbox } from '../../src/base/schemas.js';
import { Subjects } from '../../src/nats/subjects.js';

const subjects = new Subjects('hitl');
const owner = { workflowId: 'wf-1', kind: 'gate' };
const trace = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
const record: InterruptRecord = {
  workflowId: 'wf-1',
  interruptId: 'gate-3',
  actor: 'gate',
  type: 'approval',
  question: 'Send this reply?',
  options: ['yes', 'no'],
  draft: 'Your refund is on its way.',
  createdAt: '2026-11-29T10:00:00.000Z',
  expiresAt: '2026-11-29T11:00:00.000Z',
};

describe('outboxEffects', () => {
  const outbox: Outbox = OutboxSchema.parse({
    for: 'specialist.1.1',
    at: Date.parse('2026-11-29T10:00:00.000Z'),
    step: 3,
    trace,
    entries: [
      { op: 'interrupt.delete', workflowId: 'wf-1', interruptId: 'gate-2', revision: 7 },
      { op: 'event', type: 'resumed', data: { interruptId: 'gate-2' } },
      { op: 'interrupt', record },
      { op: 'send', to: 'audit', data: { type: 'paused' } },
      { op: 'reply', data: { workflowId: 'wf-1', reply: 'hi' } },
    ],
  });

  it('expands a compact outbox into the KV changes and messages of the step, in order', () => {
    const effects = outboxEffects(outbox, owner, subjects);
    expect(effects.interrupts).toEqual([
      { op: 'delete', workflowId: 'wf-1', interruptId: 'gate-2', revision: 7 },
      { op: 'put', record },
    ]);
    expect(effects.publishes.map((p) => [p.subject, p.msgId])).toEqual([
      ['hitl.events.wf-1.resumed', 'wf-1.gate.3.0'],
      ['hitl.human.request.wf-1', 'wf-1.gate.3.1'],
      ['hitl.events.wf-1.interrupted', 'wf-1.gate.3.2'],
      ['hitl.timer.wf-1', 'wf-1.timer.gate-3'],
      ['hitl.actor.audit.wf-1', 'wf-1.gate.3.3'],
      ['hitl.outbound.reply.wf-1', 'wf-1.gate.3.4'],
    ]);
    for (const p of effects.publishes) expect(p.trace).toEqual(trace);
    expect(effects.publishes[0]?.data).toEqual({
      workflowId: 'wf-1',
      type: 'resumed',
      actor: 'gate',
      at: '2026-11-29T10:00:00.000Z',
      data: { interruptId: 'gate-2' },
    });
    expect(effects.publishes[1]?.data).toEqual(record);
    expect(effects.publishes[2]?.data).toMatchObject({ type: 'interrupted', data: record });
    expect(effects.publishes[3]?.data).toEqual({
      workflowId: 'wf-1',
      actor: 'gate',
      interruptId: 'gate-3',
      expiresAt: record.expiresAt,
    });
  });

  it('yields the same message ids every time, so a re-publish is dropped as a duplicate', () => {
    const again = OutboxSchema.parse(JSON.parse(JSON.stringify(outbox)));
    expect(outboxEffects(again, owner, subjects)).toEqual(outboxEffects(outbox, owner, subjects));
  });

  it('re-publishes the full entries that earlier versions stored, as they were', () => {
    const legacy = OutboxSchema.parse({
      for: 'ticket',
      at: 1,
      entries: [
        { op: 'interrupt.put', record },
        {
          op: 'publish',
          subject: 'hitl.events.wf-1.received',
          msgId: 'wf-1.triage.1.0',
          data: { any: 'thing' },
          traceparent: trace.traceparent,
        },
      ],
    });
    expect(outboxEffects(legacy, owner, subjects)).toEqual({
      interrupts: [{ op: 'put', record }],
      publishes: [
        {
          subject: 'hitl.events.wf-1.received',
          msgId: 'wf-1.triage.1.0',
          data: { any: 'thing' },
          trace,
          entry: 1,
        },
      ],
    });
  });
});
