/**
 * Render ids and fingerprints may never change meaning: a render started by an earlier release must
 * resume under the same id, and its checkpoints and finished frames must keep their fingerprints.
 * PINS holds, for representative command lines, the settings exactly as the render id hashes them
 * and the finished frame's fingerprint, both computed by the code before the options table existed
 * (commit 942b3cb). The id is checked end to end: renderIdFor and framesKey against
 * the formula those releases used, over the pinned settings string.
 *
 * The prev-warped lines were pinned again when the coherent mode became another computation (the
 * stop rule and the relative temporal weight, marked by `stopTolerance`): a new coherent render is
 * a new render. A render an earlier release started keeps its stored settings (no `stopTolerance`),
 * so it resumes under its id and computes as it did (settings.ts temporalWeightFor, stopRuleFor).
 * They were pinned again when warm frames moved to L-BFGS (marked by `laterOptimizer`, present at its
 * default too): a coherent render an earlier release started has no `laterOptimizer` and resumes
 * its warm frames with `optimizer`, as it ran them (settings.ts laterSettings). And again when a scene
 * cut started a new chain (marked by `sceneCut`, present at its default too): a coherent render an
 * earlier release started has none and runs warm across a cut, as it did (settings.ts isSceneCut).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { frameFingerprint } from '../../src/activities/fingerprint';
import { framesKey, parseSettings, renderIdFor, type RenderFlags } from '../../src/client/setup/render-options';

/** [case, flags, the settings JSON the id hashes, frameFingerprint('style-sha', 'weights-id', settings)] */
const PINS: Array<[string, RenderFlags, string, string]> = [
  ["defaults", {}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"]}", "1c0acc45fce6974842fbf97d0ce070bf5d4bdb9f1f28473d9ffdd1519aa680d8"],
  ["engine vgg19 given", {"engine":"vgg19"}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"]}", "1c0acc45fce6974842fbf97d0ce070bf5d4bdb9f1f28473d9ffdd1519aa680d8"],
  ["engine copy", {"engine":"copy"}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"engine\":\"copy\"}", "959a5bb1cc58ad938fda753da1c55ca8e82d79090afbf5a0df55f73ef273a203"],
  ["epochs", {"epochs":"7"}, "{\"epochs\":7,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"]}", "7a74f5ebe7abf6d1b954b484284922e2261d89d278c3aa4bf2ae94d1d434fdbb"],
  ["steps per epoch", {"stepsPerEpoch":"20"}, "{\"epochs\":5,\"stepsPerEpoch\":20,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"]}", "a0005b07b969efc32228e1c6327839cd70253fa0b9c8c2cc5a767b8b3c4da73d"],
  ["style weight", {"styleWeight":"0.05"}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.05,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"]}", "0c84fe042eba84f9b47568638b2cf04397e2c4dd9525096a584300be9ed374b1"],
  ["content weight", {"contentWeight":"5000"}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":5000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"]}", "a69d09230d094c2b78bea673562f9dfa422a5ed0e62903d1f5808cd751388b61"],
  ["tv weight", {"tvWeight":"1"}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":1,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"]}", "6f4aead81fe3fd754908d5d141af81fba2b77193aaeae95fb0ae376254fcb830"],
  ["learning rate", {"learningRate":"0.05"}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.05,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"]}", "5dfb51155b36f1b37e4ea6ab854009d3543169f7c8c4bf724a58aa56a3b2ffaa"],
  ["size", {"size":"256"}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":256,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"]}", "36ebe91ebfd3459bdd4cfce0bcdfa5e40f485e85f5337b7953cbdb1ce40fe814"],
  ["init content given", {"init":"content"}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"]}", "1c0acc45fce6974842fbf97d0ce070bf5d4bdb9f1f28473d9ffdd1519aa680d8"],
  ["prev-warped",{"init":"prev-warped"},"{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"init\":\"prev-warped\",\"temporalWeight\":1000,\"laterEpochs\":2,\"laterOptimizer\":\"lbfgs\",\"sceneCut\":0.5,\"stopTolerance\":0.001}","60fc1445bde008de06a1abcba07d39a4227030a46af5ba6200e23adc39b04e04"],
  ["prev-warped at 256",{"init":"prev-warped","size":"256"},"{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":256,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"init\":\"prev-warped\",\"temporalWeight\":1000,\"laterEpochs\":2,\"laterOptimizer\":\"lbfgs\",\"sceneCut\":0.5,\"stopTolerance\":0.001}","585f1e590110fc121b2f41fc5f46820350816d2f2751ba19e6df34e9e9c6ee7f"],
  ["prev-warped temporal weight",{"init":"prev-warped","temporalWeight":"3e6"},"{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"init\":\"prev-warped\",\"temporalWeight\":3000000,\"laterEpochs\":2,\"laterOptimizer\":\"lbfgs\",\"sceneCut\":0.5,\"stopTolerance\":0.001}","e36bb2e30f658f817ff0685ce3bad2889e05b85c7a10cfd5cdbc760029da657c"],
  ["prev-warped later epochs",{"init":"prev-warped","laterEpochs":"4"},"{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"init\":\"prev-warped\",\"temporalWeight\":1000,\"laterEpochs\":4,\"laterOptimizer\":\"lbfgs\",\"sceneCut\":0.5,\"stopTolerance\":0.001}","049b8792f39b07d18a26ad2328bc0cd60e55236423c0f283ba60c5b700afec94"],
  ["prev-warped epochs 7",{"init":"prev-warped","epochs":"7"},"{\"epochs\":7,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"init\":\"prev-warped\",\"temporalWeight\":1000,\"laterEpochs\":3,\"laterOptimizer\":\"lbfgs\",\"sceneCut\":0.5,\"stopTolerance\":0.001}","8ef8109f6563e3d17a7174e2d85759cf6eba4de021cd8ba444c8b70c25aafea2"],
  ["prev-warped run-up 0",{"init":"prev-warped","runUp":"0"},"{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"init\":\"prev-warped\",\"temporalWeight\":1000,\"laterEpochs\":2,\"runUp\":0,\"laterOptimizer\":\"lbfgs\",\"sceneCut\":0.5,\"stopTolerance\":0.001}","026620f8b177f2ac26ed84894d1c090feef8e51cad7e29e58ca8aba4ade92f63"],
  ["prev-warped run-up at default",{"init":"prev-warped","runUp":"3"},"{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"init\":\"prev-warped\",\"temporalWeight\":1000,\"laterEpochs\":2,\"laterOptimizer\":\"lbfgs\",\"sceneCut\":0.5,\"stopTolerance\":0.001}","60fc1445bde008de06a1abcba07d39a4227030a46af5ba6200e23adc39b04e04"],
  ["prev-warped, stop on the sum (the default: absent)",{"init":"prev-warped","stopOn":"sum"},"{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"init\":\"prev-warped\",\"temporalWeight\":1000,\"laterEpochs\":2,\"laterOptimizer\":\"lbfgs\",\"sceneCut\":0.5,\"stopTolerance\":0.001}","60fc1445bde008de06a1abcba07d39a4227030a46af5ba6200e23adc39b04e04"],
  ["prev-warped, stop on the terms",{"init":"prev-warped","stopOn":"terms"},"{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"init\":\"prev-warped\",\"temporalWeight\":1000,\"laterEpochs\":2,\"laterOptimizer\":\"lbfgs\",\"sceneCut\":0.5,\"stopOn\":\"terms\",\"stopTolerance\":0.001}","8b03e6fc75fbe6357e914d88cfea087d4f857ca9c0af6c6ebf7879809c77b659"],
  ["prev-warped, warm frames by Adam",{"init":"prev-warped","laterOptimizer":"adam"},"{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"init\":\"prev-warped\",\"temporalWeight\":1000,\"laterEpochs\":2,\"laterOptimizer\":\"adam\",\"sceneCut\":0.5,\"stopTolerance\":0.001}","c91461db8782f2ee45e9c4d3b6d9f0155d24044bfb15e81a9da944b59c9ab990"],
  ["prev-warped every option",{"init":"prev-warped","temporalWeight":"2e6","laterEpochs":"2","runUp":"5","size":"384"},"{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":384,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"init\":\"prev-warped\",\"temporalWeight\":2000000,\"laterEpochs\":2,\"runUp\":5,\"laterOptimizer\":\"lbfgs\",\"sceneCut\":0.5,\"stopTolerance\":0.001}","9295c99ce333dce40b6c74becea8870caf556f27922bbc2bd998a1af7fb455fd"],
  ["original colors", {"originalColors":true}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"originalColors\":true}", "cd9315b6532510e69963c49427bda8302f5e3b50ddf430341349e578da923748"],
  ["style scale", {"styleScale":"0.5"}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"styleScale\":0.5}", "a513852f87751f0af970e13e4697b8473c0e044072ea69e8589da8221cfa409e"],
  ["style scale at default", {"styleScale":"1"}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"]}", "1c0acc45fce6974842fbf97d0ce070bf5d4bdb9f1f28473d9ffdd1519aa680d8"],
  ["blend 3,7", {"style":["a.jpg","b.jpg"],"styleBlendWeights":"3,7"}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"styleBlendWeights\":[0.3,0.7]}", "2b2fab2f900bbf2ecd318b81cc33243cd366061c8809bf09a2e68ca1f54e2757"],
  ["blend 1,1", {"style":["a.jpg","b.jpg"],"styleBlendWeights":"1,1"}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"]}", "1c0acc45fce6974842fbf97d0ce070bf5d4bdb9f1f28473d9ffdd1519aa680d8"],
  ["blend 1,2,1", {"style":["a.jpg","b.jpg","c.jpg"],"styleBlendWeights":"1,2,1"}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"styleBlendWeights\":[0.25,0.5,0.25]}", "346eb6c27408ad33a373278a8833c97b50320af264ef289c541fa2d81998b94d"],
  ["two styles equal", {"style":["a.jpg","b.jpg"]}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"]}", "1c0acc45fce6974842fbf97d0ce070bf5d4bdb9f1f28473d9ffdd1519aa680d8"],
  ["copy engine with style options", {"engine":"copy","originalColors":true,"styleScale":"2"}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"engine\":\"copy\",\"originalColors\":true,\"styleScale\":2}", "9fb8c91549e53730f4afd69b09fc2e9f9a80b047749bb5c4fbd917a8d04399c7"],
  ["everything",{"init":"prev-warped","runUp":"1","originalColors":true,"styleScale":"1.5","style":["a.jpg","b.jpg"],"styleBlendWeights":"1,3","size":"320","epochs":"3","tvWeight":"2"},"{\"epochs\":3,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":2,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":320,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"],\"init\":\"prev-warped\",\"temporalWeight\":1000,\"laterEpochs\":1,\"runUp\":1,\"originalColors\":true,\"styleScale\":1.5,\"styleBlendWeights\":[0.25,0.75],\"laterOptimizer\":\"lbfgs\",\"sceneCut\":0.5,\"stopTolerance\":0.001}","f1542e4da182613bfb9f602c6bbe6f437c7deedbfca1f58b76b2ba02ac4f04ac"],
  ["limits and chunks only", {"window":"8","framesPerRun":"100","frameAttempts":"5","heartbeatTimeout":"60","checkpointEvery":"10","degradeAfterOoms":"3","chunkFrames":"50","openChunks":"3","overlap":"4","keepFrames":true}, "{\"epochs\":5,\"stepsPerEpoch\":50,\"styleWeight\":0.01,\"contentWeight\":10000,\"tvWeight\":0,\"learningRate\":0.02,\"beta1\":0.99,\"beta2\":0.999,\"epsilon\":0.1,\"size\":512,\"contentLayers\":[\"block5_conv2\"],\"styleLayers\":[\"block1_conv1\",\"block2_conv1\",\"block3_conv1\",\"block4_conv1\",\"block5_conv1\"]}", "1c0acc45fce6974842fbf97d0ce070bf5d4bdb9f1f28473d9ffdd1519aa680d8"],
];

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

