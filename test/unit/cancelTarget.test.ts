import { describe, expect, it } from 'vitest';
import { cancelTarget } from '../../src/client/cancel.js';
import type { InterruptRecord } from '../../src/index.js';

const interrupt: InterruptRecord = {
  workflowId: 'wf-1',
  interruptId: 'gate-3',
  actor: 'gate',
  type: 'approval',
  question: 'Send it?',
  createdAt: '2026-11-30T10:00:00.000Z',
};
const parkedAt = (at: string) => ({ step: 'x', reason: 'down', at });

describe('cancelTarget', () => {
  it('picks the parked actor first, the latest of two, then the paused one', () => {
    expect(
      cancelTarget([
        { kind: 'gate', status: 'active', interrupt },
        { kind: 'triage', status: 'active', parked: parkedAt('2026-11-30T10:00:01.000Z') },
        { kind: 'audit', status: 'active', parked: parkedAt('2026-11-30T10:00:02.000Z') },
      ]),
    ).toEqual({ actor: 'audit', was: 'parked' });
    expect(
      cancelTarget([
        { kind: 'triage', status: 'done' },
        { kind: 'gate', status: 'active', interrupt },
      ]),
    ).toEqual({ actor: 'gate', was: 'paused' });
  });

  it('finds nothing in a workflow that ended, runs or does not exist', () => {
    const ended = { kind: 'gate', status: 'done' as const, interrupt };
    expect(cancelTarget([ended, { kind: 'triage', status: 'failed' }])).toBeUndefined();
    expect(cancelTarget([{ kind: 'specialist', status: 'active' }])).toBeUndefined();
    expect(cancelTarget([])).toBeUndefined();
  });
});
