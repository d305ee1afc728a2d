/**
 * One process of the LangGraph pattern C test (langgraphPatternC.test.ts), run as
 * `node --import tsx test/helpers/langgraphProcess.ts <start|resume> <natsUrl> <prefix> <thread> [answer]`.
 * `start` runs the approval graph until its `interrupt()`, `resume` answers it with
 * `new Command({ resume })`; each prints one JSON line and exits, keeping nothing in memory.
 */
import { Annotation, Command, END, START, StateGraph, interrupt } from '@langchain/langgraph';
import { connect } from '@nats-io/transport-node';
import { JetStreamSaver } from '../../src/langgraph/index.js';

const State = Annotation.Root({
  request: Annotation<string>(),
  draft: Annotation<string | undefined>(),
  approved: Annotation<boolean | undefined>(),
  sent: Annotation<string | undefined>(),
  // Every node run that landed, in order: a node run twice would show twice.
  ran: Annotation<string[]>({ reducer: (a, b) => [...a, ...b], default: () => [] }),
});

function approvalGraph(checkpointer: JetStreamSaver) {
  return new StateGraph(State)
    .addNode('write', (s) => ({ draft: `Refund for: ${s.request}`, ran: ['write'] }))
    .addNode('gate', (s) => {
      const answer: unknown = interrupt({ question: 'Send this reply?', draft: s.draft });
      return { approved: answer === 'yes', ran: ['gate'] };
    })
    .addNode('send', (s) => ({ sent: s.draft, ran: ['send'] }))
    .addEdge(START, 'write')
    .addEdge('write', 'gate')
    .addConditionalEdges('gate', (s) => (s.approved ? 'send' : END), ['send', END])
    .addEdge('send', END)
    .compile({ checkpointer });
}

const [mode, url, prefix, thread_id, answer] = process.argv.slice(2);
if (!url || !prefix || !thread_id)
  throw new Error('usage: <start|resume> <url> <prefix> <thread> [answer]');
const nc = await connect({ servers: url });
const saver = await JetStreamSaver.create({ nc, prefix });
const app = approvalGraph(saver);
const config = { configurable: { thread_id } };
const out =
  mode === 'start'
    ? await app.invoke({ request: 'I was charged twice' }, config)
    : await app.invoke(new Command({ resume: answer }), config);
process.stdout.write(`${JSON.stringify({ pid: process.pid, out })}\n`);
await nc.close();
