/** The categories a ticket can be triaged into; each has a specialist. */
export const CATEGORIES = ['refund', 'billing', 'technical'] as const;
/** One of {@link CATEGORIES}. */
export type Category = (typeof CATEGORIES)[number];

/** Below this confidence, triage asks a human instead of routing. */
export const CONFIDENCE_THRESHOLD = 0.7;

/** Whether `value` is one of {@link CATEGORIES}. */
export function isCategory(value: unknown): value is Category {
  return typeof value === 'string' && (CATEGORIES as readonly string[]).includes(value);
}
