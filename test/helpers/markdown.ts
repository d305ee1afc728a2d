import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** A link found in a markdown page: where it is and where it points. */
export interface MarkdownLink {
  line: number;
  target: string;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/** The page's lines with fenced code blocks blanked, so nothing inside them counts. */
export function proseLines(text: string): string[] {
  let fence: string | undefined;
  return text.split('\n').map((line) => {
    const open = FENCE.exec(line)?.[1];
    if (fence !== undefined) {
      if (open !== undefined && open[0] === fence[0] && open.length >= fence.length) {
        fence = undefined;
      }
      return '';
    }
    if (open !== undefined) {
      fence = open;
      return '';
    }
    return line;
  });
}

/** Inline code spans of one line of prose, without their backticks. */
export function codeSpans(line: string): string[] {
  return [...line.matchAll(/(`+)(.+?)\1/g)].map((m) => (m[2] ?? '').trim());
}

/**
 * GitHub's heading anchor: the heading's text lower-cased, with everything but letters, digits,
 * `_`, `-` and spaces removed and each space turned into `-` (github-slugger's rule).
 */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/<[^>]+>/g, '') // inline HTML
    .replace(/`([^`]*)`/g, '$1')
    .replace(/(\*\*|__|\*|~~)(.+?)\1/g, '$2')
    .replace(/(^|\W)_(.+?)_(?=\W|$)/g, '$1$2');
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a page offers: its headings' slugs (repeats numbered as GitHub does) and HTML ids. */
export function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(text)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line)?.[1];
    if (heading !== undefined) {
      const slug = githubSlug(heading);
      const n = seen.get(slug) ?? 0;
      seen.set(slug, n + 1);
      anchors.add(n === 0 ? slug : `${slug}-${n}`);
    }
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1] ?? '');
  }
  return anchors;
}

/** The inline links, images and reference definitions of a page, code excluded. */
export function linksOf(text: string): MarkdownLink[] {
  const links: MarkdownLink[] = [];
  proseLines(text).forEach((raw, i) => {
    const line = raw.replace(/(`+)(.+?)\1/g, 'code');
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      links.push({ line: i + 1, target: m[1] ?? '' });
    }
    const ref = /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(line);
    if (ref?.[1] !== undefined) links.push({ line: i + 1, target: ref[1] });
  });
  return links;
}

/** True for links that leave the repository (`https:`, `mailto:`, `//host`). */
export function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//');
}

/**
 * What is wrong with each relative link of the page at `file` (a path under `root`): a target
 * that does not exist, or an anchor that no heading of the target markdown page produces.
 * Empty when every link resolves.
 */
export function brokenLinks(root: string, file: string): string[] {
  const page = relative(root, file);
  const problems: string[] = [];
  for (const { line, target } of linksOf(readFileSync(file, 'utf8'))) {
    if (isExternal(target)) continue;
    const hash = target.indexOf('#');
    const path = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
    const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
    const resolved =
      path === '' ? file : path.startsWith('/') ? join(root, path) : resolve(dirname(file), path);
    const where = `${page}:${line}: ${target}`;
    if (!existsSync(resolved)) {
      problems.push(`${where}: no such file ${relative(root, resolved)}`);
      continue;
    }
    if (anchor === undefined || anchor === '') continue;
    if (!resolved.endsWith('.md')) {
      if (!/^L\d+(-L\d+)?$/.test(anchor)) problems.push(`${where}: anchor on a non-markdown file`);
      continue;
    }
    if (!anchorsOf(readFileSync(resolved, 'utf8')).has(anchor)) {
      problems.push(
        `${where}: no heading in ${relative(root, resolved)} has the anchor #${anchor}`,
      );
    }
  }
  return problems;
}
