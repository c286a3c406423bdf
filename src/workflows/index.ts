// The worker bundles this file: it must export workflow functions only.
export { renderVideo } from './render';
