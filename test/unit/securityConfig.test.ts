import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/base/config.js';
import { connectOptions } from '../../src/nats/connection.js';
import { checkResponse } from '../../src/runtime/responsePolicy.js';
import type { InterruptRecord } from '../../src/base/schemas.js';

describe('security settings', () => {
  it('reads an nkey seed file and TLS files', () => {
    const config = loadConfig({
      NATS_NKEY: '/etc/hitl/worker.nk',
      NATS_TLS_CA: '/etc/hitl/ca.pem',
      NATS_TLS_CERT: '/etc/hitl/cert.pem',
      NATS_TLS_KEY: '/etc/hitl/key.pem',
    });
    expect(config.nats).toEqual({
      url: 'nats://127.0.0.1:4222',
      nkeyFile: '/etc/hitl/worker.nk',
      tls: {
        caFile: '/etc/hitl/ca.pem',
        certFile: '/etc/hitl/cert.pem',
        keyFile: '/etc/hitl/key.pem',
      },
    });
  });

  it('reads NATS_INBOX_PREFIX into the connection options, refusing wildcards', async () => {
    const config = loadConfig({ NATS_INBOX_PREFIX: '_INBOX_reviewer' });
    expect(config.nats.inboxPrefix).toBe('_INBOX_reviewer');
    expect((await connectOptions(config.nats)).inboxPrefix).toBe('_INBOX_reviewer');
    expect((await connectOptions(loadConfig({}).nats)).inboxPrefix).toBeUndefined();
    for (const bad of ['_INBOX.>', 'a.*.b', 'a b', 'a..b']) {
      expect(() => loadConfig({ NATS_INBOX_PREFIX: bad })).toThrow(
        `NATS_INBOX_PREFIX must be subject tokens of letters, digits, '_', '-' and '$' joined by '.', without wildcards, got '${bad}'`,
      );
    }
  });

  it('reads the stream limits, each age at least the duplicate window, a size limit on events with an age', () => {
    expect(loadConfig({}).streamLimits).toBeUndefined();
    expect(
      loadConfig({
        HITL_TICKETS_MAX_BYTES: '1000',
        HITL_TICKETS_MAX_AGE_MS: '600000',
        HITL_DLQ_MAX_BYTES: '2000',
        HITL_EVENTS_MAX_BYTES: '4096',
        HITL_EVENTS_MAX_AGE_MS: '86400000',
      }).streamLimits,
    ).toEqual({
      ticketsMaxBytes: 1000,
      ticketsMaxAgeMs: 600000,
      dlqMaxBytes: 2000,
      eventsMaxBytes: 4096,
      eventsMaxAgeMs: 86400000,
    });
    expect(() => loadConfig({ HITL_RESPONSES_MAX_AGE_MS: '1000' })).toThrow(
      'HITL_RESPONSES_MAX_AGE_MS must be at least 600000 (10 minutes',
    );
    expect(() => loadConfig({ HITL_DLQ_MAX_BYTES: '0' })).toThrow(
      "HITL_DLQ_MAX_BYTES must be a positive integer of bytes, got '0'",
    );
    expect(() => loadConfig({ HITL_EVENTS_MAX_BYTES: '4096' })).toThrow(
      /^HITL_EVENTS_MAX_BYTES needs HITL_EVENTS_MAX_AGE_MS/,
    );
  });

  it('refuses half a credential', () => {
    expect(() => loadConfig({ NATS_USER: 'ana' })).toThrow('NATS_USER needs NATS_PASS');
    expect(() => loadConfig({ NATS_PASS: 'x' })).toThrow('NATS_PASS needs NATS_USER');
    expect(() => loadConfig({ NATS_TLS_CERT: '/c.pem' })).toThrow(
      'NATS_TLS_CERT and NATS_TLS_KEY go together (a client certificate and its key)',
    );
  });

  it('reads HITL_SEPARATE_APPROVER, HITL_MAX_PAYLOAD_BYTES and HITL_REPLICAS', () => {
    const config = loadConfig({
      HITL_SEPARATE_APPROVER: 'true',
      HITL_MAX_PAYLOAD_BYTES: '1024',
      HITL_REPLICAS: '3',
    });
    expect(config).toMatchObject({ separateApprover: true, maxPayloadBytes: 1024, replicas: 3 });
    expect(loadConfig({ HITL_SEPARATE_APPROVER: 'false' }).separateApprover).toBeUndefined();
    expect(() => loadConfig({ HITL_SEPARATE_APPROVER: 'maybe' })).toThrow(
      "HITL_SEPARATE_APPROVER must be true or false, got 'maybe'",
    );
    expect(() => loadConfig({ HITL_MAX_PAYLOAD_BYTES: '-1' })).toThrow(
      "HITL_MAX_PAYLOAD_BYTES must be a positive integer of bytes, got '-1'",
    );
    expect(() => loadConfig({ HITL_REPLICAS: '7' })).toThrow(
      "HITL_REPLICAS must be 1, 3 or 5 (3 on a three-node cluster), got '7'",
    );
    // An even group survives no more losses than the odd one below it.
    expect(() => loadConfig({ HITL_REPLICAS: '2' })).toThrow("got '2'");
    expect(loadConfig({ HITL_REPLICAS: '5' }).replicas).toBe(5);
  });
});

describe('the separate-approver rule', () => {
  const approval: InterruptRecord = {
    workflowId: 'wf-1',
    interruptId: 'gate-1',
    actor: 'gate',
    type: 'approval',
    question: 'Send it?',
    options: ['yes', 'no'],
    createdAt: '2026-01-01T00:00:00.000Z',
    previousReviewers: ['ana'],
  };

  it('refuses an approval by a reviewer who answered earlier, naming the rule', () => {
    expect(
      checkResponse(
        approval,
        { answer: 'no', reviewer: 'ana' },
        { updates: {}, separateApprover: true },
      ),
    ).toEqual({
      ok: false,
      reason:
        "reviewer 'ana' answered an earlier interrupt of this workflow and may not also answer its approval (HITL_SEPARATE_APPROVER: another reviewer must approve)",
    });
    expect(
      checkResponse(
        approval,
        { answer: 'yes', reviewer: 'bo' },
        { updates: {}, separateApprover: true },
      ),
    ).toEqual({ ok: true, update: {} });
  });

  it('applies to approvals only, and only when on', () => {
    expect(checkResponse(approval, { answer: 'yes', reviewer: 'ana' }, { updates: {} }).ok).toBe(
      true,
    );
    const escalation = { ...approval, type: 'escalation', options: ['refund', 'drop'] };
    expect(
      checkResponse(
        escalation,
        { answer: 'refund', reviewer: 'ana' },
        { updates: {}, separateApprover: true },
      ).ok,
    ).toBe(true);
  });
});
