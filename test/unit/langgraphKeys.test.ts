import { describe, expect, it } from 'vitest';
import { keyToken, keyTokenValue, LangGraphKeys, Subjects } from '../../src/nats/subjects.js';

// What nats.js accepts as a KV key, and what one token of it may hold.
const KV_KEY = /^[-/=.\w]+$/;
const TOKEN = /^[-=\w]+$/;

describe('keyToken', () => {
  it('keeps plain ids as they are', () => {
    expect(keyToken('thread-1')).toBe('thread-1');
    expect(keyToken('1f0c2a6e-5b3d-6e10-8000-0123456789ab')).toBe(
      '1f0c2a6e-5b3d-6e10-8000-0123456789ab',
    );
  });

  it.each([
    ['the empty namespace', ''],
    ['a subgraph namespace', 'parent:1f0c2a6e|child:2b1d'],
    ['dots and wildcards', 'a.b.*.>'],
    ['spaces and slashes', 'a b/c'],
    ['a leading marker', '=abc'],
    ['unicode', 'ünïcødé 🙂'],
    ['100 characters of punctuation', '!'.repeat(95)],
  ])('encodes %s into one legal token that decodes back', (_label, value) => {
    const token = keyToken(value);
    expect(token).toMatch(TOKEN);
    expect(token.startsWith('=')).toBe(true);
    expect(keyTokenValue(token)).toBe(value);
  });

  it('hashes what would not fit in 128 characters, distinctly', () => {
    const a = keyToken('x '.repeat(500));
    const b = keyToken('x '.repeat(501));
    expect(a).toMatch(/^==[-\w]{43}$/);
    expect(b).toMatch(/^==[-\w]{43}$/);
    expect(a).not.toBe(b);
    expect(keyTokenValue(a)).toBeUndefined();
  });

  it('gives distinct strings distinct tokens where raw and encoded forms could meet', () => {
    const values = [
      '',
      '=',
      '==',
      'YQ',
      '=YQ',
      'a',
      'a.b',
      'a_b',
      'a-b',
      'a b',
      'A',
      '\u00e9',
      'e\u0301',
    ];
    const tokens = values.map(keyToken);
    expect(new Set(tokens).size).toBe(values.length);
  });

  it('refuses a lone surrogate, which UTF-8 cannot carry, with a message that says so', () => {
    expect(() => keyToken('a\ud800b')).toThrow(/lone UTF-16 surrogate/);
  });
});

describe('LangGraphKeys', () => {
  it('names its bucket from the prefix, apart from the runtime buckets of any prefix', () => {
    const s = new Subjects('hitl');
    const keys = new LangGraphKeys(s);
    expect(keys.bucket).toBe('hitl_langgraph');
    expect(Object.values(s.buckets)).not.toContain(keys.bucket);
    // The runtime's bucket names end in _snapshots or _interrupts, never in _langgraph.
    for (const prefix of ['langgraph', 'x_langgraph', 'a.b', 'T1']) {
      const other = new Subjects(prefix);
      expect(Object.values(other.buckets)).not.toContain(keys.bucket);
      expect(new LangGraphKeys(other).bucket).toBe(
        `${prefix.toLowerCase().replace('.', '_')}_langgraph`,
      );
    }
  });

  it('builds legal KV keys whatever the thread, namespace, checkpoint and channel hold', () => {
    const keys = new LangGraphKeys(new Subjects('hitl'));
    const odd = ['', 'a b', 'x.y', '*', '>', 'ü', 'q'.repeat(300)];
    for (const t of odd) {
      for (const ns of odd) {
        expect(keys.checkpoint(t, ns, 'cp')).toMatch(KV_KEY);
        expect(keys.head(t, ns)).toMatch(KV_KEY);
        expect(keys.value(t, ns, 'cp', ns)).toMatch(KV_KEY);
        expect(keys.writes(t, ns, 'cp')).toMatch(KV_KEY);
      }
    }
  });

  it('lists one thread, one namespace, or every thread with one filter subject each', () => {
    const keys = new LangGraphKeys(new Subjects('hitl'));
    expect(keys.checkpoints('t1', undefined)).toBe('t1.c.*.*');
    expect(keys.checkpoints('t1', '')).toBe('t1.c.=.*');
    expect(keys.checkpoints(undefined, 'child')).toBe('*.c.child.*');
    expect(keys.thread('a b')).toBe(`${keyToken('a b')}.>`);
    // A thread whose id is another's plus a suffix does not fall under its filter.
    expect(keys.checkpoint('t1.x', '', 'cp').startsWith('t1.')).toBe(false);
  });
});
