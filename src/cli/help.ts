/** What `hitl --help` prints. */
export const HELP = `hitl: human-in-the-loop workflows on NATS

usage: hitl <command> [options]        hitl <command> --help for its options and examples

commands:
  worker [--actors triage,specialist,gate] [--concurrency N] [--module PATH]
                          host actors until SIGINT/SIGTERM, then drain and exit 0
  submit <request> [--id ID] [--customer NAME] [--channel NAME] [--wait] [--json]
                          publish a ticket, print the workflow id
  pending [--json]        list workflows waiting for a human, with age and deadline
  respond <wf> <answer> --reviewer NAME [--interrupt ID] [--update JSON] [--comment TEXT] [--json]
                          answer an interrupt; exit 0 when accepted, 1 with the reason when not
  show <wf> [--json]      a workflow's event timeline, current state and pending interrupt
  tap [<wf>] [--json]     live tail of events (all workflows, or one)
  parked [--json]         list workflows parked at a failed step, waiting for hitl retry
  retry <wf> [--wait] [--json]
                          re-run the step a parked workflow failed at (the model was down, say)
  cancel <wf> --reason TEXT [--by NAME] [--json]
                          end a paused or parked workflow (completed: cancelled), for an operator
  dlq [--json]            list dead letters: input the workers refused, with the reason
  dlq retry <seq>         send dead letter <seq> again to its subject, once its cause is fixed
  inbox [--port 8080] [--host 127.0.0.1] [--trust-proxy-header HEADER] [--reviewer-map FILE]
                          serve the reviewers' web page: what waits, answering, editing
  link <wf> --reviewer NAME [--ttl 1h] [--url BASE]
                          print a signed link that lets NAME answer wf's pending question
  demo                    patterns A, B and C end to end

exit codes: 0 ok; 1 failed (cannot connect, refused, rejected, timed out); 2 usage error

environment: NATS_URL, NATS_CREDS, NATS_NKEY, NATS_USER, NATS_PASS, NATS_TOKEN, NATS_TLS_CA,
  NATS_TLS_CERT, NATS_TLS_KEY, HITL_PREFIX, HITL_MODEL_PROVIDER, HITL_MODEL, OPENAI_BASE_URL,
  OPENAI_API_KEY, HITL_TRIAGE_MODEL, HITL_DRAFT_MODEL, HITL_MODEL_JSON_MODE,
  HITL_MODEL_TIMEOUT_MS, HITL_MODEL_MAX_RETRIES, HITL_MODEL_RETRY_BASE_MS,
  HITL_MODEL_RETRY_MAX_MS, HITL_APPROVAL_CATEGORIES, HITL_APPROVERS, HITL_SEPARATE_APPROVER,
  HITL_GATE_TIMEOUT_MS, HITL_MAX_PAYLOAD_BYTES, HITL_REPLICAS, HITL_ACK_WAIT_MS,
  HITL_MAX_DELIVER, HITL_RETRY_BACKOFF_MS, HITL_DRAIN_TIMEOUT_MS, HITL_LOCAL_DELIVERY,
  HITL_EVENTS_MAX_AGE_MS, HITL_TICKETS_MAX_AGE_MS, HITL_RESPONSES_MAX_AGE_MS,
  HITL_OUTBOUND_MAX_AGE_MS, HITL_DLQ_MAX_AGE_MS, HITL_TICKETS_MAX_BYTES,
  HITL_RESPONSES_MAX_BYTES, HITL_DLQ_MAX_BYTES, HITL_EVENTS_MAX_BYTES, HITL_STEP_TIMEOUT_MS,
  HITL_REVIEWER_FROM_SUBJECT, HITL_RESPOND_WITH_SUBJECT, NATS_INBOX_PREFIX, HITL_INBOX_SECRET,
  HITL_INBOX_URL, HITL_OPERATOR, HITL_STORAGE_FORMAT, HITL_FINISHED_RETENTION_MS,
  HITL_METRICS_PORT, HITL_METRICS_HOST, HITL_LOG_LEVEL, HITL_LOG_FORMAT
  (docs/configuration.md)

examples:
  hitl worker
  hitl submit "I want my money back" --id order-42 --wait
  hitl respond order-42 yes --reviewer ana
  hitl tap order-42
  hitl retry order-42 --wait
  hitl cancel order-42 --reason "customer withdrew the request"
`;

