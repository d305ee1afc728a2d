import { describeKillsAtEveryPoint } from '../helpers/killedWorker.js';

// Faults this file injects: a real `hitl worker` process, started with
// HITL_FAULT=<point>:specialist, kills itself with SIGKILL the first time a specialist step
// reaches the point (before the snapshot's compare-and-set, after it, or after the outbox's
// publish). The specialist runs in the middle of an in-process chain: its message from triage
// never went through the mailbox, so what the crash leaves behind comes back only through the
// redelivered ticket (first process) or the redelivered answer to a triage escalation (second
// process), whose step re-publishes its outbox. Normal workers then finish everything. The
// consumers' ack wait is cut to 1 s (HITL_ACK_WAIT_MS).
// The triage and gate kinds are killed the same way in workerKilledTriage/Gate.test.ts.

describeKillsAtEveryPoint('specialist');
