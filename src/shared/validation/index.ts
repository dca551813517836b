export * from './instant';
export * from './json-strings';
