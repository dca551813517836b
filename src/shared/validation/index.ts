export { configureInstantWindows, instant } from './instant';
export { badStringReason, findBadString } from './json-strings';
