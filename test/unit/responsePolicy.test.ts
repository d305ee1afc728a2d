import { describe, expect, it } from 'vitest';
import { ApprovalUpdateSchema, supportActors } from '../../actors/support.js';
import {
  checkResponse,
  checkResponseTime,
  CLOCK_SKEW_MS,
  type ResponsePolicy,
} from '../../src/runtime/responsePolicy.js';
import type { HumanResponse, InterruptRecord } from '../../src/base/schemas.js';
import { FakeModel } from './fakeModel.js';
import { definitionOf } from './machineHelpers.js';

const approval: InterruptRecord = {
  workflowId: 'wf-1',
  interruptId: 'int-7',
  actor: 'gate',
  type: 'approval',
  question: 'Send this refund reply to the customer?',
  options: ['yes', 'no'],
  draft: 'Your refund is on its way.',
  category: 'refund',
  createdAt: '2025-01-01T00:00:00.000Z',
};

const escalation: InterruptRecord = {
  workflowId: 'wf-1',
  interruptId: 'int-3',
  actor: 'triage',
  type: 'escalation',
  question: 'Which category fits this request?',
  options: ['refund', 'billing', 'technical', 'drop'],
  createdAt: '2025-01-01T00:00:00.000Z',
};

const policy: ResponsePolicy = { updates: { approval: ApprovalUpdateSchema } };

function response(answer: string, extra: Partial<HumanResponse> = {}): HumanResponse {
  return { answer, reviewer: 'ana', ...extra };
}

function rejection(verdict: ReturnType<typeof checkResponse>): string {
  if (verdict.ok) throw new Error('expected the response to be rejected, it was accepted');
  return verdict.reason;
}

