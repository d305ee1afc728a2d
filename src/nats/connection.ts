import { readFile } from 'node:fs/promises';
import {
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import type { NatsSettings } from '../base/config.js';
import { tuneConnection, tuneNatsRequests } from './natsTuning.js';

/** How often a connection pings its server (two missed pings: the server is given up). */
export const PING_INTERVAL_MS = 10_000;

/** A file named by an environment variable that cannot be read: the message names both. */
async function readSetting(variable: string, path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : err instanceof Error
              ? err.message
              : String(err);
    throw new Error(`cannot read ${variable} file '${path}': ${why} (check ${variable})`, {
      cause: err,
    });
  }
}

/**
 * `NATS_URL` as it may be printed: the password of a `user:pass@` (or a token given as
 * `token@`) replaced by `***`, in every server of a comma-separated list.
 *
 * @example
 * redactNatsUrl('nats://worker:s3cret@nats:4222'); // 'nats://worker:***@nats:4222'
 */
export function redactNatsUrl(url: string): string {
  return url.replace(/(^|,\s*)([a-z][a-z0-9+.-]*:\/\/)?([^@,/\s]*)@/gi, (_m, sep, scheme, auth) => {
    const user = String(auth).includes(':') ? `${String(auth).split(':')[0]}:***` : '***';
    return `${String(sep)}${scheme === undefined ? '' : String(scheme)}${user}@`;
  });
}

/** Which variables hold the credentials the connection used: named in an auth error's hint. */
function credentialVariables(settings: NatsSettings): string {
  if (settings.credsFile) return 'NATS_CREDS';
  if (settings.nkeyFile) return 'NATS_NKEY';
  if (settings.token) return 'NATS_TOKEN';
  if (settings.user) return 'NATS_USER/NATS_PASS';
  return '';
}

/**
 * A connect failure as one line a person can act on: what went wrong, and which setting to
 * look at.
 */
export function describeConnectError(settings: NatsSettings, err: unknown): string {
  const raw = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
  const code = (err as { code?: unknown }).code;
  const given = credentialVariables(settings);
  const tls = settings.tls;
  if (/authorization violation/i.test(raw)) {
    return given
      ? `authorization violation (check ${given})`
      : 'authorization violation (the server wants credentials: set NATS_CREDS, NATS_NKEY, NATS_USER and NATS_PASS, or NATS_TOKEN)';
  }
  const reason = raw.charAt(0).toLowerCase() + raw.slice(1);
  let hint: string;
  if (given && /credentials|jwt|seed|nkey|authenticat/i.test(raw)) {
    hint = `check ${given}`;
  } else if (
    /unable to verify|self[- ]signed|certificate has expired|altnames|unable to get (local )?issuer/i.test(
      raw,
    )
  ) {
    hint = tls?.caFile
      ? "check NATS_TLS_CA: it must be the CA that signed the server's certificate"
      : "set NATS_TLS_CA to the CA that signed the server's certificate";
  } else if (/does not support 'tls'|tls is not available/i.test(raw)) {
    hint = 'the server has no TLS: unset NATS_TLS_CA, NATS_TLS_CERT and NATS_TLS_KEY, or enable it';
  } else if (/certificate|ssl|tls|handshake/i.test(raw)) {
    hint = 'check NATS_TLS_CA, NATS_TLS_CERT and NATS_TLS_KEY';
  } else if (/timeout|timed out/i.test(raw) && tls) {
    // A server that verifies clients drops a TLS 1.3 connection without a usable client
    // certificate after the handshake; the client only sees the connect time out.
    hint = tls.certFile
      ? 'the server may not accept the client certificate: check NATS_TLS_CERT and NATS_TLS_KEY, or NATS_URL'
      : 'the server may require a client certificate: set NATS_TLS_CERT and NATS_TLS_KEY, or check NATS_URL';
  } else if (code === 'ECONNREFUSED' || /ECONNREFUSED|connection refused/i.test(raw)) {
    hint = 'is nats-server running there? check NATS_URL';
  } else {
    hint = 'check NATS_URL';
  }
  return `${reason} (${hint})`;
}

