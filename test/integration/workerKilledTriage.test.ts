import { describeKillsAtEveryPoint } from '../helpers/killedWorker.js';

// Faults this file injects: a real `hitl worker` process, started with
// HITL_FAULT=<point>:triage, kills itself with SIGKILL the first time a triage step reaches the
// point: before the snapshot's compare-and-set (`before-kv-write`), after it but before the
// step's outbox is published (`after-kv-write`), or after the publish but before the message
// is acked (`after-publish`). Each point is hit twice: in the step that creates a triage actor
// (a ticket arriving), and, in a second process, in the step that applies a human's answer to
// one. Normal workers then finish everything, answering whatever waits. The consumers' ack
// wait is cut to 1 s (HITL_ACK_WAIT_MS) so that what a dead worker held comes back quickly.
// The gate kind is killed the same way in workerKilledGate.test.ts.

describeKillsAtEveryPoint('triage');
