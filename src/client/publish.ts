import type { JetStreamClient } from '@nats-io/jetstream';
import { describeError } from '../base/errors.js';
import { activeTrace, traceHeaders } from '../nats/tracing.js';

const encoder = new TextEncoder();

/**
 * Publishes `payload` as JSON (with `msgID` for deduplication, and the active trace), and turns
 * the server's refusals into errors that say what to do.
 */
export async function publishJson(
  js: JetStreamClient,
  subject: string,
  payload: unknown,
  msgID?: string,
) {
  // The caller's active OpenTelemetry span, if any, as W3C `traceparent`: a ticket then
  // starts its workflow's trace under it, and a response links to it.
  const headers = traceHeaders(activeTrace());
  try {
    return await js.publish(subject, encoder.encode(JSON.stringify(payload)), {
      ...(msgID ? { msgID } : {}),
      ...(headers ? { headers } : {}),
    });
  } catch (err) {
    const inbox = /permissions violation for subscription to "([^"]+)"/i.exec(describeError(err));
    if (inbox) {
      throw new Error(
        `this NATS user may not receive replies on '${inbox[1]}' (set NATS_INBOX_PREFIX to the inbox prefix its role may subscribe to, see deploy/nats-server.conf)`,
        { cause: err },
      );
    }
    if (/permissions violation/i.test(describeError(err))) {
      throw new Error(
        `this NATS user may not publish to '${subject}' (permissions violation: use credentials of a role that may, see deploy/nats-server.conf)`,
        { cause: err },
      );
    }
    if (/maximum (bytes|messages) exceeded/i.test(describeError(err))) {
      throw new Error(
        `the stream that stores '${subject}' is full (its size limit, e.g. HITL_TICKETS_MAX_BYTES): try again later, once older messages have aged out`,
        { cause: err },
      );
    }
    if (/message size exceeds maximum allowed/i.test(describeError(err))) {
      throw new Error(
        `the message for '${subject}' is larger than its stream takes (twice HITL_MAX_PAYLOAD_BYTES)`,
        { cause: err },
      );
    }
    if (/no responders|503/i.test(describeError(err))) {
      throw new Error(
        `no JetStream stream stores '${subject}': start a worker once (hitl worker) to create the streams`,
        { cause: err },
      );
    }
    throw err;
  }
}
