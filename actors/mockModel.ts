import type { Category } from './categories.js';
import type { Classification, DraftRequest, SupportModel } from './model.js';

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
  // Whole words or phrases, case-insensitive: 'return' matches "Return it", not "returned".
  pattern: new RegExp(`\\b(${row.words.map((w) => w.replace(/ /g, '\\s+')).join('|')})\\b`, 'i'),
}));

const templates: Record<Category, (r: DraftRequest) => string> = {
  refund: (r) =>
    `Hello${r.customer ? ` ${r.customer}` : ''}, thank you for reaching out about your refund. We have reviewed your request and will return the payment to your original method within 5 business days.`,
  billing: (r) =>
    `Hello${r.customer ? ` ${r.customer}` : ''}, thank you for your billing question. We have checked your account and corrected the charge; the updated invoice is on its way.`,
  technical: (r) =>
    `Hello${r.customer ? ` ${r.customer}` : ''}, thank you for reporting this technical issue. Please sign out, clear your browser cache and try again; if it persists, reply with a screenshot and we will escalate it.`,
};

/**
 * The deterministic, offline model of the contract: triage by keywords, templated drafts.
 *
 * @example
 * await mockModel().classify('I want my money back'); // { category: 'refund', confidence: 0.95 }
 */
export function mockModel(): SupportModel {
  return {
    name: 'mock',
    classify(request: string): Promise<Classification> {
      for (const row of patterns) {
        if (row.pattern.test(request)) {
          return Promise.resolve({
            category: row.category,
            confidence: row.confidence,
            rationale: `matched a ${row.category} keyword`,
          });
        }
      }
      return Promise.resolve({ category: null, confidence: 0.2, rationale: 'no keyword matched' });
    },
    draft(request: DraftRequest): Promise<string> {
      return Promise.resolve(templates[request.category](request));
    },
  };
}
