import type { NatsConnection } from '@nats-io/transport-node';
import { ReplicasUnavailableError } from '../base/errors.js';

/** The parts of a server's INFO that say whether, and with how many nodes, it is clustered. */
function serverInfo(nc: NatsConnection): { cluster?: string; connect_urls?: string[] } {
  return nc.info ?? {};
}

function refusal(replicas: number, found: string): ReplicasUnavailableError {
  return new ReplicasUnavailableError(
    `HITL_REPLICAS=${replicas} needs a JetStream cluster of at least ${replicas} running nodes, but ${found} (start more nodes, or set HITL_REPLICAS to at most the number of nodes)`,
  );
}

/**
 * Refuses `replicas` above 1 when the server the connection reaches is not part of a cluster.
 * A cluster with too few nodes is refused by the server when the streams are created (see
 * {@link explainReplicaError}): a node that is down for a moment must not stop a worker from
 * starting on streams that already exist.
 *
 * @example
 * checkReplicas(nc, config.replicas ?? 1); // throws on a single server with HITL_REPLICAS=3
 */
export function checkReplicas(nc: NatsConnection, replicas: number): void {
  if (replicas <= 1 || nc.info === undefined || serverInfo(nc).cluster) return;
  throw refusal(replicas, `the server at ${nc.getServer()} is not part of a cluster`);
}

/**
 * The server's refusal to place a stream's replicas ("insufficient resources", "no suitable
 * peers for placement", "replicas > 1 not supported in non-clustered mode") as one line naming
 * the nodes the cluster announces; any other error as it is.
 */
export function explainReplicaError(err: unknown, replicas: number, nc?: NatsConnection): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 10074 || /not supported in non-clustered mode/i.test(message)) {
    return refusal(replicas, 'the server is not part of a cluster');
  }
  if (code === 10023 || /insufficient resources|no suitable peers/i.test(message)) {
    const nodes = nc ? (serverInfo(nc).connect_urls?.length ?? 0) : 0;
    const found = nodes > 0 ? `the cluster announces ${nodes} nodes` : 'the cluster has fewer';
    return refusal(replicas, `${found} (the server said: ${message})`);
  }
  return err;
}