describe('checkResponse', () => {
  it('rejects any response when no interrupt is pending', () => {
    expect(rejection(checkResponse(undefined, response('yes'), policy))).toBe(
      'there is no pending interrupt: it was already answered or cancelled, or never asked',
    );
  });

  it('rejects a response that names a stale interrupt, naming the pending one', () => {
    const reason = rejection(
      checkResponse(approval, response('yes', { interruptId: 'int-6' }), policy),
    );

    expect(reason).toContain("'int-6' is not pending");
    expect(reason).toContain("the pending one is 'int-7'");
  });

  it('accepts a response that names the pending interrupt', () => {
    expect(checkResponse(approval, response('yes', { interruptId: 'int-7' }), policy)).toEqual({
      ok: true,
      update: {},
    });
  });

  it('accepts a response that names no interrupt', () => {
    expect(checkResponse(approval, response('no'), policy)).toEqual({ ok: true, update: {} });
  });

  it('rejects an answer outside the options, naming the valid ones', () => {
    expect(rejection(checkResponse(approval, response('maybe'), policy))).toBe(
      "answer 'maybe' is not an option; expected one of: yes, no",
    );
    expect(rejection(checkResponse(escalation, response('shipping'), policy))).toBe(
      "answer 'shipping' is not an option; expected one of: refund, billing, technical, drop",
    );
  });

  it('compares answers to options exactly (case-sensitive)', () => {
    expect(checkResponse(approval, response('Yes'), policy).ok).toBe(false);
  });

  it('accepts any answer to an interrupt that lists no options', () => {
    const { options: _options, ...open } = escalation;

    expect(checkResponse(open, response('anything at all'), policy).ok).toBe(true);
  });

  describe('approvers', () => {
    const restricted: ResponsePolicy = { ...policy, approvers: ['ana', 'bo'] };

    it('rejects an approval from a reviewer outside HITL_APPROVERS, naming the rule', () => {
      const reason = rejection(
        checkResponse(approval, response('yes', { reviewer: 'mallory' }), restricted),
      );

      expect(reason).toContain("reviewer 'mallory' may not answer approvals");
      expect(reason).toContain('HITL_APPROVERS allows: ana, bo');
    });

    it('accepts an approval from a listed reviewer', () => {
      expect(checkResponse(approval, response('yes', { reviewer: 'bo' }), restricted).ok).toBe(
        true,
      );
    });

    it('lets anyone answer an escalation', () => {
      expect(
        checkResponse(escalation, response('refund', { reviewer: 'mallory' }), restricted).ok,
      ).toBe(true);
    });

    it('lets anyone answer an approval when no approvers are configured', () => {
      expect(checkResponse(approval, response('yes', { reviewer: 'mallory' }), policy).ok).toBe(
        true,
      );
    });
  });

  describe('updates', () => {
    it('accepts an approval update with a draft and returns it', () => {
      const verdict = checkResponse(
        approval,
        response('yes', { update: { draft: 'Edited reply.' } }),
        policy,
      );

      expect(verdict).toEqual({ ok: true, update: { draft: 'Edited reply.' } });
    });

    it.each([
      ['1 character', 1],
      ['4,000 characters', 4_000],
    ])('accepts an approval draft of %s', (_label, length) => {
      const draft = 'd'.repeat(length);

      expect(checkResponse(approval, response('yes', { update: { draft } }), policy)).toEqual({
        ok: true,
        update: { draft },
      });
    });

    it.each<[string, unknown]>([
      ['an empty draft', ''],
      ['a draft of 4,001 characters', 'd'.repeat(4_001)],
      ['a draft that is not a string', 42],
    ])('rejects an approval update with %s, naming the draft field', (_label, draft) => {
      const reason = rejection(
        checkResponse(approval, response('yes', { update: { draft } }), policy),
      );

      expect(reason).toMatch(/^update rejected for an? approval interrupt: draft: /);
    });

    it('rejects an approval update with a key other than draft, naming the key', () => {
      const reason = rejection(
        checkResponse(approval, response('yes', { update: { category: 'billing' } }), policy),
      );

      expect(reason).toMatch(/^update rejected for an? approval interrupt: /);
      expect(reason).toContain('category');
    });

    it('rejects an escalation update of any key, saying it accepts none', () => {
      const reason = rejection(
        checkResponse(escalation, response('refund', { update: { category: 'x' } }), policy),
      );

      expect(reason).toMatch(/^update key 'category' is not accepted by an? escalation interrupt/);
      expect(reason).toContain('(it accepts none)');
    });

    it('accepts an escalation response with an empty update', () => {
      expect(checkResponse(escalation, response('drop', { update: {} }), policy)).toEqual({
        ok: true,
        update: {},
      });
    });

    it('uses the update schemas the support actors declare', () => {
      const definitions = supportActors({
        model: new FakeModel(),
        approvalCategories: ['refund', 'billing'],
      });
      const gate = { updates: definitionOf(definitions, 'gate').updates };
      const triage = { updates: definitionOf(definitions, 'triage').updates };

      expect(checkResponse(approval, response('yes', { update: { draft: 'ok' } }), gate).ok).toBe(
        true,
      );
      expect(checkResponse(approval, response('yes', { update: { other: 1 } }), gate).ok).toBe(
        false,
      );
      expect(
        checkResponse(escalation, response('refund', { update: { draft: 'x' } }), triage).ok,
      ).toBe(false);
    });
  });

  it('checks the interrupt id before the answer', () => {
    const reason = rejection(
      checkResponse(approval, response('maybe', { interruptId: 'int-1' }), policy),
    );

    expect(reason).toContain("'int-1' is not pending");
  });
});

describe('checkResponseTime', () => {
  const asked = Date.parse(approval.createdAt);
  const at = (ms: number) => new Date(asked + ms).toISOString();
  const withDeadline = { ...approval, expiresAt: at(60_000) };

  it('accepts a response stored between the question and its deadline, or with no time', () => {
    expect(checkResponseTime(withDeadline, {}, at(1_000))).toBeUndefined();
    expect(checkResponseTime(withDeadline, {}, at(60_000))).toBeUndefined();
    expect(checkResponseTime(withDeadline, {}, undefined)).toBeUndefined();
  });

  it('rejects one stored after the deadline, however late it is read', () => {
    expect(checkResponseTime(withDeadline, {}, at(60_001))).toMatch(
      /^the deadline of interrupt 'int-7' passed at .*; this response was stored at /,
    );
  });

  it('rejects one stored before the question was asked, allowing for clock skew', () => {
    expect(checkResponseTime(approval, {}, at(-CLOCK_SKEW_MS))).toBeUndefined();
    expect(checkResponseTime(approval, {}, at(-CLOCK_SKEW_MS - 1))).toMatch(
      /before interrupt 'int-7' was asked at 2025-01-01T00:00:00.000Z: it answers an earlier question/,
    );
  });

  it('takes a response that names the interrupt as its answer, whatever the clocks say', () => {
    expect(checkResponseTime(approval, { interruptId: 'int-7' }, at(-60_000))).toBeUndefined();
    expect(checkResponseTime(approval, { interruptId: 'int-6' }, at(-60_000))).toMatch(
      /answers an earlier question/,
    );
  });
});
