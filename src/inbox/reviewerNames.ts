import { readFileSync } from 'node:fs';

/** A legal reviewer token: the last token of `hitl.human.respond.<wf>.<reviewer>`. */
export const REVIEWER_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Maps the names a sign-in proxy sends (usually e-mail addresses) to reviewer tokens.
 *
 * Without a mapping file the name is normalised: an e-mail address keeps its local part (the
 * text before the last `@`), and every character other than a letter, digit, `-` or `_` becomes
 * `_` (`ana.lopez@example.com` → `ana_lopez`). A name that normalises to nothing, to only `_`, or
 * to more than 64 characters maps to nothing and is refused. Two domains with the same local part
 * map to the same reviewer: give a mapping file when that matters.
 *
 * With a mapping file (JSON, `{ "ana.lopez@example.com": "ana" }`, keys compared without case),
 * only the names it lists map, each to its value, which must be a legal token.
 *
 * @example
 * const names = ReviewerNames.normalising();
 * names.map('ana.lopez@example.com'); // 'ana_lopez'
 * names.map('@@'); // undefined
 */
export class ReviewerNames {
  private constructor(private readonly table: Map<string, string> | undefined) {}

  /** The documented normalisation, for every name. */
  static normalising(): ReviewerNames {
    return new ReviewerNames(undefined);
  }

  /** Only the names listed in a JSON mapping file. Throws when a value is not a legal token. */
  static fromFile(path: string): ReviewerNames {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new Error(`cannot read the reviewer mapping file '${path}': ${String(err)}`, {
        cause: err,
      });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Error(`reviewer mapping file '${path}' must hold a JSON object of name → reviewer`);
    }
    const table = new Map<string, string>();
    for (const [name, reviewer] of Object.entries(parsed)) {
      if (typeof reviewer !== 'string' || !REVIEWER_PATTERN.test(reviewer)) {
        throw new Error(
          `reviewer mapping file '${path}': '${name}' maps to '${String(reviewer)}', not a legal reviewer (use 1 to 64 letters, digits, '-' and '_')`,
        );
      }
      table.set(name.trim().toLowerCase(), reviewer);
    }
    return new ReviewerNames(table);
  }

  /** The reviewer token for `name`, or undefined when it maps to nothing. */
  map(name: string | undefined): string | undefined {
    if (name === undefined) return undefined;
    const trimmed = name.trim();
    if (trimmed === '') return undefined;
    if (this.table) return this.table.get(trimmed.toLowerCase());
    const at = trimmed.lastIndexOf('@');
    const local = at >= 0 ? trimmed.slice(0, at) : trimmed;
    const token = local.replace(/[^A-Za-z0-9_-]/g, '_');
    if (!REVIEWER_PATTERN.test(token) || /^_+$/.test(token)) return undefined;
    return token;
  }
}
