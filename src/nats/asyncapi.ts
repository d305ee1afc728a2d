import { z } from 'zod';
import {
  DeadLetterSchema,
  EventEnvelopeSchema,
  InterruptRecordSchema,
  OutboundReplySchema,
  ResponsePayloadSchema,
  ResponseSchema,
  TicketSchema,
} from '../base/schemas.js';

/** The contract's version, as in shared CONTRACT.md's title. */
export const CONTRACT_VERSION = '2.0.0';

function schema(s: z.ZodType): Record<string, unknown> {
  // 'input' mode: what a publisher may send; extra fields are allowed (and ignored).
  const json = z.toJSONSchema(s, { io: 'input' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

interface Channel {
  address: string;
  description: string;
  parameters?: Record<string, { description: string }>;
  messages: Record<string, { $ref: string }>;
}

const wf = { description: "workflow id, '^[A-Za-z0-9_-]{1,64}$'" };

/**
 * The AsyncAPI 3.0 document of the public subjects, generated from the zod schemas the runtime
 * validates with, so the document cannot drift from the code.
 *
 * @example
 * writeFileSync('docs/asyncapi.json', JSON.stringify(buildAsyncApi(), null, 2));
 */
export function buildAsyncApi(): Record<string, unknown> {
  const channels: Record<string, Channel> = {
    ticketsNew: {
      address: 'hitl.tickets.new',
      description: 'Tickets from any microservice; stored in stream HITL_TICKETS.',
      messages: { ticket: { $ref: '#/components/messages/Ticket' } },
    },
    humanRequest: {
      address: 'hitl.human.request.{workflowId}',
      description: 'Published when a workflow pauses for a human; stored in HITL_EVENTS.',
      parameters: { workflowId: wf },
      messages: { interrupt: { $ref: '#/components/messages/InterruptRecord' } },
    },
    humanRespond: {
      address: 'hitl.human.respond.{workflowId}',
      description: 'A reviewer answers the pending interrupt; stored in HITL_RESPONSES.',
      parameters: { workflowId: wf },
      messages: { response: { $ref: '#/components/messages/HumanResponse' } },
    },
    humanRespondAs: {
      address: 'hitl.human.respond.{workflowId}.{reviewer}',
      description:
        'A reviewer answers under their own name, which NATS permissions can prove; the payload may leave reviewer out, and one that differs is rejected. Stored in HITL_RESPONSES.',
      parameters: {
        workflowId: wf,
        reviewer: { description: "the reviewer's name, '^[A-Za-z0-9_-]{1,64}$'" },
      },
      messages: { response: { $ref: '#/components/messages/ReviewerResponse' } },
    },
    events: {
      address: 'hitl.events.{workflowId}.{type}',
      description: 'Every step of every workflow; stored in HITL_EVENTS.',
      parameters: {
        workflowId: wf,
        type: {
          description:
            'received, triaged, interrupted, resumed, response_rejected, drafted, approved, rejected, sent, expired, failed, completed, cancel_rejected',
        },
      },
      messages: { event: { $ref: '#/components/messages/Event' } },
    },
    outboundReply: {
      address: 'hitl.outbound.reply.{workflowId}',
      description: 'A reply released to the customer, exactly once; stored in HITL_OUTBOUND.',
      parameters: { workflowId: wf },
      messages: { reply: { $ref: '#/components/messages/OutboundReply' } },
    },
    deadLetter: {
      address: 'hitl.dlq.{source}',
      description: 'Input the runtime cannot accept, with the reason; stored in HITL_DLQ.',
      parameters: { source: { description: 'tickets, responses or mailbox' } },
      messages: { deadLetter: { $ref: '#/components/messages/DeadLetter' } },
    },
  };
  const message = (name: string, title: string, s: z.ZodType) => ({
    name,
    title,
    contentType: 'application/json',
    payload: schema(s),
  });
  const op = (action: 'send' | 'receive', channel: string, summary: string) => ({
    action,
    channel: { $ref: `#/channels/${channel}` },
    summary,
  });
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'hitl-mesh wire contract',
      version: CONTRACT_VERSION,
      description:
        'Subjects and payloads of hitl-mesh (default prefix `hitl`, set with HITL_PREFIX). Generated from the runtime zod schemas by `npm run asyncapi`.',
    },
    defaultContentType: 'application/json',
    channels,
    operations: {
      submitTicket: op('receive', 'ticketsNew', 'The runtime consumes tickets.'),
      requestHuman: op('send', 'humanRequest', 'The runtime asks a human.'),
      receiveResponse: op('receive', 'humanRespond', 'The runtime consumes human responses.'),
      receiveReviewerResponse: op(
        'receive',
        'humanRespondAs',
        'The runtime consumes responses that name their reviewer in the subject.',
      ),
      publishEvent: op('send', 'events', 'The runtime publishes every step.'),
      releaseReply: op('send', 'outboundReply', 'The runtime releases replies.'),
      deadLetter: op('send', 'deadLetter', 'The runtime dead-letters bad input.'),
    },
    components: {
      messages: {
        Ticket: message('ticket', 'Support ticket', TicketSchema),
        InterruptRecord: message('interrupt', 'Interrupt record', InterruptRecordSchema),
        HumanResponse: message('response', 'Human response', ResponseSchema),
        ReviewerResponse: message(
          'reviewerResponse',
          'Human response on the reviewer subject',
          ResponsePayloadSchema,
        ),
        Event: message('event', 'Event envelope', EventEnvelopeSchema),
        OutboundReply: message('reply', 'Outbound reply', OutboundReplySchema),
        DeadLetter: message('deadLetter', 'Dead letter', DeadLetterSchema),
      },
    },
  };
}