/** What `hitl <command> --help` prints, per command. */
export const COMMAND_HELP: Record<string, string> = {
  worker: `usage: hitl worker [--actors KINDS] [--concurrency N] [--module PATH]

Hosts actors until SIGINT or SIGTERM, then finishes the steps in flight and exits 0. Start as
many workers as you like, anywhere: they share the durable consumers.

options:
  --actors KINDS       comma-separated actor kinds to host (default: all of the module's)
  --concurrency N      steps run at once by this worker, across all it consumes (default 32)
  --module PATH        a module exporting createActors(config) (default: the support workflow;
                       also HITL_ACTORS_MODULE): JavaScript, or TypeScript when node runs
                       with a loader such as tsx (node --import tsx)

examples:
  hitl worker
  hitl worker --actors gate --concurrency 8
  hitl worker --module ./dist/my-actors.js
`,
  submit: `usage: hitl submit <request> [--id ID] [--customer NAME] [--channel NAME] [--wait] [--timeout MS] [--json]

Publishes a ticket on <prefix>.tickets.new and prints its workflow id. The same --id twice
starts one workflow.

options:
  --id ID              the workflow id (letters, digits, '-' and '_'; default: generated)
  --customer NAME      who wrote it
  --channel NAME       where it came from (email, chat…)
  --wait               wait until the workflow pauses for a human, completes or parks, and print it
  --timeout MS         how long --wait waits (default 30000)
  --json               print JSON: { workflowId, duplicate }, or with --wait the run result

examples:
  hitl submit "I want my money back" --id order-42
  hitl submit "I was charged twice" --customer ana --wait
  hitl submit "login is broken" --wait --json
`,
  pending: `usage: hitl pending [--json]

Lists the workflows waiting for a human: workflow, interrupt type and id, how long it has
waited, its deadline ("in 3m", "overdue 20s", or "-" without one), options and question.

options:
  --json               print the interrupt records as a JSON array (createdAt, expiresAt…)

examples:
  hitl pending
  hitl pending --json | jq -r '.[].workflowId'
`,
  respond: `usage: hitl respond <wf> <answer> --reviewer NAME [--interrupt ID] [--update JSON] [--comment TEXT] [--timeout MS] [--json]

Answers the interrupt a workflow waits at, and waits for the verdict: exit 0 when it was
accepted, 1 with the reason on stderr when it was rejected (not an option, stale interrupt,
reviewer not allowed…). The reviewer is recorded in the events: the audit trail.
With HITL_RESPOND_WITH_SUBJECT=true (set it once every worker reads that subject), the answer
goes on hitl.human.respond.<wf>.<reviewer>, where NATS permissions can prove who answers.

options:
  --reviewer NAME      who answers (required; with HITL_RESPOND_WITH_SUBJECT, 1 to 64 letters,
                       digits, '-' and '_', and the name your NATS user may answer as)
  --interrupt ID       the interrupt answered: refused if another one is pending by now
  --update JSON        state to merge before resuming; an approval takes {"draft": "…"}
  --comment TEXT       a note kept with the answer
  --timeout MS         how long to wait for the verdict (default 30000)
  --json               print the verdict as JSON: { accepted, responseSeq, reason? }

examples:
  hitl respond order-42 yes --reviewer ana
  hitl respond order-42 yes --reviewer ana --update '{"draft":"Refunded today."}'
  hitl respond order-7 technical --reviewer bo --interrupt triage-1
`,
  show: `usage: hitl show <wf> [--json | --snapshots]

Prints a workflow's event timeline (from the events stream), each actor's current state and
its pending interrupt. A completed workflow whose snapshots were removed
(HITL_FINISHED_RETENTION_MS) shows its events and says so. Exit 1 when there is no such
workflow (or nothing of it is kept).

options:
  --json               print { workflowId, events, actors, pending } as JSON (and
                       removed: true once a completed workflow's snapshots are gone)
  --snapshots          print each actor's stored snapshot, decoded, one JSON line per actor
                       ({ key, revision, envelope }): under HITL_STORAGE_FORMAT=2, the
                       default, some are compressed, which 'nats kv get' shows as bytes

examples:
  hitl show order-42
  hitl show order-42 --json | jq '.events[].type'
  hitl show order-42 --snapshots | jq '.envelope.snapshot.context'
`,
  tap: `usage: hitl tap [<wf>] [--json]

Prints events live as they happen, one line each (time, workflow, actor, type, key data;
coloured on a terminal), until SIGINT. A re-published duplicate is never shown twice.

options:
  --json               print each event envelope as one JSON line

examples:
  hitl tap
  hitl tap order-42 --json
`,
  dlq: `usage: hitl dlq [--json]
       hitl dlq retry <seq>

Lists the dead letters of HITL_DLQ (tickets, responses and actor messages the workers could not
accept): sequence, when, source, the subject it came on, and why. Once the cause is fixed (an
actor kind deployed, a bug fixed), hitl dlq retry <seq> publishes its original bytes again on
that subject and removes the dead letter.

options:
  --json               print them as a JSON array ({ seq, at, source, subject, reason, raw })

examples:
  hitl dlq
  hitl dlq retry 42
`,
  parked: `usage: hitl parked [--json]

Lists the workflows parked at a failed step (the model was down past its retries, say): workflow,
actor, step, how long ago it failed, and why. Each waits for hitl retry <wf>; nothing else
moves it.

options:
  --json               print them as a JSON array ({ workflowId, actor, step, reason, at })

examples:
  hitl parked
  hitl parked --json | jq -r '.[].workflowId' | xargs -n1 hitl retry
`,
  retry: `usage: hitl retry <wf> [--wait] [--timeout MS] [--json]

Re-runs the step at which a parked workflow failed (the model was down, say). Asking twice for
the same failure sends one retry.

options:
  --wait               wait until it pauses or completes (exit 0) or parks again (exit 1)
  --timeout MS         how long --wait waits (default 30000)
  --json               print the result as JSON

examples:
  hitl retry order-42
  hitl retry order-42 --wait
`,
  cancel: `usage: hitl cancel <wf> --reason TEXT [--by NAME] [--timeout MS] [--json]

Ends a workflow that waits for a human (paused) or for hitl retry (parked) and that nobody
will answer or retry: it completes with outcome "cancelled", and the completed event records
the reason and who cancelled. Its pending question is withdrawn (hitl pending no longer lists
it; a later answer is rejected), it leaves hitl parked, and its deadline does nothing. Exit 0
once the workflow is cancelled; 1 with the reason when it was not (it does not exist, has
completed, is running, went on first, or no worker applied the cancel in time). Needs a NATS
user that may publish on <prefix>.actor.> (the operator role of deploy/nats-server.conf;
reviewers may not).

options:
  --reason TEXT        why it ends (required; 1 to 1000 characters)
  --by NAME            who cancels, as the event records it (default: HITL_OPERATOR, else the
                       NATS user, else the OS user)
  --timeout MS         how long to wait for a worker to apply it (default 30000)
  --json               print the result as JSON: { workflowId, actor, was, cancelId, by,
                       reason, completed }

examples:
  hitl cancel order-42 --reason "customer withdrew the request"
  hitl cancel order-42 --reason "duplicate of order-41" --by eve --json
`,
  inbox: `usage: hitl inbox [--port 8080] [--host 127.0.0.1] [--trust-proxy-header HEADER] [--reviewer-map FILE] [--secure-cookies] [--module PATH]

Serves the reviewers' web page: the live list of what waits for a human, each item with its
question, request, model details, deadline, timeline and machine, and the answers (approve,
approve an edited draft, reject; pick a category or drop). Every answer is published on
<prefix>.human.respond.<wf>.<reviewer> under the signed-in reviewer's name.

Signing in: with --trust-proxy-header, a proxy in front (oauth2-proxy and the like) names the
reviewer in that header; the name is mapped to a reviewer token (e-mail: the local part, other
characters as '_'; or only the names of --reviewer-map, a JSON object of name -> reviewer), and
a name that maps to nothing is refused. Without it, reviewers sign in with their own NATS user
and password, and their answers are published on their own connection (only against a NATS
server that checks passwords). HITL_INBOX_SECRET (32+ characters) signs the session cookies and
turns on answer links (hitl link). See docs/inbox.md.

options:
  --port N                   port to listen on (default 8080; 0 picks a free one)
  --host HOST                address to listen on (default 127.0.0.1)
  --trust-proxy-header NAME  the header that names the signed-in reviewer (e.g. X-Forwarded-User)
  --reviewer-map FILE        JSON mapping of proxy names to reviewer tokens; other names refused
  --secure-cookies           mark cookies Secure (when served over HTTPS)
  --module PATH              the actors module whose machines the page draws (default: support)

examples:
  hitl inbox --trust-proxy-header X-Forwarded-User
  HITL_INBOX_SECRET=$(openssl rand -hex 32) hitl inbox --port 8080
`,
  link: `usage: hitl link <wf> --reviewer NAME [--ttl 1h] [--url BASE]

Prints a URL that lets NAME answer the question <wf> waits for now, without signing in (for
chat and e-mail). The link is signed with HITL_INBOX_SECRET (the inbox's own), and names the
workflow, the interrupt, the reviewer and its expiry; it is refused once the question is
answered, replaced or expired, or once its time is up.

options:
  --reviewer NAME      who answers through the link (letters, digits, '-' and '_')
  --ttl DURATION       how long it is valid: 90s, 15m, 1h, 2d (default 1h)
  --url BASE           the inbox's address (default HITL_INBOX_URL or http://127.0.0.1:8080)

examples:
  hitl link order-42 --reviewer ana
  hitl link order-42 --reviewer ana --ttl 15m --url https://inbox.example.com
`,
  demo: `usage: hitl demo

Runs patterns A (approval gate), B (human as a tool) and C (long pause across processes) end
to end against NATS_URL, or a local nats-server it starts and stops.

examples:
  hitl demo
  NATS_URL=nats://127.0.0.1:4222 hitl demo
`,
};
