// The layout is shared with the command line (clean); it lives in common so clients need not reach into activities.
export { renderPaths } from '../common/render-paths';
