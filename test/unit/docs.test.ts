import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  anchorsOf,
  brokenLinks,
  codeSpans,
  githubSlug,
  linksOf,
  proseLines,
} from '../helpers/markdown.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const pages = [
  join(root, 'README.md'),
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(root, 'docs', f)),
];

// A repository path written in backticks (`src/nats/subjects.ts`, `deploy/`): it must exist.
const REPO_PATH = /^(?:src|actors|test|deploy|bench|scripts|bin|docs|\.ci)\/[\w./-]*$/;
// Written by a run, not committed.
const GENERATED = ['bench/results/'];

describe('markdown link checking', () => {
  it('makes GitHub-style heading anchors', () => {
    expect(githubSlug('One step, exactly once')).toBe('one-step-exactly-once');
    expect(githubSlug('Subjects (the wire contract; default prefix `hitl`)')).toBe(
      'subjects-the-wire-contract-default-prefix-hitl',
    );
    expect(githubSlug('`HITL_PREFIX` and **bold** [link](x.md)')).toBe('hitl_prefix-and-bold-link');
    expect([...anchorsOf('# A\n\n## A\n\n```\n# not a heading\n```\n## B')]).toEqual([
      'a',
      'a-1',
      'b',
    ]);
  });

  it('finds links outside code only', () => {
    const links = linksOf('[a](x.md) `[b](y.md)`\n```\n[c](z.md)\n```\n[d]: w.md#top');
    expect(links.map((l) => l.target)).toEqual(['x.md', 'w.md#top']);
  });

  const scratch = mkdtempSync(join(tmpdir(), 'hitl-docs-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('reports a missing file and a missing anchor, and accepts good links', () => {
    writeFileSync(join(scratch, 'b.md'), '# Title\n\n## Some part\n');
    const a = join(scratch, 'a.md');
    writeFileSync(
      a,
      [
        '# Here',
        '[ok](b.md#some-part) [self](#here) [out](https://example.com/x#y)',
        '[gone](c.md) [bad anchor](b.md#other-part)',
      ].join('\n'),
    );
    expect(brokenLinks(scratch, a)).toEqual([
      'a.md:3: c.md: no such file c.md',
      'a.md:3: b.md#other-part: no heading in b.md has the anchor #other-part',
    ]);
  });
});

describe('README and docs/', () => {
  it('have a docs index and a page for each subject', () => {
    for (const page of ['README.md', 'concepts.md', 'contract.md', 'configuration.md', 'cli.md']) {
      expect(existsSync(join(root, 'docs', page)), page).toBe(true);
    }
  });

  it('link only to files and headings that exist', () => {
    const problems = pages.flatMap((page) => brokenLinks(root, page));
    expect(problems, `broken links:\n${problems.join('\n')}`).toEqual([]);
  });

  it('name only repository paths that exist', () => {
    const problems: string[] = [];
    for (const page of pages) {
      proseLines(readFileSync(page, 'utf8')).forEach((line, i) => {
        for (const span of codeSpans(line)) {
          if (!REPO_PATH.test(span) || GENERATED.some((g) => span.startsWith(g))) continue;
          if (!existsSync(join(root, span))) {
            problems.push(`${page.slice(root.length)}:${i + 1}: ${span}`);
          }
        }
      });
    }
    expect(problems, `paths that do not exist:\n${problems.join('\n')}`).toEqual([]);
  });

  it('keep the README short, with the example between its markers', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme.split('\n').length).toBeLessThanOrEqual(250);
    expect(readme).toMatch(
      /<!-- example:start -->\n+```(?:ts|typescript)\n[\s\S]+?\n```\n+<!-- example:end -->/,
    );
  });
});
