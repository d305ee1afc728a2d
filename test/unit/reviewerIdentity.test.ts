import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/base/config.js';
import { Subjects } from '../../src/nats/subjects.js';
import { resolveReviewer } from '../../src/runtime/reviewerIdentity.js';

const s = new Subjects('hitl');

describe('Subjects.parseResponse', () => {
  it('reads the workflow, and the reviewer when the subject names one', () => {
    expect(s.parseResponse(s.respond('wf-1'))).toEqual({ ok: true, workflowId: 'wf-1' });
    expect(s.parseResponse(s.respond('wf-1', 'ana_B-2'))).toEqual({
      ok: true,
      workflowId: 'wf-1',
      reviewer: 'ana_B-2',
    });
  });

  it('refuses an illegal reviewer token, extra tokens and foreign subjects, with a reason', () => {
    expect(s.parseResponse('hitl.human.respond.wf-1.ana!')).toEqual({
      ok: false,
      workflowId: 'wf-1',
      reason:
        "illegal reviewer name 'ana!' in subject 'hitl.human.respond.wf-1.ana!' (use 1 to 64 letters, digits, '-' and '_')",
    });
    expect(s.parseResponse(`hitl.human.respond.wf-1.${'a'.repeat(65)}`)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^illegal reviewer name/),
    });
    expect(s.parseResponse('hitl.human.respond.wf-1.ana.x.y')).toEqual({
      ok: false,
      workflowId: 'wf-1',
      reason:
        "subject 'hitl.human.respond.wf-1.ana.x.y' has 2 token(s) too many (publish on hitl.human.respond.<wf> or hitl.human.respond.<wf>.<reviewer>)",
    });
    expect(s.parseResponse('hitl.human.respond.a b')).toEqual({
      ok: false,
      reason:
        "illegal workflow id in subject 'hitl.human.respond.a b' (use 1 to 64 letters, digits, '-' and '_')",
    });
    expect(s.parseResponse('acme.human.respond.wf-1')).toMatchObject({ ok: false });
  });

  it('builds the subject of the responses that name a reviewer', () => {
    expect(s.respondNamed('wf-1')).toBe('hitl.human.respond.wf-1.*');
    expect(() => s.respond('wf-1', 'ana smith')).toThrow(
      "illegal reviewer name: 'ana smith' (use letters, digits, '-' and '_')",
    );
  });
});

describe('resolveReviewer', () => {
  const named = { subject: 'hitl.human.respond.wf-1.ana', reviewer: 'ana' };
  const plain = { subject: 'hitl.human.respond.wf-1' };

  it('takes the reviewer from the subject, with or without the same name in the payload', () => {
    for (const payload of [{ answer: 'yes' }, { answer: 'yes', reviewer: 'ana' }]) {
      expect(resolveReviewer(payload, named, false)).toEqual({
        ok: true,
        fromSubject: true,
        response: { answer: 'yes', reviewer: 'ana' },
      });
    }
  });

  it('refuses a payload reviewer that contradicts the subject, naming both', () => {
    expect(resolveReviewer({ answer: 'yes', reviewer: 'bo' }, named, false)).toEqual({
      ok: false,
      deadLetter: false,
      reviewer: 'ana',
      reason:
        "the payload names reviewer 'bo' but the subject 'hitl.human.respond.wf-1.ana' names 'ana': the subject says who answers (leave reviewer out of the payload, or give the same name)",
    });
  });

  it('takes the payload reviewer on the plain subject, unless names must be proven', () => {
    expect(resolveReviewer({ answer: 'no', reviewer: 'bo' }, plain, false)).toEqual({
      ok: true,
      fromSubject: false,
      response: { answer: 'no', reviewer: 'bo' },
    });
    expect(resolveReviewer({ answer: 'no', reviewer: 'bo' }, plain, true)).toEqual({
      ok: false,
      deadLetter: false,
      reviewer: 'bo',
      reason:
        "responses must name their reviewer in the subject (HITL_REVIEWER_FROM_SUBJECT=true): publish on 'hitl.human.respond.wf-1.<reviewer>', e.g. with HITL_RESPOND_WITH_SUBJECT=true",
    });
    expect(resolveReviewer({ answer: 'no' }, named, true)).toMatchObject({ ok: true });
  });

  it('dead-letters a response that names no reviewer anywhere', () => {
    expect(resolveReviewer({ answer: 'yes' }, plain, false)).toMatchObject({
      ok: false,
      deadLetter: true,
      reason: expect.stringMatching(
        /^invalid response: reviewer: .*expected string.*\(name the reviewer in the payload, or in the subject: 'hitl\.human\.respond\.wf-1\.<reviewer>'\)$/,
      ),
    });
  });
});

describe('HITL_REVIEWER_FROM_SUBJECT and HITL_RESPOND_WITH_SUBJECT', () => {
  it('are off by default; the first implies the second', () => {
    const none = loadConfig({});
    expect(none.reviewerFromSubject).toBeUndefined();
    expect(none.respondWithSubject).toBeUndefined();
    expect(loadConfig({ HITL_RESPOND_WITH_SUBJECT: 'true' })).toMatchObject({
      respondWithSubject: true,
    });
    expect(loadConfig({ HITL_RESPOND_WITH_SUBJECT: 'true' }).reviewerFromSubject).toBeUndefined();
    expect(loadConfig({ HITL_REVIEWER_FROM_SUBJECT: 'yes' })).toMatchObject({
      reviewerFromSubject: true,
      respondWithSubject: true,
    });
    expect(() => loadConfig({ HITL_REVIEWER_FROM_SUBJECT: 'sure' })).toThrow(
      "HITL_REVIEWER_FROM_SUBJECT must be true or false, got 'sure'",
    );
  });
});
