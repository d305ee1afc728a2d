import { describe, expect, it } from 'vitest';
import { deadline, duration, formatPending, summarize } from '../../src/cli/format.js';
import type { InterruptRecord } from '../../src/base/schemas.js';

const now = Date.parse('2026-01-01T12:00:00.000Z');
const record: InterruptRecord = {
  workflowId: 'order-42',
  interruptId: 'gate-1',
  actor: 'gate',
  type: 'approval',
  question: 'Send this refund reply to the customer?',
  options: ['yes', 'no'],
  createdAt: '2026-01-01T11:55:00.000Z',
};

describe('pending lines', () => {
  it('writes durations in their largest whole unit', () => {
    expect([0, 42_000, 180_000, 5 * 3_600_000, 3 * 86_400_000].map(duration)).toEqual([
      '0s',
      '42s',
      '3m',
      '5h',
      '3d',
    ]);
  });

  it('shows the deadline ahead, overdue, or none', () => {
    expect(deadline({ ...record, expiresAt: '2026-01-01T12:03:00.000Z' }, now)).toBe('in 3m');
    expect(deadline({ ...record, expiresAt: '2026-01-01T11:59:40.000Z' }, now)).toBe('overdue 20s');
    expect(deadline(record, now)).toBe('-');
  });

  it('puts workflow, type, interrupt, age, deadline, options and question on one line', () => {
    expect(formatPending({ ...record, expiresAt: '2026-01-01T12:10:00.000Z' }, now)).toBe(
      'order-42             approval   gate-1           5m  in 10m       [yes|no] Send this refund reply to the customer?',
    );
  });
});

describe('event lines', () => {
  const event = (type: string, data: Record<string, unknown>) => ({
    workflowId: 'order-42',
    type,
    actor: 'gate',
    at: '2026-01-01T12:00:00.000Z',
    data,
  });

  it('says who cancelled and why, and why a cancel changed nothing', () => {
    expect(summarize(event('completed', { outcome: 'sent', category: 'refund' }))).toBe(
      'sent (refund)',
    );
    expect(
      summarize(event('completed', { outcome: 'cancelled', by: 'eve', reason: 'withdrew' })),
    ).toBe('cancelled by eve: withdrew');
    expect(summarize(event('cancel_rejected', { reason: 'it has ended', cancelId: 'c1' }))).toBe(
      'it has ended',
    );
  });
});
