import { describe, expect, it } from 'vitest';
import { parseTtl, signGrant, verifyGrant } from '../../src/inbox/answerLinks.js';

const SECRET = 'a-secret-of-at-least-thirty-two-characters';
const grant = { workflowId: 'wf-1', interruptId: 'gate-1', reviewer: 'ana', expires: 2_000 };

describe('answer links', () => {
  it('round-trips a grant signed with the secret until its time is up', () => {
    const token = signGrant(SECRET, grant);
    expect(verifyGrant(SECRET, token, 1_999)).toEqual(grant);
    expect(() => verifyGrant(SECRET, token, 2_000)).toThrow(/expired/);
  });

  it('refuses a token signed with another key, or changed in any part', () => {
    const token = signGrant(SECRET, grant);
    expect(() => verifyGrant(`${SECRET}x`, token, 0)).toThrow(/not valid/);
    const [body, mac] = token.split('.') as [string, string];
    const other = Buffer.from(
      JSON.stringify({ w: 'wf-1', i: 'gate-1', r: 'mallory', e: 2_000 }),
    ).toString('base64url');
    expect(() => verifyGrant(SECRET, `${other}.${mac}`, 0)).toThrow(/not valid/);
    expect(() => verifyGrant(SECRET, `${body}.${mac.slice(1)}`, 0)).toThrow(/not valid/);
    expect(() => verifyGrant(SECRET, body, 0)).toThrow(/malformed/);
    expect(() => verifyGrant(SECRET, `${token}.x`, 0)).toThrow(/malformed/);
  });

  it('signs only legal workflow ids and reviewer names', () => {
    expect(() => signGrant(SECRET, { ...grant, reviewer: 'ana lopez' })).toThrow(/reviewer/);
    expect(() => signGrant(SECRET, { ...grant, workflowId: 'a.b' })).toThrow(/workflow id/);
  });

  it('reads --ttl durations', () => {
    expect(parseTtl('90s')).toBe(90_000);
    expect(parseTtl('15m')).toBe(900_000);
    expect(parseTtl('1h')).toBe(3_600_000);
    expect(parseTtl('2d')).toBe(172_800_000);
    expect(parseTtl('500')).toBe(500);
    expect(() => parseTtl('soon')).toThrow(/--ttl must look like/);
    expect(() => parseTtl('0h')).toThrow(/positive/);
  });
});
