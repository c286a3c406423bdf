/**
 * `npm run bench -- --only compare`: the seed's TF2 step (bench/reference/seed_step.py, graph via
 * tf.function and eager) against our engine on each backend (bench/step-child.ts), same weights
 * file, frame, style image and number of steps. Every (competitor, size) runs in a fresh process,
 * one at a time, in an order that rotates from size to size (and round to round) so that drift in
 * the machine's load does not favour one competitor.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { frameShape, median } from './steps';

export interface CompareOptions {
  weights: string;
  sizes: number[];
  steps: number;
  /** Our backends to try, e.g. ['node', 'wasm']; one that does not initialise is reported and dropped. */
  backends: string[];
  /** wasm only up to this size (it takes ~60 s/step at 512 px). */
  wasmMaxSize: number;
  rounds: number;
  python: string;
  /** TensorFlow intra/inter-op threads; 0 = its default (all cores), as the seed ran. */
  tfThreads: number;
  /** How to reproduce this run (printed under the table). */
  command: string;
}

interface RunResult {
  msPerStep: number;
  samplesMs: number[];
  losses: number[];
  maxRssMiB: number;
  unavailable?: string;
  [key: string]: unknown;
}

interface Competitor {
  key: string;
  label: string;
  kind: 'tf' | 'ours';
  /** tf: graph | eager; ours: the backend */
  variant: string;
}

const HERE = __dirname;
const LOSS_STEPS = 3;

/** Runs a command and returns the JSON line(s) it prints that start with {"impl". */
function runJson(cmd: string, argv: string[]): Promise<RunResult[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const results = out
        .split('\n')
        .filter((l) => l.startsWith('{"impl"'))
        .map((l) => JSON.parse(l) as RunResult);
      if (code !== 0 || results.length === 0) {
        const tail = err.trim().split('\n').slice(-5).join('\n');
        reject(new Error(`${cmd} ${argv.join(' ')} exited ${signal ?? code}:\n${tail}`));
      } else {
        resolve(results);
      }
    });
  });
}

function runCompetitor(c: Competitor, size: number, o: CompareOptions): Promise<RunResult> {
  if (c.kind === 'tf') {
    const argv = [join(HERE, 'reference', 'seed_step.py'), '--weights', o.weights, '--sizes', String(size), '--modes', c.variant];
    argv.push('--steps', String(o.steps), '--threads', String(o.tfThreads));
    return runJson(o.python, argv).then((r) => r[0]);
  }
  const argv = ['--import', 'tsx', join(HERE, 'step-child.ts'), '--backend', c.variant, '--size', String(size)];
  argv.push('--steps', String(o.steps), '--weights', o.weights);
  return runJson(process.execPath, argv).then((r) => r[0]);
}

/** Whether the reference can run: `python -c 'import tensorflow'`. */
function tensorflowVersion(python: string): string | undefined {
  const r = spawnSync(python, ['-c', 'import tensorflow as tf; print(tf.__version__)'], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
  });
  return r.status === 0 ? r.stdout.trim().split('\n').pop() : undefined;
}

const fmtMs = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const maxRelDiff = (a: number[], b: number[]) => {
  const n = Math.min(a.length, b.length, LOSS_STEPS + 1);
  let worst = 0;
  for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-30));
  return { n, worst };
};

