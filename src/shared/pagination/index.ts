export {
  cursorCodec,
  cursorInstantSql,
  cursorParts,
  isCursorInstant,
  type Page,
  toPage,
  withCursorInstant,
} from './cursor';
