import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, loadConfig, type Worker } from '../../src/index.js';
import { startNatsServer, type NatsServerHandle } from '../../src/cli/natsServer.js';
import { runCli } from '../helpers/cli.js';
import { connectClient, startWorker, testConfig, uniquePrefix } from '../helpers/harness.js';
import {
  haveOpenssl,
  makeCertificates,
  tempDir,
  userNkey,
  type TestCertificates,
} from '../helpers/secrets.js';

// One server wants TLS (with client certificates) and a user: password or nkey; another wants a
// token. Without openssl the first runs without TLS and the TLS cases are skipped.
const tlsAvailable = await haveOpenssl();
if (!tlsAvailable) {
  process.stderr.write(
    'NOTE: openssl not found: the TLS cases of connectionSecurity are skipped\n',
  );
}

let dir: Awaited<ReturnType<typeof tempDir>>;
let secured: NatsServerHandle;
let tokenServer: NatsServerHandle;
let certs: TestCertificates | undefined;
let nkeyFile: string;
let strangerNkey: string;

/** The environment of a client of the secured server: TLS when it has it, plus `extra`. */
function securedEnv(extra: Record<string, string>): Record<string, string> {
  return {
    NATS_URL: secured.url,
    ...(certs
      ? { NATS_TLS_CA: certs.ca, NATS_TLS_CERT: certs.clientCert, NATS_TLS_KEY: certs.clientKey }
      : {}),
    ...extra,
  };
}

