import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import { readFileSync } from 'node:fs';
import { UsageError } from './errors';

/** The Temporal namespace when none is given (--namespace, TEMPORAL_NAMESPACE). */
export const DEFAULT_NAMESPACE = 'default';

export interface ServerOptions {
  address: string;
  namespace: string;
  /** mTLS client certificate and key (PEM files), e.g. for Temporal Cloud. */
  tlsCert?: string;
  tlsKey?: string;
  /** API key authentication (Temporal Cloud); implies TLS. */
  apiKey?: string;
}

function tlsAndAuth(opts: ServerOptions): Pick<ConnectionOptions, 'tls' | 'apiKey'> {
  if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) {
    throw new UsageError('--tls-cert and --tls-key go together: give both files or neither');
  }
  const read = (path: string, flag: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new UsageError(`cannot read ${flag} "${path}": ${(err as Error).message}`);
    }
  };
  const tls = opts.tlsCert
    ? { clientCertPair: { crt: read(opts.tlsCert, '--tls-cert'), key: read(opts.tlsKey!, '--tls-key') } }
    : opts.apiKey
      ? true
      : undefined;
  return { tls, apiKey: opts.apiKey };
}

export async function connectClient(opts: ServerOptions): Promise<Client> {
  try {
    // A server that is up answers in well under a second; a wrong address should not hang for long.
    const connection = await Connection.connect({ address: opts.address, connectTimeout: '5s', ...tlsAndAuth(opts) });
    return new Client({ connection, namespace: opts.namespace });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(
      `cannot reach the Temporal server at ${opts.address}: ${(err as Error).message}. ` +
        'Is it running? Leave out --address (and TEMPORAL_ADDRESS) to use the embedded server.',
    );
  }
}

/** The server did not answer at its address (as opposed to a bad flag or file): worth waiting for. */
export class ServerUnreachableError extends UsageError {
  override name = 'ServerUnreachableError';
  constructor(
    readonly address: string,
    readonly reason: string,
  ) {
    super(`cannot reach the Temporal server at ${address}: ${reason}`);
  }
}

export async function connectWorker(opts: ServerOptions): Promise<NativeConnection> {
  const auth = tlsAndAuth(opts) as Partial<NativeConnectionOptions>;
  try {
    return await NativeConnection.connect({ address: opts.address, ...auth });
  } catch (err) {
    throw new ServerUnreachableError(opts.address, (err as Error).message);
  }
}
