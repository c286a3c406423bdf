// The plan of a frame's attempt, without tfjs, Temporal or the disk: the activity's decisions
// (identity, run-up, warm start, degrading, stages, resume) as functions of what it found.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asStarted, firstStage, frameIdentity, planAttempt, warmStartCandidate, withRunUp, type IdentityFacts } from '../../src/activities/frame-plan';
import { frameFingerprint, trajectoryFingerprint } from '../../src/activities/fingerprint';
import { sha256 } from '../../src/common/hash';
import { DEFAULT_SETTINGS, type StyleSettings } from '../../src/engine/settings';

const plain: StyleSettings = { ...DEFAULT_SETTINGS, size: 128, epochs: 3, stepsPerEpoch: 10 };
const coherent: StyleSettings = { ...plain, init: 'prev-warped', laterEpochs: 1 };
/** A chunk with content frames 0..9. */
const facts = (over: Partial<IdentityFacts> = {}): IdentityFacts => ({
  styleHashes: ['style-a'],
  weightsId: 'weights',
  previousOnDisk: false,
  hasContent: (f) => f >= 0 && f <= 9,
  ...over,
});
const full = { ooms: 0, degradeAfterOoms: 2, width: 160, height: 90 };

test('a content-init frame: its settings as given identify it (earlier releases keep their fingerprints), one stage from its content', () => {
  const identity = frameIdentity({ frame: 4, settings: plain, chunk: 0 }, facts());
  assert.deepEqual({ warm: identity.warm, runUp: identity.runUp }, { warm: false, runUp: [] });
  assert.equal(identity.fingerprint, frameFingerprint('style-a', 'weights', plain));
  const plan = planAttempt(plain, 4, identity, full);
  assert.equal(plan.reducedSize, undefined);
  assert.equal(plan.workSize, 128);
  assert.equal(plan.steps, 30);
  assert.deepEqual(
    plan.stages.map(({ frame, isRunUp, warm, guide, steps, offset }) => ({ frame, isRunUp, warm, guide, steps, offset })),
    [{ frame: 4, isRunUp: false, warm: false, guide: undefined, steps: 30, offset: 0 }],
  );
  assert.equal(plan.stages[0].trajectory, trajectoryFingerprint('style-a', 'weights', plain));
});

test('several styles are identified by the hash of their hashes; one style by its own', () => {
  const one = frameIdentity({ frame: 0, settings: plain }, facts());
  const two = frameIdentity({ frame: 0, settings: plain }, facts({ styleHashes: ['style-a', 'style-b'] }));
  assert.equal(one.styleHash, 'style-a');
  assert.equal(two.styleHash, sha256('style-a,style-b'));
  assert.notEqual(one.fingerprint, two.fingerprint);
});

test('warm start: only in the coherent mode, in a chunk, with a predecessor whose result is on disk', () => {
  const previous = { frame: 3, lead: false };
  assert.deepEqual(warmStartCandidate({ frame: 4, settings: coherent, chunk: 0, previous }), previous);
  assert.equal(warmStartCandidate({ frame: 4, settings: plain, chunk: 0, previous }), undefined);
  assert.equal(warmStartCandidate({ frame: 4, settings: coherent, previous }), undefined, 'a preview has no chunk');
  assert.equal(warmStartCandidate({ frame: 4, settings: coherent, chunk: 0 }), undefined);

  const warm = frameIdentity({ frame: 4, settings: coherent, chunk: 0, previous }, facts({ previousOnDisk: true }));
  assert.equal(warm.warm, true);
  assert.deepEqual(warm.runUp, [], 'a warm frame has no run-up');
  assert.equal(warm.fingerprint, frameFingerprint('style-a', 'weights', asStarted(coherent, true)));
  const plan = planAttempt(coherent, 4, warm, full);
  assert.equal(plan.guided, true);
  assert.deepEqual(
    plan.stages.map(({ warm: w, guide, steps }) => ({ warm: w, guide, steps })),
    [{ warm: true, guide: 'cached', steps: 10 }],
    'the later epochs, from its own cached guide',
  );

  const notOnDisk = frameIdentity({ frame: 4, settings: coherent, chunk: 0, previous, alone: true }, facts());
  assert.equal(notOnDisk.warm, false);
  assert.equal(notOnDisk.fingerprint, frameFingerprint('style-a', 'weights', asStarted(coherent, false)));
  assert.notEqual(notOnDisk.fingerprint, warm.fingerprint, 'started from its content it is another frame');
});

