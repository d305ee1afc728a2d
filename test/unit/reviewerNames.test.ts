import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReviewerNames } from '../../src/inbox/reviewerNames.js';

describe('ReviewerNames', () => {
  it('normalises e-mail-like names to reviewer tokens and refuses those that map to nothing', () => {
    const names = ReviewerNames.normalising();
    expect(names.map('ana.lopez@example.com')).toBe('ana_lopez');
    expect(names.map('  bo@example.com ')).toBe('bo');
    expect(names.map("o'brien+inbox@mail.example.com")).toBe('o_brien_inbox');
    expect(names.map('plain-name_1')).toBe('plain-name_1');
    expect(names.map('a@b@example.com')).toBe('a_b');
    for (const bad of [undefined, '', '   ', '@example.com', '...@example.com', 'x'.repeat(65)]) {
      expect(names.map(bad)).toBeUndefined();
    }
  });

  it('maps only the names a mapping file lists, without case, and checks its values', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hitl-names-'));
    try {
      const good = join(dir, 'good.json');
      await writeFile(good, JSON.stringify({ 'Ana.Lopez@Example.com': 'ana' }));
      const names = ReviewerNames.fromFile(good);
      expect(names.map('ana.lopez@example.com')).toBe('ana');
      expect(names.map('bo@example.com')).toBeUndefined();
      const bad = join(dir, 'bad.json');
      await writeFile(bad, JSON.stringify({ 'bo@example.com': 'bo lopez' }));
      expect(() => ReviewerNames.fromFile(bad)).toThrow(/'bo lopez', not a legal reviewer/);
      expect(() => ReviewerNames.fromFile(join(dir, 'none.json'))).toThrow(/cannot read/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
