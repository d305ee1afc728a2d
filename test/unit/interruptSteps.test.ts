import { describe, expect, it } from 'vitest';
import { failurePrefix, planExpiry, planResume } from '../../src/runtime/interruptSteps.js';
import type { InterruptRecord, SnapshotEnvelope } from '../../src/base/schemas.js';
import {
  MAX_APPLIED,
  MIN_APPLIED,
  parkedBy,
  recentlyApplied,
  REVIEWERS_FIELD,
  stepEntries,
  wentOn,
} from '../../src/runtime/stepEffects.js';

const record: InterruptRecord = {
  workflowId: 'wf-1',
  interruptId: 'gate-2',
  actor: 'gate',
  type: 'approval',
  question: 'Send this reply?',
  options: ['yes', 'no'],
  createdAt: '2026-11-29T10:00:00.000Z',
};

const paused: SnapshotEnvelope = {
  format: 1,
  kind: 'gate',
  workflowId: 'wf-1',
  version: 1,
  status: 'active',
  steps: 1,
  snapshot: {},
  applied: ['specialist.1.1'],
  outboxes: [],
  interrupt: record,
  reviewers: ['bo'],
};

const yes = { response: { answer: 'yes', reviewer: 'ana' }, responseSeq: 12 };

describe('planResume', () => {
  it('resumes with the answer, withdraws the record and adds the reviewer to the trail', () => {
    const plan = planResume(
      paused,
      {
        ...yes,
        storedAt: '2026-11-29T10:00:05.000Z',
        seen: { interruptId: 'gate-2', revision: 40 },
      },
      { updates: {} },
    );
    expect(plan).toEqual({
      ok: true,
      event: {
        type: 'hitl.resume',
        interruptId: 'gate-2',
        interruptType: 'approval',
        answer: 'yes',
        update: {},
        reviewer: 'ana',
      },
      prefix: [
        { op: 'interrupt.delete', workflowId: 'wf-1', interruptId: 'gate-2', revision: 40 },
        {
          event: 'resumed',
          data: { interruptId: 'gate-2', answer: 'yes', reviewer: 'ana', responseSeq: 12 },
        },
      ],
      reviewers: ['bo', 'ana'],
    });
  });

  it('deletes at the revision the worker read only when it read this interrupt', () => {
    const plan = planResume(
      paused,
      { ...yes, seen: { interruptId: 'gate-1', revision: 40 } },
      { updates: {} },
    );
    expect(plan.ok && plan.prefix[0]).toEqual({
      op: 'interrupt.delete',
      workflowId: 'wf-1',
      interruptId: 'gate-2',
    });
  });

  it('rejects, naming the interrupt, what the policy or the stored time refuses', () => {
    expect(
      planResume(
        paused,
        { ...yes, response: { answer: 'maybe', reviewer: 'ana' } },
        { updates: {} },
      ),
    ).toMatchObject({ ok: false, interruptId: 'gate-2', reason: /not an option/ });
    expect(
      planResume(paused, { ...yes, storedAt: '2026-11-29T09:00:00.000Z' }, { updates: {} }),
    ).toMatchObject({ ok: false, interruptId: 'gate-2', reason: /answers an earlier question/ });
    expect(planResume({ ...paused, status: 'done' }, yes, { updates: {} })).toMatchObject({
      ok: false,
      reason: /no pending interrupt/,
    });
  });
});

describe('planExpiry', () => {
  it('expires the pending interrupt, and nothing that is no longer pending', () => {
    expect(planExpiry(paused, 'gate-2')).toEqual({
      event: { type: 'hitl.expire', interruptId: 'gate-2', interruptType: 'approval' },
      prefix: [
        { op: 'interrupt.delete', workflowId: 'wf-1', interruptId: 'gate-2' },
        { event: 'expired', data: { interruptId: 'gate-2' } },
      ],
    });
    expect(planExpiry(paused, 'gate-1')).toBeUndefined();
  });
});

describe('failurePrefix', () => {
  it('withdraws the interrupt, answers the waiting reviewer, then fails and completes', () => {
    const prefix = failurePrefix(paused, 'gate', 'no such state', {
      responseSeq: 12,
      reviewer: 'ana',
    });
    expect(prefix.map((p) => ('op' in p ? p.op : p.event))).toEqual([
      'interrupt.delete',
      'response_rejected',
      'failed',
      'completed',
    ]);
    expect(prefix[3]).toEqual({ event: 'completed', data: { outcome: 'failed' } });
  });
});

