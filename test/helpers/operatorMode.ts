import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createAccount,
  createOperator,
  createUser,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
  newScopedSigner,
  type KeyPair,
} from '@nats-io/jwt';

/**
 * What a reviewer signed with the account's `reviewer` scoped signing key may do: the same as a
 * reviewer of deploy/nats-server.conf, with the name filled in by the server from the user
 * JWT's name (`{{name()}}`). In nats-server 2.9 templates are expanded only in a scoped signing
 * key's template, never in permissions written into a user JWT.
 */
export const REVIEWER_TEMPLATE = {
  pub: {
    allow: [
      'hitl.human.respond.*.{{name()}}',
      '$JS.API.STREAM.INFO.KV_hitl_interrupts',
      '$JS.API.STREAM.MSG.GET.KV_hitl_interrupts',
      '$JS.API.STREAM.INFO.KV_hitl_snapshots',
      '$JS.API.STREAM.MSG.GET.KV_hitl_snapshots',
      '$JS.API.STREAM.MSG.GET.HITL_EVENTS',
    ],
  },
  sub: { allow: ['hitl.events.>', 'hitl.human.request.>', '_INBOX_reviewer.>'] },
};

/** An operator, its HITL account and users, written as a server config and creds files. */
export interface OperatorSetup {
  /** The nats-server configuration: operator mode, memory resolver, accounts preloaded. */
  readonly configFile: string;
  /** The creds file (user JWT and seed) of a user issued so far, by name. */
  readonly creds: Record<string, string>;
  /** Issues a reviewer named `name` with the account's scoped signing key: its creds file. */
  reviewer(name: string): Promise<string>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Generates, with @nats-io/jwt and @nats-io/nkeys, an operator, a system account and an account
 * `HITL` with JetStream and a scoped signing key for the role `reviewer`
 * ({@link REVIEWER_TEMPLATE}); a `worker` user signed by the account key itself (no limits);
 * and writes a server configuration that trusts the operator and preloads both accounts in a
 * memory resolver.
 *
 * @example
 * await using ops = await operatorSetup();
 * const server = await startNatsServer({ configFile: ops.configFile });
 * const anaCreds = await ops.reviewer('ana');
 */
export async function operatorSetup(): Promise<OperatorSetup> {
  const dir = await mkdtemp(join(tmpdir(), 'hitl-operator-'));
  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  const reviewerSigner = createAccount();
  const operatorJwt = await encodeOperator('hitl-operator', operator, {
    system_account: system.getPublicKey(),
  });
  const systemJwt = await encodeAccount('SYS', system, {}, { signer: operator });
  const accountJwt = await encodeAccount(
    'HITL',
    account,
    {
      // Unset limits are 0 (none allowed): name them all, JetStream's included.
      limits: {
        conn: -1,
        subs: -1,
        data: -1,
        payload: -1,
        imports: -1,
        exports: -1,
        leaf: -1,
        wildcards: true,
        mem_storage: -1,
        disk_storage: -1,
        streams: -1,
        consumer: -1,
      },
      signing_keys: [newScopedSigner(reviewerSigner, 'reviewer', REVIEWER_TEMPLATE)],
    },
    { signer: operator },
  );
  const creds: Record<string, string> = {};
  const writeCreds = async (name: string, jwt: string, user: KeyPair): Promise<string> => {
    const path = join(dir, `${name}.creds`);
    await writeFile(path, fmtCreds(jwt, user), { mode: 0o600 });
    creds[name] = path;
    return path;
  };
  const worker = createUser();
  await writeCreds('worker', await encodeUser('worker', worker, account), worker);
  const configFile = join(dir, 'operator.conf');
  await writeFile(
    configFile,
    [
      `operator: ${operatorJwt}`,
      `system_account: ${system.getPublicKey()}`,
      'resolver: MEMORY',
      'resolver_preload: {',
      `  ${system.getPublicKey()}: ${systemJwt}`,
      `  ${account.getPublicKey()}: ${accountJwt}`,
      '}',
      '',
    ].join('\n'),
  );
  return {
    configFile,
    creds,
    async reviewer(name) {
      const user = createUser();
      // A scoped user: its permissions are the signing key's template, with its name filled in.
      const jwt = await encodeUser(
        name,
        user,
        account,
        {},
        { scopedUser: true, signer: reviewerSigner },
      );
      return writeCreds(name, jwt, user);
    },
    async [Symbol.asyncDispose]() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