test("a chain start's run-up: the frames after it farthest first, within the chunk; none for a frame alone or runUp 0", () => {
  const start = frameIdentity({ frame: 0, settings: coherent, chunk: 0 }, facts());
  assert.deepEqual(start.runUp, [3, 2, 1], 'DEFAULT_RUN_UP frames');
  assert.equal(start.fingerprint, withRunUp(frameFingerprint('style-a', 'weights', asStarted(coherent, false)), [3, 2, 1]));
  assert.deepEqual(frameIdentity({ frame: 8, settings: coherent, chunk: 0 }, facts()).runUp, [9], 'the chunk ends at 9');
  assert.deepEqual(frameIdentity({ frame: 0, settings: { ...coherent, runUp: 0 }, chunk: 0 }, facts()).runUp, []);
  assert.deepEqual(frameIdentity({ frame: 0, settings: coherent, chunk: 0, alone: true }, facts()).runUp, []);
  assert.deepEqual(frameIdentity({ frame: 0, settings: coherent }, facts()).runUp, [], 'a preview has no chunk');

  const plan = planAttempt(coherent, 0, start, full);
  assert.deepEqual(
    plan.stages.map(({ frame, isRunUp, warm, guide, steps, offset }) => ({ frame, isRunUp, warm, guide, steps, offset })),
    [
      { frame: 3, isRunUp: true, warm: false, guide: undefined, steps: 30, offset: 0 },
      { frame: 2, isRunUp: true, warm: true, guide: 'previous', steps: 10, offset: 30 },
      { frame: 1, isRunUp: true, warm: true, guide: 'previous', steps: 10, offset: 40 },
      { frame: 0, isRunUp: false, warm: true, guide: 'previous', steps: 10, offset: 50 },
    ],
  );
  assert.equal(plan.steps, 60);
  assert.equal(plan.guided, false, 'a chain start has no guide of its own');
  assert.equal(new Set(plan.stages.map((s) => s.trajectory)).size, 4, "each stage's checkpoints are its own");
  const base = trajectoryFingerprint('style-a', 'weights', { ...asStarted(coherent, false), size: 128 });
  assert.equal(plan.stages[0].trajectory, sha256(`${base}:run-up 3,2,1 at 3`));

  assert.equal(firstStage(plan), 0, 'nothing finished: from the farthest run-up frame');
  assert.equal(firstStage(plan, 3), 1);
  assert.equal(firstStage(plan, 1), 3, 'the whole run-up finished: the frame itself');
});

test('degraded after repeated out-of-memory failures: smaller, from its content, without run-up or guide; the short side stays at 16 px', () => {
  const start = frameIdentity({ frame: 0, settings: coherent, chunk: 0 }, facts());
  const once = planAttempt(coherent, 0, start, { ...full, ooms: 1 });
  assert.equal(once.reducedSize, undefined, 'below the threshold: full size');
  const degraded = planAttempt(coherent, 0, start, { ...full, ooms: 2 });
  assert.equal(degraded.reducedSize, 64);
  assert.equal(degraded.workSize, 64);
  assert.deepEqual(degraded.runUp, []);
  assert.deepEqual(
    degraded.stages.map(({ frame, warm, guide, steps }) => ({ frame, warm, guide, steps })),
    [{ frame: 0, warm: false, guide: undefined, steps: 30 }],
  );
  assert.equal(degraded.stages[0].trajectory, trajectoryFingerprint('style-a', 'weights', { ...asStarted(coherent, false), size: 64 }));

  const warm = frameIdentity({ frame: 4, settings: coherent, chunk: 0, previous: { frame: 3, lead: false } }, facts({ previousOnDisk: true }));
  const warmDegraded = planAttempt(coherent, 4, warm, { ...full, ooms: 2 });
  assert.equal(warmDegraded.guided, false, 'a degraded frame starts afresh');
  assert.equal(warmDegraded.stages[0].warm, false);

  // 160×90: the long side that keeps 16 px on the short one is ceil(16 × 160 / 90) = 29.
  assert.equal(planAttempt(plain, 0, frameIdentity({ frame: 0, settings: plain }, facts()), { ...full, ooms: 20 }).reducedSize, 29);
});
