/**
 * An operator's tap as a process of its own: one core subscription on `<prefix>.>`, counting
 * every message and parsing the JSON ones, as a notifier or a dashboard would. Prints
 * `tap ready` once subscribed, and its counts as one JSON line when it gets SIGTERM.
 * Usage: node --import tsx bench/tapProcess.ts <nats-url> <subject>
 */
import { connect } from '@nats-io/transport-node';

const [url, subject] = process.argv.slice(2);
if (!url || !subject) {
  process.stderr.write('usage: tapProcess <nats-url> <subject>\n');
  process.exit(2);
}
const nc = await connect({ servers: url, name: 'bench-tap' });
const decoder = new TextDecoder();
let messages = 0;
let bytes = 0;
let parsed = 0;
nc.subscribe(subject, {
  callback: (err, m) => {
    if (err) return;
    messages++;
    bytes += m.data.length;
    // What a tap does with a message: look at it. Stream acks and empty payloads are skipped.
    if (m.data.length > 0 && m.data[0] === 0x7b) {
      try {
        JSON.parse(decoder.decode(m.data));
        parsed++;
      } catch {
        // Not JSON after all: counted, not parsed.
      }
    }
  },
});
await nc.flush();
process.stdout.write('tap ready\n');
process.once('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ messages, bytes, parsed })}\n`);
  void nc.close().then(() => process.exit(0));
});
