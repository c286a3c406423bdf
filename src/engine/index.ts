export * from './backend';
export * from './engine';
export * from './settings';
export * from './stylize';
export * from './weights';
export * from './weights-cache';
