import { describe, expect, it } from 'vitest';
import {
  describeZodError,
  InterruptRecordSchema,
  ResponseSchema,
  TicketSchema,
} from '../../src/base/schemas.js';

function ticketError(payload: unknown): string {
  const parsed = TicketSchema.safeParse(payload);
  if (parsed.success) throw new Error(`expected ${JSON.stringify(payload)} to be rejected`);
  return describeZodError(parsed.error);
}

describe('TicketSchema', () => {
  it('accepts a ticket with only a request', () => {
    expect(TicketSchema.parse({ request: 'help' })).toEqual({ request: 'help' });
  });

  it('accepts every optional field of the contract', () => {
    const ticket = {
      id: 'wf-1',
      request: 'help',
      customer: 'Ana',
      channel: 'email',
      metadata: { orderId: '42', locale: 'en' },
      timeoutMs: 60_000,
    };

    expect(TicketSchema.parse(ticket)).toEqual(ticket);
  });

  it('ignores unknown extra fields', () => {
    expect(TicketSchema.parse({ request: 'help', priority: 'high', nested: { a: 1 } })).toEqual({
      request: 'help',
    });
  });

  it.each([
    ['1 character', 1],
    ['10,000 characters', 10_000],
  ])('accepts a request of %s', (_label, length) => {
    expect(TicketSchema.safeParse({ request: 'r'.repeat(length) }).success).toBe(true);
  });

  it.each<[string, unknown]>([
    ['a missing request', {}],
    ['an empty request', { request: '' }],
    ['a request of 10,001 characters', { request: 'r'.repeat(10_001) }],
    ['a request that is not a string', { request: 42 }],
  ])('rejects %s, naming the request field', (_label, payload) => {
    expect(ticketError(payload)).toMatch(/^request: /);
  });

  it.each(['customer', 'channel'])('bounds %s at 200 characters', (field) => {
    expect(TicketSchema.safeParse({ request: 'x', [field]: 'c'.repeat(200) }).success).toBe(true);
    expect(ticketError({ request: 'x', [field]: 'c'.repeat(201) })).toMatch(
      new RegExp(`^${field}: `),
    );
  });

  it('rejects metadata that is not a string-to-string map', () => {
    expect(ticketError({ request: 'x', metadata: { orderId: 42 } })).toMatch(
      /^metadata\.orderId: /,
    );
    expect(ticketError({ request: 'x', metadata: 'orderId=42' })).toMatch(/^metadata: /);
  });

  it.each(['a b/c', 'a.b', '', 'a'.repeat(65)])("rejects the illegal id '%s'", (id) => {
    expect(ticketError({ id, request: 'x' })).toContain(
      "id: use 1 to 64 letters, digits, '-' and '_'",
    );
  });

  it.each([0, -1, 1.5, '1000', 999, 31_536_000_001, 8_700_000_000_000_000])(
    'rejects a timeoutMs of %s',
    (timeoutMs) => {
      expect(ticketError({ request: 'x', timeoutMs })).toMatch(/^timeoutMs: /);
    },
  );

  it.each([1_000, 31_536_000_000])(
    'accepts a timeoutMs of %s (1 second to 1 year)',
    (timeoutMs) => {
      expect(TicketSchema.parse({ request: 'x', timeoutMs }).timeoutMs).toBe(timeoutMs);
    },
  );
});

describe('ResponseSchema', () => {
  it('accepts a minimal response', () => {
    expect(ResponseSchema.parse({ answer: 'yes', reviewer: 'ana' })).toEqual({
      answer: 'yes',
      reviewer: 'ana',
    });
  });

  it('accepts the optional interruptId, update and comment', () => {
    const full = {
      answer: 'yes',
      reviewer: 'ana',
      interruptId: 'int-1',
      update: { draft: 'Edited.' },
      comment: 'looks good',
    };

    expect(ResponseSchema.parse(full)).toEqual(full);
  });

  it.each(['', '   '])("rejects the empty reviewer '%s' with a message saying so", (reviewer) => {
    const parsed = ResponseSchema.safeParse({ answer: 'yes', reviewer });

    expect(parsed.success).toBe(false);
    expect(parsed.error && describeZodError(parsed.error)).toBe(
      'reviewer: reviewer must be a non-empty name',
    );
  });

  it.each<[string, unknown]>([
    ['a missing answer', { reviewer: 'ana' }],
    ['an empty answer', { answer: '', reviewer: 'ana' }],
    ['a missing reviewer', { answer: 'yes' }],
    ['an update that is not an object', { answer: 'yes', reviewer: 'ana', update: 'draft' }],
  ])('rejects %s', (_label, payload) => {
    expect(ResponseSchema.safeParse(payload).success).toBe(false);
  });

  it('ignores unknown extra fields', () => {
    expect(ResponseSchema.parse({ answer: 'no', reviewer: 'bo', mood: 'grumpy' })).toEqual({
      answer: 'no',
      reviewer: 'bo',
    });
  });
});

describe('InterruptRecordSchema', () => {
  it('accepts an approval record of the contract', () => {
    const record = {
      workflowId: 'wf-1',
      interruptId: 'int-1',
      actor: 'gate',
      type: 'approval',
      question: 'Send it?',
      options: ['yes', 'no'],
      draft: 'Hello.',
      category: 'refund',
      createdAt: '2025-01-01T00:00:00.000Z',
      expiresAt: '2025-01-01T00:01:00.000Z',
    };

    expect(InterruptRecordSchema.parse(record)).toEqual(record);
  });

  it('rejects a record without an interrupt id', () => {
    expect(
      InterruptRecordSchema.safeParse({
        workflowId: 'wf-1',
        actor: 'gate',
        type: 'approval',
        question: 'Send it?',
        createdAt: '2025-01-01T00:00:00.000Z',
      }).success,
    ).toBe(false);
  });
});

describe('describeZodError', () => {
  it('names every failing field on one line', () => {
    const parsed = TicketSchema.safeParse({ request: '', customer: 7 });
    if (parsed.success) throw new Error('expected the ticket to be rejected');
    const message = describeZodError(parsed.error);

    expect(message).not.toContain('\n');
    expect(message).toMatch(/request: /);
    expect(message).toMatch(/customer: /);
    expect(message).toContain('; ');
  });

  it('names the payload itself when the root is wrong', () => {
    const parsed = TicketSchema.safeParse('not an object');
    if (parsed.success) throw new Error('expected the ticket to be rejected');

    expect(describeZodError(parsed.error)).toMatch(/^payload: /);
  });
});
