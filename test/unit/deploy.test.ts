import { access, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCli } from '../helpers/cli.js';

const root = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string[] | string;
  environment?: Record<string, string> | string[];
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test?: string[] | string };
  depends_on?: Record<string, { condition?: string }> | string[];
  deploy?: { replicas?: number };
}

async function compose(): Promise<{ services: Record<string, Service>; volumes?: object }> {
  return parse(await readFile(root('docker-compose.yml'), 'utf8')) as {
    services: Record<string, Service>;
  };
}

function words(value: string[] | string | undefined): string[] {
  return Array.isArray(value) ? value : (value ?? '').split(/\s+/).filter(Boolean);
}

describe('docker-compose.yml', () => {
  it('runs nats with JetStream on a volume, the monitoring port and a health check', async () => {
    const { services, volumes } = await compose();
    const nats = services.nats;
    expect(nats).toBeDefined();
    const command = words(nats?.command);
    expect(command).toContain('-js');
    const storeDir = command[command.indexOf('-sd') + 1];
    expect(storeDir).toBeDefined();
    const mounted = (nats?.volumes ?? []).map((v) => v.split(':'));
    expect(
      mounted.some(
        ([name, path]) => path === storeDir && Object.keys(volumes ?? {}).includes(name ?? ''),
      ),
    ).toBe(true);
    expect(command.slice(command.indexOf('-m') + 1)[0]).toBe('8222');
    expect(nats?.ports).toContain('127.0.0.1:8222:8222');
    expect(words(nats?.healthcheck?.test).join(' ')).toContain('8222/healthz');
  });

  it('runs workers with a real hitl command against the nats service, built from a Dockerfile that runs bin/hitl.js', async () => {
    const { services } = await compose();
    const worker = services.worker;
    expect(worker).toBeDefined();
    // The command is one the CLI knows: its help answers with exit code 0.
    const command = words(worker?.command);
    expect(command[0]).toBe('worker');
    const help = await runCli([...command, '--help'], {});
    expect(help).toMatchObject({ code: 0, stdout: expect.stringMatching(/^usage: hitl worker/) });
    const env = worker?.environment as Record<string, string>;
    expect(new URL(env.NATS_URL ?? '').hostname).toBe('nats');
    expect(Object.keys(services)).toContain('nats');
    expect(worker?.depends_on).toMatchObject({ nats: { condition: 'service_healthy' } });

    const build = typeof worker?.build === 'string' ? { context: worker.build } : worker?.build;
    const dockerfile = `${build?.context ?? '.'}/${build?.dockerfile ?? 'Dockerfile'}`;
    const text = await readFile(root(dockerfile), 'utf8');
    const entrypoint = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(text)?.[1];
    expect(JSON.parse(entrypoint ?? '[]')).toEqual(['node', 'bin/hitl.js']);
    await access(root('bin/hitl.js'));
  });

  it('runs NATS 2.9 with the shipped roles, passwords from .env, ports on 127.0.0.1 only', async () => {
    const { services } = await compose();
    const nats = services.nats;
    expect(nats?.image).toBe('nats:2.9-alpine');
    const command = words(nats?.command);
    const conf = command[command.indexOf('-c') + 1];
    expect(nats?.volumes).toContain(`./deploy/nats-server.conf:${conf}:ro`);
    // Every password the configuration reads comes from .env, and .env.example names each.
    const text = await readFile(root('deploy/nats-server.conf'), 'utf8');
    const wanted = [...new Set(text.match(/\$HITL_[A-Z_]+_PASSWORD/g))].map((v) => v.slice(1));
    expect(wanted.length).toBeGreaterThanOrEqual(6);
    const env = nats?.environment as Record<string, string>;
    const example = await readFile(root('.env.example'), 'utf8');
    for (const name of wanted) {
      expect(env[name]).toMatch(new RegExp(`^\\$\\{${name}:\\?`));
      expect(example).toMatch(new RegExp(`^${name}=`, 'm'));
    }
    for (const [name, service] of Object.entries(services)) {
      for (const port of service.ports ?? []) expect(port, name).toMatch(/^127\.0\.0\.1:/);
    }
    expect(await readFile(root('.gitignore'), 'utf8')).toMatch(/^\.env$/m);
  });

  it('connects the workers as the worker role, on its inbox prefix', async () => {
    const { services } = await compose();
    const env = services.worker?.environment as Record<string, string>;
    expect(env).toMatchObject({
      NATS_USER: 'worker',
      NATS_INBOX_PREFIX: '_INBOX_worker',
      HITL_REVIEWER_FROM_SUBJECT: 'true',
    });
    expect(env.NATS_PASS).toMatch(/^\$\{HITL_WORKER_PASSWORD:\?/);
    const conf = await readFile(root('deploy/nats-server.conf'), 'utf8');
    expect(conf).toContain('subscribe: { allow: ["_INBOX_worker.>"] }');
  });

  it('ships an example nats-server configuration with the roles, each on its own inbox prefix', async () => {
    const conf = await readFile(root('deploy/nats-server.conf'), 'utf8');
    for (const user of ['publisher', 'ana', 'bo', 'inbox', 'operator', 'worker']) {
      expect(conf).toMatch(new RegExp(`user: ${user}\\b`));
    }
    // Reviewers answer on their own subject only; nobody but the worker subscribes to _INBOX.>.
    for (const name of ['ana', 'bo']) {
      const block = conf.slice(
        conf.indexOf(`user: ${name}`),
        conf.indexOf('}\n      {', conf.indexOf(`user: ${name}`)),
      );
      expect(block).toContain(`"hitl.human.respond.*.${name}"`);
      expect(block).not.toContain('hitl.human.respond.>');
      expect(block).toContain('"_INBOX_reviewer.>"');
    }
    expect(conf).not.toMatch(/"_INBOX\.>"/);
    expect(conf).not.toMatch(/"\$JS\.API\.>"/);
  });
});
