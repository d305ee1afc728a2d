import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/index.js';

const file = fileURLToPath(new URL('../../docker-compose.cluster.yml', import.meta.url));

interface Service {
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test?: string[] };
  depends_on?: Record<string, { condition?: string }>;
}

async function compose(): Promise<{ services: Record<string, Service>; volumes: object }> {
  // Compose files use YAML 1.1 merge keys (`<<: *nats`).
  return parse(await readFile(file, 'utf8'), { merge: true }) as {
    services: Record<string, Service>;
    volumes: object;
  };
}

/** The value after `flag` in a command. */
function arg(command: string[], flag: string): string | undefined {
  const i = command.indexOf(flag);
  return i < 0 ? undefined : command[i + 1];
}

describe('docker-compose.cluster.yml', () => {
  it('runs three JetStream nodes of one cluster, each routed to all three, on volumes of their own', async () => {
    const { services, volumes } = await compose();
    const nodes = ['n1', 'n2', 'n3'];
    for (const name of nodes) {
      const command = services[name]?.command ?? [];
      expect(arg(command, '-n')).toBe(name);
      expect(arg(command, '--cluster_name')).toBe('hitl');
      expect(command).toContain('-js');
      const routes = (arg(command, '--routes') ?? '').split(',');
      expect(routes.map((r) => new URL(r).hostname).sort()).toEqual(nodes);
      const port = new URL(arg(command, '--cluster') ?? '').port;
      expect(routes.every((r) => new URL(r).port === port)).toBe(true);
      const storeDir = arg(command, '-sd');
      const volume = (services[name]?.volumes ?? []).find((v) => v.endsWith(`:${storeDir}`));
      expect(Object.keys(volumes)).toContain(volume?.split(':')[0]);
      expect(services[name]?.healthcheck?.test?.join(' ')).toContain('/healthz');
    }
  });

  it('runs workers on every node at three replicas, ready only when their /readyz says so', async () => {
    const { services } = await compose();
    const worker = services.worker;
    const env = worker?.environment ?? {};
    const config = loadConfig(env);
    expect(config.replicas).toBe(3);
    const hosts = config.nats.url.split(',').map((u) => new URL(u).hostname);
    expect(hosts.sort()).toEqual(['n1', 'n2', 'n3']);
    expect(config.metrics).toEqual({ port: 9464, host: '0.0.0.0' });
    const check = worker?.healthcheck?.test?.join(' ') ?? '';
    expect(check).toContain(`127.0.0.1:${config.metrics?.port}/readyz`);
    for (const node of ['n1', 'n2', 'n3']) {
      expect(worker?.depends_on?.[node]).toEqual({ condition: 'service_healthy' });
    }
  });
});
