/**
 * Workflow histories to and from the JSON that Temporal's tools write (`temporal workflow show
 * --output json`, the Web UI's download), for the replay fixtures.
 *
 * Why not the SDK's historyToJSON / historyFromJSON: this lockfile installs two copies of
 * protobufjs 8 (one under @temporalio/common, one under @temporalio/proto), and the SDK helpers mix
 * the reflection types of one with the JSON codec of the other, which throws "type must be a
 * Type". Using the codec of the copy @temporalio/proto itself loads keeps both sides from one copy;
 * once the lockfile has a single copy this resolves to it and still works.
 */
import type { History } from '@temporalio/common/lib/proto-utils';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';
import { dirname, join } from 'node:path';

/** The recorded fixtures: `<scenario>-run<N>.json`, written by record-histories.ts. */
export const HISTORIES_DIR = join(__dirname, 'histories');

interface ProtoJson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const protojson = require(
  require.resolve('protobufjs/ext/protojson', { paths: [dirname(require.resolve('@temporalio/proto'))] }),
) as ProtoJson;
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType('temporal.api.history.v1.History');

export function historyToJson(history: History): string {
  const message = proto.temporal.api.history.v1.History.fromObject(history);
  return JSON.stringify(protojson.toJson(historyType, message), null, 2);
}

export function historyFromJson(json: string): History {
  // Unknown fields (a newer server's) are skipped, as the SDK's own loader does.
  return protojson.fromJson(historyType, JSON.parse(json), { ignoreUnknownFields: true }) as History;
}
