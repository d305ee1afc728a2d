import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the fake endpoint received, as the model would have seen it. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (`model`, `messages`, `response_format`, …). */
  body: {
    model?: string;
    messages?: { role: string; content: string }[];
    response_format?: { type: string; json_schema?: { name: string; schema: unknown } };
    [key: string]: unknown;
  };
  /** `Date.now()` when the request arrived. */
  receivedAt: number;
}

/** How the fake answers one request. */
export interface FakeReply {
  /** HTTP status; 200 unless given. */
  status?: number;
  headers?: Record<string, string>;
  /** A JSON body (an object) or raw text (a string, sent as is). */
  body?: unknown;
  /** Waits this long before answering: longer than the client's timeout makes a timeout. */
  delayMs?: number;
}

/** A reply, or a function of the request that picks one. */
export type Script = FakeReply | ((request: ReceivedRequest) => FakeReply);

export interface FakeOpenAi {
  /** The base URL to give the client: `http://127.0.0.1:<port>/v1`. */
  readonly baseUrl: string;
  /** Every request received, in order. */
  readonly requests: ReceivedRequest[];
  /** Queues replies: each request takes the next one, in order. */
  reply(...scripts: Script[]): void;
  /** What to answer once the queue is empty; unset, such a request gets a 500 naming it. */
  otherwise(script: Script | undefined): void;
  /** Replies queued and not yet used. */
  readonly queued: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A local HTTP server speaking the OpenAI chat-completions protocol (`POST
 * /v1/chat/completions`), scripted per request: status codes, headers such as `retry-after`,
 * delays (for timeouts) and bodies. Real HTTP, so the real `openai` client is what talks to it.
 *
 * @example
 * await using fake = await startFakeOpenAi();
 * fake.reply(apiError(500, 'boom'), classification({ category: 'refund', confidence: 0.9 }));
 */
export async function startFakeOpenAi(): Promise<FakeOpenAi> {
  const requests: ReceivedRequest[] = [];
  const queue: Script[] = [];
  let fallback: Script | undefined;
  const timers = new Set<NodeJS.Timeout>();
  // Like a FakeModel that runs out of answers: a request nobody planned for fails loudly.
  const unscripted: Script = (request) =>
    apiError(
      500,
      `fake OpenAI server has no scripted reply for request #${requests.indexOf(request) + 1} (${roleOf(request)})`,
    );

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: ReceivedRequest['body'] = {};
      try {
        body = raw ? (JSON.parse(raw) as ReceivedRequest['body']) : {};
      } catch {
        // Left empty: the test sees a request without a model or messages.
      }
      const request: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        receivedAt: Date.now(),
      };
      requests.push(request);
      const script: Script =
        req.method === 'POST' && req.url === '/v1/chat/completions'
          ? (queue.shift() ?? fallback ?? unscripted)
          : apiError(404, `no route ${req.method} ${req.url} in the fake`);
      const reply = typeof script === 'function' ? script(request) : script;
      const send = (): void => {
        if (res.destroyed) return;
        const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {});
        res.writeHead(reply.status ?? 200, {
          'content-type': 'application/json',
          ...reply.headers,
        });
        res.end(text);
      };
      if (!reply.delayMs) return send();
      const timer = setTimeout(() => {
        timers.delete(timer);
        send();
      }, reply.delayMs);
      timers.add(timer);
      // The client gave up (its timeout): drop the pending answer.
      res.on('close', () => {
        clearTimeout(timer);
        timers.delete(timer);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      server.close(() => resolve());
    });
    return closed;
  };
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    reply: (...scripts) => void queue.push(...scripts),
    otherwise: (script) => {
      fallback = script;
    },
    get queued() {
      return queue.length;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A successful chat completion whose message content is `content`. */
export function chatCompletion(
  content: string,
  options: {
    model?: string;
    usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
    finishReason?: string;
  } = {},
): FakeReply {
  return {
    body: {
      id: `chatcmpl-fake-${Math.random().toString(36).slice(2)}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: options.model ?? 'fake-model',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content, refusal: null },
          finish_reason: options.finishReason ?? 'stop',
          logprobs: null,
        },
      ],
      ...(options.usage === null
        ? {}
        : {
            usage: options.usage ?? {
              prompt_tokens: 120,
              completion_tokens: 30,
              total_tokens: 150,
            },
          }),
    },
  };
}

/** A triage answer as the model would write it (any shape: a compromised model's too). */
export function classification(
  answer: Record<string, unknown>,
  options: Parameters<typeof chatCompletion>[1] = {},
): FakeReply {
  return chatCompletion(JSON.stringify({ rationale: 'fake rationale', ...answer }), options);
}

/** An error in OpenAI's shape: `{ error: { message, type, code } }`. */
export function apiError(
  status: number,
  message: string,
  headers: Record<string, string> = {},
  code: string | null = null,
): FakeReply {
  return {
    status,
    headers,
    body: { error: { message, type: status === 429 ? 'rate_limit_error' : 'api_error', code } },
  };
}

/** Which agent sent a request: triage or a drafting specialist, told by its instructions. */
export function roleOf(request: ReceivedRequest): 'triage' | 'draft' | 'unknown' {
  const system = request.body.messages?.find((m) => m.role === 'system')?.content ?? '';
  if (system.startsWith('You triage')) return 'triage';
  if (/specialist/.test(system)) return 'draft';
  return 'unknown';
}

/** A script that answers triage and drafting requests each with their own script. */
export function byRole(scripts: { triage: Script; draft: Script }): Script {
  return (request) => {
    const role = roleOf(request);
    const script =
      role === 'triage' ? scripts.triage : role === 'draft' ? scripts.draft : undefined;
    if (!script) return apiError(400, 'fake OpenAI server cannot tell who sent this request');
    return typeof script === 'function' ? script(request) : script;
  };
}