describe('stepEntries', () => {
  const ctx = {
    workflowId: 'wf-1',
    kind: 'gate',
    step: 3,
    now: new Date('2026-11-29T10:00:00.000Z'),
    reviewers: ['ana'],
    defaultTimeoutMs: 60_000,
  };

  it('turns effects into entries: reviewers travel with messages, a pause gets its deadline', () => {
    const built = stepEntries(
      ctx,
      [{ event: 'resumed', data: { answer: 'yes' } }],
      [
        { type: 'hitl.send', to: 'audit', message: { type: 'note' } },
        {
          type: 'hitl.interrupt',
          interrupt: { type: 'approval', question: 'Send?', options: ['yes', 'no'] },
        },
        { type: 'hitl.shout' } as never,
      ],
    );
    expect(built.entries[0]).toEqual({ op: 'event', type: 'resumed', data: { answer: 'yes' } });
    expect(built.entries[1]).toEqual({
      op: 'send',
      to: 'audit',
      data: { type: 'note', [REVIEWERS_FIELD]: ['ana'] },
    });
    expect(built.interrupt).toMatchObject({
      interruptId: 'gate-3',
      createdAt: '2026-11-29T10:00:00.000Z',
      expiresAt: '2026-11-29T10:01:00.000Z',
      previousReviewers: ['ana'],
    });
    expect(built.entries[2]).toEqual({ op: 'interrupt', record: built.interrupt });
    expect(built.unknown).toEqual(['hitl.shout']);
  });
});

describe('recentlyApplied', () => {
  const retention = 120_000;
  const now = 1_000_000_000;
  const ids = (n: number, prefix = 'm') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

  it('keeps every id applied within the retention, however many (a busy fan-in actor)', () => {
    const applied = ids(40);
    const appliedAt = applied.map((_, i) => now - 1_000 * (40 - i));
    const kept = recentlyApplied({ applied, appliedAt }, 'new', now, retention);
    expect(kept.applied).toEqual([...applied, 'new']);
    expect(kept.appliedAt.at(-1)).toBe(now);
  });

  it('forgets old ids beyond the last few, and counts ids without a time as old', () => {
    const old = ids(20, 'old');
    const kept = recentlyApplied(
      { applied: [...old, 'recent'], appliedAt: [now - 5_000] },
      'new',
      now,
      retention,
    );
    // The 20 ids from before times were kept have none: only the last few of them stay.
    expect(kept.applied).toEqual([...old.slice(-(MIN_APPLIED - 2)), 'recent', 'new']);
    expect(kept.appliedAt).toHaveLength(kept.applied.length);
  });

  it('keeps at most MAX_APPLIED ids', () => {
    const applied = ids(MAX_APPLIED + 50);
    const kept = recentlyApplied(
      { applied, appliedAt: applied.map(() => now) },
      'new',
      now,
      retention,
    );
    expect(kept.applied).toHaveLength(MAX_APPLIED);
    expect(kept.applied.at(-1)).toBe('new');
  });
});

describe('parkedBy and wentOn', () => {
  const now = new Date('2026-11-29T10:00:00.000Z');
  const failed = {
    op: 'event' as const,
    type: 'failed',
    data: { step: 'draft', reason: 'HTTP 503', retryable: true },
  };

  it('parks a step that emitted a retryable failure, at the step time', () => {
    expect(parkedBy([failed], 'specialist', now)).toEqual({
      step: 'draft',
      reason: 'HTTP 503',
      at: '2026-11-29T10:00:00.000Z',
    });
    expect(
      parkedBy([{ ...failed, data: { ...failed.data, retryable: false } }], 'x', now),
    ).toBeUndefined();
  });

  it('tells a step that went on from one that changed nothing others see', () => {
    expect(wentOn([])).toBe(false);
    expect(wentOn([{ op: 'event', type: 'response_rejected', data: {} }])).toBe(false);
    expect(wentOn([{ op: 'interrupt.delete', workflowId: 'wf-1', interruptId: 'gate-1' }])).toBe(
      false,
    );
    expect(wentOn([{ op: 'event', type: 'drafted', data: {} }])).toBe(true);
    expect(wentOn([{ op: 'send', to: 'gate', data: { type: 'draft' } }])).toBe(true);
  });
});
