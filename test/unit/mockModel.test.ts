import { describe, expect, it } from 'vitest';
import type { Category } from '../../actors/categories.js';
import { MOCK_KEYWORDS, mockModel } from '../../actors/mockModel.js';

// The keyword table of CONTRACT.md ("Model providers"), written out independently of the code.
const CONTRACT_TABLE: { category: Category; confidence: number; words: string[] }[] = [
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

const keywordRows = CONTRACT_TABLE.flatMap(({ category, confidence, words }) =>
  words.map((word) => ({ word, category, confidence })),
);

describe('mock model: triage by keywords', () => {
  it('declares exactly the contract keyword table', () => {
    expect(MOCK_KEYWORDS).toEqual(CONTRACT_TABLE);
  });

  it.each(keywordRows)(
    "classifies a request with '$word' as $category ($confidence)",
    async ({ word, category, confidence }) => {
      const result = await mockModel().classify(`Hi, about the ${word} on my account.`);

      expect(result.category).toBe(category);
      expect(result.confidence).toBe(confidence);
    },
  );

  it.each(keywordRows)(
    "matches '$word' regardless of case",
    async ({ word, category, confidence }) => {
      const model = mockModel();
      const upper = await model.classify(`ABOUT THE ${word.toUpperCase()} PLEASE`);
      const mixed = await model.classify(
        `About the ${word.charAt(0).toUpperCase()}${word.slice(1)} please`,
      );

      expect(upper).toMatchObject({ category, confidence });
      expect(mixed).toMatchObject({ category, confidence });
    },
  );

  it.each([
    'Hello, I have a question',
    'Where is my parcel?',
    'Can you tell me your opening hours',
    '',
  ])("finds no category with confidence 0.2 in '%s'", async (request) => {
    const result = await mockModel().classify(request);

    expect(result.category).toBeNull();
    expect(result.confidence).toBe(0.2);
  });

  it.each([
    ['I asked for two refunds', 'refund'],
    ['the parcel was returned to sender', 'refund'],
    ['three charges on one card', 'billing'],
    ['the app shows errors and crashes', 'technical'],
  ] as const)("matches keywords at the start of a word: '%s' -> %s", async (request, category) => {
    expect((await mockModel().classify(request)).category).toBe(category);
  });

  it('does not match a keyword inside another word', async () => {
    // 'error' inside 'terror', 'bug' inside 'debug'.
    const result = await mockModel().classify('a terror of a debug session');
    expect(result.category).toBeNull();
  });

  it('answers the same request the same way every time', async () => {
    const model = mockModel();
    const request = 'I was charged twice';

    expect(await model.classify(request)).toEqual(await model.classify(request));
  });
});

describe('mock model: drafts', () => {
  it.each<Category>(['refund', 'billing', 'technical'])(
    'drafts a %s reply that names its category',
    async (category) => {
      const draft = await mockModel().draft({ category, request: 'help' });

      expect(draft.toLowerCase()).toContain(category);
      expect(draft.length).toBeGreaterThan(0);
      expect(draft.length).toBeLessThanOrEqual(4_000);
    },
  );

  it.each<Category>(['refund', 'billing', 'technical'])(
    'greets the customer by name in a %s draft when there is one',
    async (category) => {
      const model = mockModel();

      expect(await model.draft({ category, request: 'help', customer: 'Ana' })).toMatch(
        /^Hello Ana,/,
      );
      expect(await model.draft({ category, request: 'help' })).toMatch(/^Hello,/);
    },
  );
});
