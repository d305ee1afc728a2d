import type { Category } from './categories.js';
import type { Classification, DraftRequest, ModelUsage, SupportModel } from './model.js';

/** The contract's keyword table, in order of precedence. */
export const MOCK_KEYWORDS: readonly { category: Category; confidence: number; words: string[] }[] =
  [
    {
      category: 'refund',
      confidence: 0.95,
      words: ['refund', 'money back', 'never arrived', 'never shipped', 'return'],
    },
    {
      category: 'billing',
      confidence: 0.9,
      words: ['invoice', 'billing', 'charge', 'charged', 'payment', 'subscription'],
    },
    {
      category: 'technical',
      confidence: 0.9,
      words: ['error', 'bug', 'crash', 'login', 'password', 'broken'],
    },
  ];

const patterns = MOCK_KEYWORDS.map((row) => ({
  ...row,
  // Case-insensitive, at the start of a word: 'return' matches "Return it" and "returned",
  // 'error' matches "errors" but not "terror".
  pattern: new RegExp(`\\b(${row.words.map((w) => w.replace(/ /g, '\\s+')).join('|')})`, 'i'),
}));

const templates: Record<Category, (r: DraftRequest) => string> = {
  refund: (r) =>
    `Hello${r.customer ? ` ${r.customer}` : ''}, thank you for reaching out about your refund. We have reviewed your request and will return the payment to your original method within 5 business days.`,
  billing: (r) =>
    `Hello${r.customer ? ` ${r.customer}` : ''}, thank you for your billing question. We have checked your account and corrected the charge; the updated invoice is on its way.`,
  technical: (r) =>
    `Hello${r.customer ? ` ${r.customer}` : ''}, thank you for reporting this technical issue. Please sign out, clear your browser cache and try again; if it persists, reply with a screenshot and we will escalate it.`,
};

/** The mock's drafts are plain text: it reports the cost of its classifications only. */
export interface MockModel extends SupportModel {
  draft(request: DraftRequest): Promise<string>;
}

// The mock costs nothing and takes no time; saying so keeps `triaged` events the same shape as
// with a real model.
const NO_USAGE: ModelUsage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
const NO_COST = { model: 'mock', latencyMs: 0 } as const;

/**
 * The deterministic, offline model of the contract: triage by keywords, templated drafts.
 *
 * @example
 * await mockModel().classify('I want my money back'); // { category: 'refund', confidence: 0.95 }
 */
export function mockModel(): MockModel {
  return {
    name: 'mock',
    classify(request: string): Promise<Classification> {
      for (const row of patterns) {
        if (row.pattern.test(request)) {
          return Promise.resolve({
            category: row.category,
            confidence: row.confidence,
            rationale: `matched a ${row.category} keyword`,
            ...NO_COST,
            usage: { ...NO_USAGE },
          });
        }
      }
      return Promise.resolve({
        category: null,
        confidence: 0.2,
        rationale: 'no keyword matched',
        ...NO_COST,
        usage: { ...NO_USAGE },
      });
    },
    draft(request: DraftRequest): Promise<string> {
      return Promise.resolve(templates[request.category](request));
    },
  };
}