export async function runCompare(o: CompareOptions): Promise<void> {
  if (!(Number.isInteger(o.steps) && o.steps >= 1)) throw new RangeError(`--steps must be a whole number of at least 1 (got ${o.steps})`);
  if (!(Number.isInteger(o.rounds) && o.rounds >= 1)) throw new RangeError(`--rounds must be a whole number of at least 1 (got ${o.rounds})`);
  const cpuModel = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`\n# side by side with the seed's TF2 step: ms/step (median of ${o.steps} after one warm-up step${o.rounds > 1 ? `, median over ${o.rounds} rounds` : ''})`);
  console.log(`machine: ${cpus().length} × ${cpuModel}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at start`);

  const competitors: Competitor[] = [];
  const tfVersion = tensorflowVersion(o.python);
  if (tfVersion) {
    competitors.push({ key: 'tf-graph', label: 'TF graph', kind: 'tf', variant: 'graph' });
    competitors.push({ key: 'tf-eager', label: 'TF eager', kind: 'tf', variant: 'eager' });
    console.log(`reference: TensorFlow ${tfVersion} (${o.python}), threads ${o.tfThreads || 'default (all cores)'}, oneDNN ${process.env.TF_ENABLE_ONEDNN_OPTS ?? 'default'}`);
  } else {
    console.log(
      `reference: skipped — \`${o.python} -c 'import tensorflow'\` failed; install it with \`${o.python} -m pip install tensorflow-cpu==2.21.0\` for the TF graph/eager columns`,
    );
  }
  for (const b of o.backends) competitors.push({ key: `ours-${b}`, label: `ours ${b}`, kind: 'ours', variant: b });

  const notes: string[] = [];
  const results = new Map<string, Map<number, RunResult[]>>(competitors.map((c) => [c.key, new Map()]));
  const dropped = new Map<string, string>();
  const wasmSkipped: number[] = [];

  for (const [si, size] of o.sizes.entries()) {
    const { width, height } = frameShape(size);
    const here = competitors.filter((c) => {
      if (dropped.has(c.key)) return false;
      if (c.variant === 'wasm' && c.kind === 'ours' && size > o.wasmMaxSize) {
        wasmSkipped.push(size);
        return false;
      }
      return true;
    });
    for (let round = 0; round < o.rounds; round++) {
      const shift = (si + round) % Math.max(here.length, 1);
      const order = [...here.slice(shift), ...here.slice(0, shift)];
      for (const c of order) {
        if (dropped.has(c.key)) continue;
        let r: RunResult;
        try {
          r = await runCompetitor(c, size, o);
        } catch (err) {
          const msg = err instanceof Error ? err.message : String(err);
          console.log(`  ${size} px ${c.label}: FAILED ${msg}`);
          notes.push(`${c.label} failed at ${size} px (see above)`);
          continue;
        }
        if (r.unavailable) {
          dropped.set(c.key, r.unavailable);
          console.log(`  ${c.label}: not available here (${r.unavailable})`);
          continue;
        }
        if (r.width !== width || r.height !== height) throw new Error(`${c.label} ran ${r.width}×${r.height}, expected ${width}×${height}`);
        const perSize = results.get(c.key)!;
        perSize.set(size, [...(perSize.get(size) ?? []), r]);
        console.log(`  ${size} px (${width}×${height}) ${c.label}: ${fmtMs(r.msPerStep)} ms/step, peak RSS ${r.maxRssMiB.toFixed(0)} MiB`);
      }
    }
  }

  const shown = competitors.filter((c) => results.get(c.key)!.size > 0);
  const ms = (c: Competitor, size: number) => {
    const rs = results.get(c.key)!.get(size);
    return rs && rs.length ? median(rs.map((r) => r.msPerStep)) : undefined;
  };
  const graph = competitors.find((c) => c.key === 'tf-graph');
  const graphShown = graph && shown.includes(graph);

  console.log('');
  console.log(`| size (frame) | ${shown.map((c) => `${c.label} ms/step${graphShown && c !== graph ? ' (× TF graph)' : ''}`).join(' | ')} |`);
  console.log(`| --- | ${shown.map(() => '---:').join(' | ')} |`);
  for (const size of o.sizes) {
    const { width, height } = frameShape(size);
    const base = graphShown ? ms(graph!, size) : undefined;
    const cells = shown.map((c) => {
      const v = ms(c, size);
      if (v === undefined) return c.variant === 'wasm' && wasmSkipped.includes(size) ? 'skipped' : '—';
      return c === graph || base === undefined ? fmtMs(v) : `${fmtMs(v)} (${(v / base).toFixed(1)}×)`;
    });
    console.log(`| ${size} (${width}×${height}) | ${cells.join(' | ')} |`);
  }

  console.log('');
  console.log(`peak RSS of each process (MiB; ours = a style worker holding VGG19 and running only this size):`);
  console.log(`| size | ${shown.map((c) => c.label).join(' | ')} |`);
  console.log(`| --- | ${shown.map(() => '---:').join(' | ')} |`);
  for (const size of o.sizes) {
    const cells = shown.map((c) => {
      const rs = results.get(c.key)!.get(size);
      if (rs && rs.length) return Math.max(...rs.map((r) => r.maxRssMiB)).toFixed(0);
      return c.kind === 'ours' && c.variant === 'wasm' && wasmSkipped.includes(size) ? 'skipped' : '—';
    });
    console.log(`| ${size} | ${cells.join(' | ')} |`);
  }
  if (!o.sizes.includes(1024)) console.log(`(at 1024 px: ${o.command.replace(/--sizes \S+/, '--sizes 1024')})`);

  if (graphShown) {
    console.log('');
    console.log(`same computation? loss before steps 1..${LOSS_STEPS + 1} (i.e. through ${LOSS_STEPS} updates from the same frame), max relative difference to TF graph:`);
    for (const size of o.sizes) {
      const ref = results.get('tf-graph')!.get(size)?.[0];
      if (!ref) continue;
      const parts = shown
        .filter((c) => c !== graph)
        .map((c) => {
          const r = results.get(c.key)!.get(size)?.[0];
          if (!r) return undefined;
          const { n, worst } = maxRelDiff(r.losses, ref.losses);
          return `${c.label} ${worst.toExponential(1)}${worst > 1e-3 ? ' (MISMATCH)' : ''}${n < LOSS_STEPS + 1 ? ` (${n} losses)` : ''}`;
        })
        .filter(Boolean);
      console.log(`  ${size} px: TF graph losses ${ref.losses.slice(0, LOSS_STEPS + 1).map((l) => l.toPrecision(7)).join(', ')}; ${parts.join('; ')}`);
    }
  }

  if (wasmSkipped.length) {
    notes.push(`wasm skipped at ${[...new Set(wasmSkipped)].join(', ')} px (about 60 s/step at 512 px); --wasm-max-size ${Math.max(...o.sizes)} includes it`);
  }
  for (const [key, why] of dropped) notes.push(`${competitors.find((c) => c.key === key)!.label} not available: ${why}`);
  for (const n of notes) console.log(`note: ${n}`);
  console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at end (a busy machine inflates every column)`);
  console.log(`reproduce: ${o.command}`);
}