test('every pinned command line gives the settings and frame fingerprint it always did', () => {
  for (const [name, flags, settingsJson, fingerprint] of PINS) {
    const { settings } = parseSettings(flags);
    assert.equal(JSON.stringify(settings), settingsJson, name);
    assert.equal(frameFingerprint('style-sha', 'weights-id', settings), fingerprint, name);
  }
});

test('render ids and frame-sharing keys hash the pinned settings as they always did', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'starry-ids-'));
  try {
    const input = join(dir, 'My Clip.mp4');
    const styles = ['a.jpg', 'b.jpg', 'c.jpg'].map((name) => join(dir, name));
    writeFileSync(input, 'not a video: the id reads only its path, size and time');
    styles.forEach((style, i) => writeFileSync(style, `style ${i}`));
    const output = join(dir, 'out.mp4');
    const stat = statSync(input);
    // The formula of releases up to now (render-options.ts readableId), written out independently.
    const expected = (settingsJson: string, styleCount: number, extra: object, withEpochs: boolean) => {
      const settings = JSON.parse(settingsJson) as Record<string, unknown>;
      if (!withEpochs) delete settings.epochs;
      const identity = JSON.stringify({
        input: [realpathSync(input), stat.size, stat.mtimeMs],
        style: sha256(`style 0`),
        ...(styleCount > 1 ? { styles: styles.slice(0, styleCount).map((_, i) => sha256(`style ${i}`)) } : {}),
        settings,
        ...extra,
      });
      return `my-clip-${sha256(identity).slice(0, 10)}`;
    };
    for (const [name, flags, settingsJson] of PINS) {
      const styleCount = Array.isArray(flags.style) ? flags.style.length : 1;
      const files = { input, style: styles[0], ...(styleCount > 1 ? { styles: styles.slice(0, styleCount) } : {}), output };
      const { settings } = parseSettings(flags);
      assert.equal(await renderIdFor(files, settings), expected(settingsJson, styleCount, { output }, false), `${name}: render id`);
      assert.equal(await framesKey(files, settings), expected(settingsJson, styleCount, {}, true), `${name}: frames key`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