/**
 * The nats.js connect options for the contract's settings: servers, credentials (a creds file,
 * an nkey seed file, user and password, or a token) and TLS. Reads the files it names, with an
 * error naming the variable when one cannot be read.
 */
export async function connectOptions(
  settings: NatsSettings,
  name = 'hitl',
): Promise<NodeConnectionOptions> {
  const options: NodeConnectionOptions = {
    servers: settings.url.split(',').map((s) => s.trim()),
    name,
    // Reconnects forever once connected: a worker outlives a restart of its server. A first
    // connect that fails (bad credentials, nobody listening) fails at once.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // A server that hangs (its socket open, silent) is noticed only by pings: every 10 s, two
    // unanswered, so a worker moves to another node of the cluster within about 30 s rather
    // than nats.js's default of 4 to 6 minutes.
    pingInterval: PING_INTERVAL_MS,
    maxPingOut: 2,
    // nats.js builds an Error with a stack for every request, in case it times out: measured
    // at 18% of a worker's CPU. Timeouts still say what timed out, without the async stack.
    noAsyncTraces: true,
  };
  if (settings.credsFile) {
    options.authenticator = credsAuthenticator(await readSetting('NATS_CREDS', settings.credsFile));
  } else if (settings.nkeyFile) {
    const seed = new TextDecoder().decode(await readSetting('NATS_NKEY', settings.nkeyFile));
    const trimmed = seed.trim();
    if (!/^SU[A-Z2-7]+$/.test(trimmed)) {
      throw new Error(
        `NATS_NKEY file '${settings.nkeyFile}' does not hold a user nkey seed (one line starting with 'SU')`,
      );
    }
    options.authenticator = nkeyAuthenticator(new TextEncoder().encode(trimmed));
  }
  // Replies (of requests, JetStream API calls, pulls, KV watches) come on this role's own
  // prefix, which the server lets no other role subscribe to.
  if (settings.inboxPrefix) options.inboxPrefix = settings.inboxPrefix;
  if (settings.user) options.user = settings.user;
  if (settings.pass) options.pass = settings.pass;
  if (settings.token) options.token = settings.token;
  if (settings.tls) {
    const { caFile, certFile, keyFile } = settings.tls;
    // Read here only to fail with the variable's name; nats.js reads the files itself.
    if (caFile) await readSetting('NATS_TLS_CA', caFile);
    if (certFile) await readSetting('NATS_TLS_CERT', certFile);
    if (keyFile) await readSetting('NATS_TLS_KEY', keyFile);
    options.tls = {
      ...(caFile ? { caFile } : {}),
      ...(certFile ? { certFile } : {}),
      ...(keyFile ? { keyFile } : {}),
    };
  }
  return options;
}

/**
 * Connects to NATS with the contract's settings (URL, credentials file, nkey seed file, user
 * and password, or token; TLS). Reconnects forever: a worker outlives a restart of its server.
 * Wrong credentials, an unreadable file or a certificate the client does not trust fail at
 * once with one line naming the setting to check:
 * `cannot connect to NATS at nats://…: authorization violation (check NATS_USER/NATS_PASS)`.
 *
 * @example
 * const nc = await connectNats({ url: 'nats://127.0.0.1:4222', user: 'ana', pass: 's3cret' });
 */
export async function connectNats(settings: NatsSettings, name = 'hitl'): Promise<NatsConnection> {
  const options = await connectOptions(settings, name);
  tuneNatsRequests();
  try {
    const nc = await connect(options);
    tuneConnection(nc);
    return nc;
  } catch (err) {
    throw new Error(
      `cannot connect to NATS at ${redactNatsUrl(settings.url)}: ${describeConnectError(settings, err)}`,
      { cause: err },
    );
  }
}
