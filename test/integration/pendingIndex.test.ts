import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { describe, expect, it } from 'vitest';
import { Subjects } from '../../src/index.js';
import { PendingIndex, type PendingChange } from '../../src/inbox/pendingIndex.js';
import { kvKeys } from '../../src/nats/streamReads.js';
import { eventually } from '../helpers/eventually.js';
import { serverPerFile, uniquePrefix } from '../helpers/harness.js';

// The inbox's pending list follows the interrupts bucket with a KV watch. A watch that restarts
// goes on after the last message it saw, so a removed key whose marker was deleted meanwhile
// is never delivered to it: the list reconciles with the keys the server holds.

const shared = serverPerFile();
const encoder = new TextEncoder();

const record = (wf: string) => ({
  workflowId: wf,
  interruptId: `${wf}-i`,
  actor: 'gate',
  type: 'approval',
  question: 'send it?',
  options: ['yes', 'no'],
  createdAt: new Date().toISOString(),
});

describe('the inbox pending list', () => {
  it('drops a question the watch never saw go, and keeps one put while it reconciles', async () => {
    const subjects = new Subjects(uniquePrefix('pidx'));
    const kv = await new Kvm(shared.nc).create(subjects.buckets.interrupts, { history: 1 });
    const jsm = await jetstreamManager(shared.nc);
    const stream = `KV_${subjects.buckets.interrupts}`;
    const put = (wf: string) => kv.put(wf, encoder.encode(JSON.stringify(record(wf))));
    await put('wf-a');
    const gone = await put('wf-b');
    const index = await PendingIndex.follow(kv, subjects);
    const changes: PendingChange[] = [];
    index.subscribe((c) => changes.push(c));
    try {
      expect(index.size).toBe(2);
      // The key goes with nothing the watch can see: its message deleted, as a removal's
      // marker is after a watch restart.
      await jsm.streams.deleteMessage(stream, gone, false);
      await kv.status(); // a round trip: the watch has had its chance, and says nothing
      expect(index.get('wf-b')).toBeDefined();
      const keys = () => kvKeys(jsm, subjects.buckets.interrupts);
      // A question asked while the keys are read is not taken for one that went.
      const racing = async () => {
        const listed = await keys();
        await put('wf-c');
        await eventually(() => expect(index.get('wf-c')).toBeDefined());
        return listed;
      };
      expect(await index.reconcile(racing)).toBe(1);
      expect(index.get('wf-b')).toBeUndefined();
      expect(index.get('wf-a')).toBeDefined();
      expect(index.get('wf-c')).toBeDefined();
      expect(changes).toContainEqual({ op: 'del', workflowId: 'wf-b' });
      // Nothing more to drop.
      expect(await index.reconcile(keys)).toBe(0);
    } finally {
      index.stop();
      await kv.destroy();
    }
  });

  it('reconciles on its own every reconcileMs when given the keys', async () => {
    const subjects = new Subjects(uniquePrefix('pidx'));
    const kv = await new Kvm(shared.nc).create(subjects.buckets.interrupts, { history: 1 });
    const jsm = await jetstreamManager(shared.nc);
    const gone = await kv.put('wf-x', encoder.encode(JSON.stringify(record('wf-x'))));
    const index = await PendingIndex.follow(kv, subjects, {
      keys: () => kvKeys(jsm, subjects.buckets.interrupts),
      reconcileMs: 100,
    });
    try {
      expect(index.size).toBe(1);
      await jsm.streams.deleteMessage(`KV_${subjects.buckets.interrupts}`, gone, false);
      await eventually(() => expect(index.size).toBe(0));
    } finally {
      index.stop();
      await kv.destroy();
    }
  });
});
