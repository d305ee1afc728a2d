import { describe, expect, it } from 'vitest';
import {
  formatEvent,
  formatParked,
  formatPending,
  printable,
  terminalSafe,
} from '../../src/cli/format.js';
import { redactNatsUrl } from '../../src/nats/connection.js';
import type { EventEnvelope, InterruptRecord } from '../../src/base/schemas.js';

const ESC = '\u001b';
const HOSTILE = `clear${ESC}[2J title${ESC}]0;owned\u0007 csi\u009b31m bidi\u202etxt.exe`;
// eslint-disable-next-line no-control-regex -- it looks for raw control characters
const UNSAFE_CHARS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('terminal-safe output', () => {
  it('escapes control characters and bidirectional overrides, and flattens whitespace', () => {
    expect(terminalSafe(HOSTILE)).toBe(
      'clear\\x1b[2J title\\x1b]0;owned\\x07 csi\\x9b31m bidi\\u202etxt.exe',
    );
    expect(terminalSafe('two\nlines\tand  tabs')).toBe('two lines and tabs');
    expect(terminalSafe('Zoë café 日本')).toBe('Zoë café 日本');
  });

  it('leaves JSON valid while escaping what JSON.stringify leaves raw', () => {
    const json = JSON.stringify({ request: HOSTILE });
    const line = printable(json);
    expect(line).not.toMatch(UNSAFE_CHARS);
    expect(JSON.parse(line)).toEqual({ request: HOSTILE });
  });

  it('prints events, pending and parked lines without a raw control character', () => {
    const at = '2026-01-01T12:00:00.000Z';
    const events: EventEnvelope[] = [
      { workflowId: 'wf-1', type: 'received', actor: 'triage', at, data: { request: HOSTILE } },
      {
        workflowId: 'wf-1',
        type: 'resumed',
        actor: 'gate',
        at,
        data: { answer: 'yes', reviewer: HOSTILE, interruptId: 'gate-1' },
      },
      {
        workflowId: 'wf-1',
        type: 'response_rejected',
        actor: `gate${ESC}[31m`,
        at,
        data: { reason: HOSTILE, reviewer: HOSTILE },
      },
      { workflowId: 'wf-1', type: `x${ESC}[2J`, actor: 'gate', at, data: { k: HOSTILE } },
    ];
    for (const e of events) {
      const line = formatEvent(e);
      expect(line).not.toMatch(UNSAFE_CHARS);
      expect(line).toContain('\\x1b');
    }
    const record: InterruptRecord = {
      workflowId: 'wf-1',
      interruptId: 'gate-1',
      actor: 'gate',
      type: 'approval',
      question: HOSTILE,
      options: ['yes', `n${ESC}o`],
      createdAt: at,
    };
    expect(formatPending(record, Date.parse(at))).not.toMatch(UNSAFE_CHARS);
    const parked = { workflowId: 'wf-1', actor: 'gate', step: 'gate', reason: HOSTILE, at };
    expect(formatParked(parked, Date.parse(at))).not.toMatch(UNSAFE_CHARS);
  });

  it('keeps its own colours when asked for them', () => {
    const e: EventEnvelope = {
      workflowId: 'wf-1',
      type: 'completed',
      actor: 'gate',
      at: '2026-01-01T12:00:00.000Z',
      data: { outcome: 'sent' },
    };
    expect(formatEvent(e, true)).toContain(`${ESC}[1;32m`);
  });
});

describe('redactNatsUrl', () => {
  it('masks passwords and tokens, in every server of a list', () => {
    expect(redactNatsUrl('nats://worker:s3cret@nats:4222')).toBe('nats://worker:***@nats:4222');
    expect(redactNatsUrl('nats://t0ken@nats:4222')).toBe('nats://***@nats:4222');
    expect(redactNatsUrl('tls://a:p1@n1:4222, tls://a:p2@n2:4222,nats://n3:4222')).toBe(
      'tls://a:***@n1:4222, tls://a:***@n2:4222,nats://n3:4222',
    );
    expect(redactNatsUrl('a:pw@127.0.0.1:4222')).toBe('a:***@127.0.0.1:4222');
    expect(redactNatsUrl('nats://127.0.0.1:4222')).toBe('nats://127.0.0.1:4222');
  });
});
