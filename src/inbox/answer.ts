import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import type { InterruptRecord } from '../base/schemas.js';
import { EventWatch } from '../client/eventWatch.js';
import { isWorkflowId, type Subjects } from '../nats/subjects.js';

/** The longest edited draft an approval accepts (contract v2: `update.draft`, 1 to 4,000). */
export const MAX_DRAFT_CHARS = 4_000;

/** What the page posts to answer one item. */
export const AnswerFormSchema = z.object({
  interruptId: z.string().min(1).max(200),
  answer: z.string().min(1).max(100),
  /** An approval's edited draft; absent or unchanged: approve the draft as it is. */
  draft: z.string().optional(),
  comment: z.string().max(2_000).optional(),
});
export type AnswerForm = z.infer<typeof AnswerFormSchema>;

/** An answer the inbox refuses before publishing anything: an HTTP status and a sentence. */
export class AnswerRefused extends Error {
  override name = 'AnswerRefused';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Who answered a workflow's last interrupt, as the `resumed` event said. */
export interface Answered {
  interruptId: string;
  reviewer: string;
  answer: string;
}

/**
 * Checks an answer against the interrupt pending now and builds the response payload, or throws
 * {@link AnswerRefused} with what the reviewer can do about it. Nothing is published here.
 */
export function checkAnswer(
  workflowId: string,
  pending: InterruptRecord | undefined,
  answered: Answered | undefined,
  form: AnswerForm,
  reviewer: string,
): Record<string, unknown> {
  if (!isWorkflowId(workflowId)) {
    throw new AnswerRefused(404, `unknown workflow '${workflowId}'`);
  }
  if (!pending) {
    if (answered) {
      throw new AnswerRefused(
        409,
        `already answered by ${answered.reviewer} (${answered.answer}); nothing was sent`,
      );
    }
    throw new AnswerRefused(
      404,
      `workflow '${workflowId}' is not waiting for an answer (unknown, answered or expired)`,
    );
  }
  if (pending.interruptId !== form.interruptId) {
    throw new AnswerRefused(
      409,
      'this question was replaced by a newer one; open the item again to see it',
    );
  }
  const options = pending.options ?? [];
  if (!options.includes(form.answer)) {
    throw new AnswerRefused(
      400,
      `answer '${form.answer}' is not an option; expected one of: ${options.join(', ')}`,
    );
  }
  const payload: Record<string, unknown> = {
    answer: form.answer,
    // Until every worker reads the reviewer from the subject, the payload names them too.
    reviewer,
    interruptId: pending.interruptId,
  };
  if (form.comment?.trim()) payload.comment = form.comment.trim();
  if (form.draft !== undefined && form.draft !== pending.draft) {
    if (pending.type !== 'approval' || form.answer !== 'yes') {
      throw new AnswerRefused(400, 'only an approval that says yes takes an edited draft');
    }
    if (form.draft.trim().length === 0) {
      throw new AnswerRefused(400, 'the edited draft is empty; write the reply or reject it');
    }
    if (form.draft.length > MAX_DRAFT_CHARS) {
      throw new AnswerRefused(
        400,
        `the edited draft is ${form.draft.length.toLocaleString('en')} characters; at most ${MAX_DRAFT_CHARS.toLocaleString('en')} are sent`,
      );
    }
    payload.update = { draft: form.draft };
  }
  return payload;
}

/** The runtime's verdict on a published response. */
export type Verdict = { accepted: true } | { accepted: false; reason: string };

/**
 * Publishes `payload` on the reviewer's own response subject, on `conn` (the reviewer's own
 * connection when they signed in with NATS credentials), and waits for the runtime's verdict,
 * read on `watchConn` (the inbox's connection, which may read events).
 */
export async function publishAnswer(
  conn: NatsConnection,
  watchConn: NatsConnection,
  subjects: Subjects,
  workflowId: string,
  reviewer: string,
  payload: Record<string, unknown>,
  timeoutMs: number,
): Promise<Verdict> {
  const watch = new EventWatch(watchConn.subscribe(subjects.events(workflowId)));
  try {
    await watchConn.flush();
    const ack = await jetstream(conn).publish(
      subjects.respond(workflowId, reviewer),
      new TextEncoder().encode(JSON.stringify(payload)),
    );
    return await watch.next<Verdict>(
      (e) => {
        if (e.data.responseSeq !== ack.seq) return undefined;
        if (e.type === 'resumed') return { accepted: true };
        if (e.type === 'response_rejected')
          return { accepted: false, reason: String(e.data.reason) };
        return undefined;
      },
      timeoutMs,
      'the runtime to accept or reject the answer (is a worker running?)',
    );
  } finally {
    watch.close();
  }
}