async function connectError(env: Record<string, string>): Promise<string> {
  try {
    const nc = await connectNats(loadConfig(env).nats);
    await nc.close();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('connected, but it should have been refused');
}

async function connects(env: Record<string, string>): Promise<void> {
  const nc = await connectNats(loadConfig(env).nats);
  await nc.flush();
  await nc.close();
}

beforeAll(async () => {
  dir = await tempDir();
  const nkey = await userNkey(dir.path, 'ana');
  nkeyFile = nkey.seedFile;
  strangerNkey = (await userNkey(dir.path, 'stranger')).seedFile;
  if (tlsAvailable) certs = await makeCertificates(dir.path);
  const tls = certs
    ? `tls { cert_file: "${certs.serverCert}", key_file: "${certs.serverKey}", ca_file: "${certs.ca}", verify: true }\n`
    : '';
  const securedConf = join(dir.path, 'secured.conf');
  await writeFile(
    securedConf,
    `${tls}authorization { users: [ { user: ana, password: "s3cret" }, { nkey: ${nkey.publicKey} } ] }\n`,
  );
  const tokenConf = join(dir.path, 'token.conf');
  await writeFile(tokenConf, 'authorization { token: "t0ken-123" }\n');
  [secured, tokenServer] = await Promise.all([
    startNatsServer({ configFile: securedConf }),
    startNatsServer({ configFile: tokenConf }),
  ]);
});

afterAll(async () => {
  await Promise.all([secured?.dispose(), tokenServer?.dispose()]);
  await dir?.dispose();
});

describe('connecting to a secured NATS', () => {
  it('connects with a user and password and refuses a wrong password in one line', async () => {
    await connects(securedEnv({ NATS_USER: 'ana', NATS_PASS: 's3cret' }));
    const message = await connectError(securedEnv({ NATS_USER: 'ana', NATS_PASS: 'wrong' }));
    expect(message).toBe(
      `cannot connect to NATS at ${secured.url}: authorization violation (check NATS_USER/NATS_PASS)`,
    );
    expect(await connectError(securedEnv({}))).toMatch(
      /authorization violation \(the server wants credentials: set NATS_CREDS, NATS_NKEY/,
    );
  });

  it('connects with an nkey seed file and refuses a seed the server does not know', async () => {
    await connects(securedEnv({ NATS_NKEY: nkeyFile }));
    expect(await connectError(securedEnv({ NATS_NKEY: strangerNkey }))).toBe(
      `cannot connect to NATS at ${secured.url}: authorization violation (check NATS_NKEY)`,
    );
    const notASeed = join(dir.path, 'not-a-seed.nk');
    await writeFile(notASeed, 'hello\n');
    expect(await connectError(securedEnv({ NATS_NKEY: notASeed }))).toBe(
      `NATS_NKEY file '${notASeed}' does not hold a user nkey seed (one line starting with 'SU')`,
    );
  });

  it('connects with a token and refuses a wrong one', async () => {
    await connects({ NATS_URL: tokenServer.url, NATS_TOKEN: 't0ken-123' });
    expect(await connectError({ NATS_URL: tokenServer.url, NATS_TOKEN: 'nope' })).toBe(
      `cannot connect to NATS at ${tokenServer.url}: authorization violation (check NATS_TOKEN)`,
    );
  });

  it('refuses an unreadable creds or nkey file, naming the variable', async () => {
    const missing = join(dir.path, 'missing.creds');
    expect(await connectError({ NATS_URL: tokenServer.url, NATS_CREDS: missing })).toBe(
      `cannot read NATS_CREDS file '${missing}': no such file (check NATS_CREDS)`,
    );
    expect(await connectError({ NATS_URL: tokenServer.url, NATS_NKEY: dir.path })).toBe(
      `cannot read NATS_NKEY file '${dir.path}': it is a directory (check NATS_NKEY)`,
    );
    const garbage = join(dir.path, 'garbage.creds');
    await writeFile(garbage, 'not a creds file');
    expect(await connectError({ NATS_URL: tokenServer.url, NATS_CREDS: garbage })).toBe(
      `cannot connect to NATS at ${tokenServer.url}: unable to parse credentials (check NATS_CREDS)`,
    );
  });

  it.skipIf(!tlsAvailable)(
    'connects over TLS with NATS_TLS_CA and a client certificate; refuses a CA that did not sign the server',
    async () => {
      const tls = certs as TestCertificates;
      await connects(securedEnv({ NATS_USER: 'ana', NATS_PASS: 's3cret' }));
      const auth = { NATS_USER: 'ana', NATS_PASS: 's3cret' };
      expect(await connectError({ ...securedEnv(auth), NATS_TLS_CA: tls.otherCa })).toBe(
        `cannot connect to NATS at ${secured.url}: unable to verify the first certificate (check NATS_TLS_CA: it must be the CA that signed the server's certificate)`,
      );
      const { NATS_TLS_CA: _ca, ...withoutCa } = securedEnv(auth);
      expect(await connectError(withoutCa)).toMatch(
        /unable to verify the first certificate \(set NATS_TLS_CA to the CA that signed/,
      );
    },
  );

  it('runs a workflow over the secured connection', async () => {
    const prefix = uniquePrefix('sec');
    const env = securedEnv({ NATS_USER: 'ana', NATS_PASS: 's3cret' });
    const config = testConfig({ url: secured.url }, prefix, env);
    let worker: Worker | undefined;
    const client = await connectClient(config);
    try {
      worker = await startWorker(config);
      const run = await client.start({ id: 'sec-1', request: 'I want a refund' });
      expect(run).toMatchObject({ status: 'paused', interrupt: { type: 'approval' } });
    } finally {
      await client.close();
      await worker?.stop();
    }
  });

  it('the CLI refuses wrong credentials with one line on stderr and exit code 1', async () => {
    const env = securedEnv({
      NATS_USER: 'ana',
      NATS_PASS: 'wrong',
      HITL_PREFIX: uniquePrefix('c'),
    });
    const [pending, worker, unset] = await Promise.all([
      runCli(['pending'], env),
      runCli(['worker'], env),
      runCli(['pending'], { ...env, NATS_PASS: '' }),
    ]);
    for (const result of [pending, worker]) {
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `hitl: cannot connect to NATS at ${secured.url}: authorization violation (check NATS_USER/NATS_PASS)\n`,
      );
    }
    expect(unset).toMatchObject({ code: 1, stderr: 'hitl: NATS_USER needs NATS_PASS\n' });
  });
});
