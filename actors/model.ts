import type { Category } from './categories.js';

/** What triage's model returns. `category` is null when it cannot tell. */
export interface Classification {
  category: Category | null;
  confidence: number;
  rationale?: string;
}

export interface DraftRequest {
  category: Category;
  request: string;
  customer?: string;
}

/** The model behind the support agents. */
export interface SupportModel {
  readonly name: string;
  classify(request: string): Promise<Classification>;
  draft(request: DraftRequest): Promise<string>;
}
