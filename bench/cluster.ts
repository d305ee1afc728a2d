import { NatsCluster } from '../test/helpers/cluster.js';
import type { BenchConfig } from './config.js';
import { runThroughput, type ThroughputResult } from './ours.js';
import { progress } from './util.js';

/** The same closed loop and steady resume run at one replica count on a three-node cluster. */
export interface ReplicasResult {
  replicas: number;
  run: ThroughputResult;
}

/**
 * The cost of replication: the full approval workflow with 2 worker processes on a three-node
 * JetStream cluster on this machine, with every stream, bucket and consumer at R1, then at R3
 * (each its own prefix, same cluster, same run). Workers list every node in `NATS_URL`.
 */
export async function runReplicas(cfg: BenchConfig): Promise<ReplicasResult[]> {
  progress('cluster: starting three clustered nats-servers on free ports');
  const cluster = await NatsCluster.start(3);
  try {
    const results: ReplicasResult[] = [];
    for (const replicas of [1, 3]) {
      progress(`cluster: R${replicas}`);
      const run = await runThroughput(cluster.urls, undefined, cfg, 2, true, {
        prefix: `br${replicas}`,
        replicas,
      });
      results.push({ replicas, run });
    }
    return results;
  } finally {
    await cluster.dispose();
  }
}
