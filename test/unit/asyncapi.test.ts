import { readFileSync } from 'node:fs';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import { describe, expect, it } from 'vitest';
import { buildAsyncApi } from '../../src/nats/asyncapi.js';

describe('AsyncAPI document', () => {
  it('is committed exactly as the zod schemas generate it (run npm run asyncapi)', () => {
    const committed = readFileSync(new URL('../../docs/asyncapi.json', import.meta.url), 'utf8');
    expect(JSON.parse(committed)).toEqual(buildAsyncApi());
  });

  it('names every public subject of the contract', () => {
    const doc = buildAsyncApi() as { channels: Record<string, { address: string }> };
    expect(
      Object.values(doc.channels)
        .map((c) => c.address)
        .sort(),
    ).toEqual([
      'hitl.dlq.{source}',
      'hitl.events.{workflowId}.{type}',
      'hitl.human.request.{workflowId}',
      'hitl.human.respond.{workflowId}',
      'hitl.human.respond.{workflowId}.{reviewer}',
      'hitl.outbound.reply.{workflowId}',
      'hitl.tickets.new',
    ]);
  });

  it('carries the schema limits and allows extra fields, as the contract says', () => {
    const doc = buildAsyncApi() as {
      components: { messages: Record<string, { payload: Record<string, unknown> }> };
    };
    const ticket = doc.components.messages.Ticket?.payload as {
      required: string[];
      properties: Record<string, { maxLength?: number; minLength?: number }>;
      additionalProperties?: unknown;
    };
    expect(ticket.required).toEqual(['request']);
    expect(ticket.properties.request).toMatchObject({ minLength: 1, maxLength: 10_000 });
    expect(ticket.additionalProperties).not.toBe(false);
    const response = doc.components.messages.HumanResponse?.payload as { required: string[] };
    expect(response.required.sort()).toEqual(['answer', 'reviewer']);
    // On the reviewer's subject the subject names the reviewer: the payload may leave it out.
    const named = doc.components.messages.ReviewerResponse?.payload as { required: string[] };
    expect(named.required).toEqual(['answer']);
  });

  // The official parser: schema validation of the document plus AsyncAPI's own rules
  // (references resolve, operations name channels of the document, ...).
  async function problemsOf(doc: unknown): Promise<string[]> {
    const { diagnostics } = await new Parser().parse(JSON.stringify(doc));
    return diagnostics
      .filter((d) => [DiagnosticSeverity.Error, DiagnosticSeverity.Warning].includes(d.severity))
      .map((d) => `${d.code} at ${d.path.join('.')}: ${d.message}`);
  }

  it('is valid under @asyncapi/parser, without errors or warnings', async () => {
    const committed: unknown = JSON.parse(
      readFileSync(new URL('../../docs/asyncapi.json', import.meta.url), 'utf8'),
    );
    expect(await problemsOf(committed)).toEqual([]);
  }, 60_000);

  it('would be refused by the parser if a reference were broken', async () => {
    const doc = buildAsyncApi() as { operations: Record<string, { channel: { $ref: string } }> };
    const op = doc.operations.submitTicket;
    if (op) op.channel.$ref = '#/channels/noSuchChannel';
    expect((await problemsOf(doc)).length).toBeGreaterThan(0);
  }, 60_000);
});
