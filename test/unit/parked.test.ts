import { describe, expect, it } from 'vitest';
import { findParkedStep } from '../../src/client/parked.js';
import type { EventEnvelope, InterruptRecord } from '../../src/base/schemas.js';

let clock = Date.parse('2025-06-01T12:00:00Z');
function ev(type: string, actor: string, data: Record<string, unknown> = {}): EventEnvelope {
  clock += 1_000;
  return { workflowId: 'wf-p', type, actor, at: new Date(clock).toISOString(), data };
}
const failed = (actor: string, reason = 'HTTP 503') =>
  ev('failed', actor, { reason, step: actor, retryable: true });

describe('findParkedStep', () => {
  it('finds the actor whose last retryable failure nothing followed', () => {
    const f = failed('triage');
    expect(
      findParkedStep('wf-p', [ev('received', 'triage'), f], [{ kind: 'triage', status: 'active' }]),
    ).toEqual({ parked: { actor: 'triage', step: 'triage', reason: 'HTTP 503', at: f.at } });
  });

  it('finds the specialist parked after triage went on', () => {
    const events = [ev('received', 'triage'), ev('triaged', 'triage'), failed('specialist', 'x')];
    const found = findParkedStep('wf-p', events, [
      { kind: 'triage', status: 'done' },
      { kind: 'specialist', status: 'active' },
    ]);
    expect(found).toMatchObject({ parked: { actor: 'specialist', reason: 'x' } });
  });

  it('picks the latest failure of a step that failed again after a retry', () => {
    const second = failed('triage', 'still down');
    const found = findParkedStep(
      'wf-p',
      [ev('received', 'triage'), failed('triage', 'down'), second],
      [{ kind: 'triage', status: 'active' }],
    );
    expect(found).toMatchObject({ parked: { reason: 'still down', at: second.at } });
  });

  it('ignores rejected responses, which any workflow may get', () => {
    const found = findParkedStep(
      'wf-p',
      [ev('received', 'triage'), failed('triage'), ev('response_rejected', 'triage')],
      [{ kind: 'triage', status: 'active' }],
    );
    expect(found).toHaveProperty('parked.actor', 'triage');
  });

  it.each<[string, EventEnvelope[], { kind: string; status: string }[], string]>([
    ['an unknown workflow', [], [], "no workflow 'wf-p' (no events and no snapshots)"],
    [
      'a completed workflow',
      [ev('received', 'triage'), ev('completed', 'gate', { outcome: 'sent' })],
      [{ kind: 'gate', status: 'done' }],
      "workflow 'wf-p' is not parked: it has completed (sent); there is nothing to retry",
    ],
    [
      'a workflow that never failed',
      [ev('received', 'triage')],
      [{ kind: 'triage', status: 'active' }],
      "workflow 'wf-p' is not parked: no step of it has failed",
    ],
    [
      'a failure the actor went past (a retry that worked)',
      [ev('received', 'triage'), failed('triage'), ev('triaged', 'triage')],
      [{ kind: 'triage', status: 'done' }],
      "workflow 'wf-p' is not parked: 'triage' went on after its failure (triaged at ",
    ],
    [
      'a failure whose actor has ended',
      [ev('received', 'triage'), failed('triage')],
      [{ kind: 'triage', status: 'failed' }],
      "workflow 'wf-p' is not parked: its 'triage' actor is failed",
    ],
    [
      'a non-retryable failure',
      [ev('received', 'triage'), ev('failed', 'triage', { reason: 'x', retryable: false })],
      [{ kind: 'triage', status: 'failed' }],
      "workflow 'wf-p' is not parked: no step of it has failed",
    ],
  ])('says why %s is not parked', (_label, events, actors, message) => {
    const found = findParkedStep('wf-p', events, actors);
    expect('notParked' in found && found.notParked).toContain(message);
  });

  it('points at hitl respond when the workflow waits for a human', () => {
    const pending = {
      workflowId: 'wf-p',
      interruptId: 'gate-1',
      actor: 'gate',
      type: 'approval',
      question: 'Send it?',
      createdAt: new Date(clock).toISOString(),
    } satisfies InterruptRecord;
    const found = findParkedStep(
      'wf-p',
      [ev('received', 'triage')],
      [{ kind: 'gate', status: 'active' }],
      pending,
    );
    expect(found).toEqual({
      notParked:
        "workflow 'wf-p' is not parked: no step of it has failed; it waits for a human (approval gate-1): answer it with hitl respond",
    });
  });
});
