import type { Classification, DraftRequest, SupportModel } from '../../actors/model.js';

/** A canned answer, or an error the call fails with (the model is down, say). */
export type Canned<T> = T | Error;

/**
 * A {@link SupportModel} that answers from queues of canned answers, in order, and throws when a
 * queue runs out, so a test that calls the model more often than it planned fails loudly.
 *
 * @example
 * const model = new FakeModel({
 *   classify: [new Error('model down'), { category: 'refund', confidence: 0.95 }],
 *   draft: ['We will refund you.'],
 * });
 */
export class FakeModel implements SupportModel {
  readonly name = 'fake';
  /** The requests `classify` was called with, in order. */
  readonly classifyCalls: string[] = [];
  /** The requests `draft` was called with, in order. */
  readonly draftCalls: DraftRequest[] = [];
  private readonly classifications: Canned<Classification>[];
  private readonly drafts: Canned<string>[];

  constructor(answers: { classify?: Canned<Classification>[]; draft?: Canned<string>[] } = {}) {
    this.classifications = [...(answers.classify ?? [])];
    this.drafts = [...(answers.draft ?? [])];
  }

  classify(request: string): Promise<Classification> {
    this.classifyCalls.push(request);
    return answer(this.classifications.shift(), `classify('${request}')`);
  }

  draft(request: DraftRequest): Promise<string> {
    this.draftCalls.push(request);
    return answer(this.drafts.shift(), `draft(${request.category})`);
  }

  /** How many canned answers are left unused. */
  get remaining(): { classify: number; draft: number } {
    return { classify: this.classifications.length, draft: this.drafts.length };
  }
}

function answer<T>(next: Canned<T> | undefined, call: string): Promise<T> {
  if (next === undefined) {
    throw new Error(`FakeModel ran out of canned answers for ${call}`);
  }
  return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
}
