import { readdirSync, readFileSync, statSync } from 'node:fs';
import { posix, resolve } from 'node:path';
import * as ts from 'typescript';

/**
 * Modules listen to each other's facts by the names those modules export. This reads src (no
 * type checker: the syntax is enough) and finds every listener — `@OnEvent(name)` and
 * `<EventEmitter2>.on(name, …)`, including a loop over the keys of a map — and every emitter
 * (`emit`, `emitAsync`, `emitLifecycleEvent`). A listened name must be a constant, not a string
 * literal, that some module's index.ts exports, and something in src must emit it.
 */

const root = resolve(__dirname, '../..');
type Sources = Map<string, string>;

function readSources(dir = 'src', sources: Sources = new Map()): Sources {
  for (const name of readdirSync(resolve(root, dir))) {
    const path = posix.join(dir, name);
    if (statSync(resolve(root, path)).isDirectory()) readSources(path, sources);
    else if (name.endsWith('.ts') && !name.endsWith('.spec.ts') && !name.endsWith('.d.ts'))
      sources.set(path, readFileSync(resolve(root, path), 'utf8'));
  }
  return sources;
}

interface Use {
  file: string;
  line: number;
  kind: 'OnEvent' | 'on';
  name?: string;
}

interface Scan {
  listens: Use[];
  emitted: Set<string>;
  problems: string[];
}

const LISTEN = new Set(['on', 'once', 'addListener', 'prependListener', 'prependOnceListener']);

export function scan(sources: Sources): Scan {
  const parsed = new Map<string, ts.SourceFile>();
  const parse = (path: string) => {
    let file = parsed.get(path);
    if (!file) {
      file = ts.createSourceFile(path, sources.get(path)!, ts.ScriptTarget.Latest, true);
      parsed.set(path, file);
    }
    return file;
  };
  const resolveFile = (from: string, spec: string): string | undefined => {
    if (!spec.startsWith('.')) return undefined;
    const base = posix.normalize(posix.join(posix.dirname(from), spec));
    return [`${base}.ts`, `${base}/index.ts`].find((path) => sources.has(path));
  };
  const unwrap = (node: ts.Expression): ts.Expression =>
    ts.isAsExpression(node) || ts.isSatisfiesExpression(node) || ts.isParenthesizedExpression(node)
      ? unwrap(node.expression)
      : node;

  /** String constants a file exports, its own (`export const X = '…'`) and those it re-exports. */
  const exportsMemo = new Map<string, Map<string, string>>();
  const exportedConstants = (path: string): Map<string, string> => {
    const memo = exportsMemo.get(path);
    if (memo) return memo;
    const out = new Map<string, string>();
    exportsMemo.set(path, out);
    for (const statement of parse(path).statements) {
      if (
        ts.isVariableStatement(statement) &&
        statement.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
      ) {
        for (const declaration of statement.declarationList.declarations) {
          const value = declaration.initializer && unwrap(declaration.initializer);
          if (ts.isIdentifier(declaration.name) && value && ts.isStringLiteralLike(value))
            out.set(declaration.name.text, value.text);
        }
      }
      if (
        ts.isExportDeclaration(statement) &&
        statement.moduleSpecifier &&
        ts.isStringLiteral(statement.moduleSpecifier)
      ) {
        const target = resolveFile(path, statement.moduleSpecifier.text);
        if (!target) continue;
        const inner = exportedConstants(target);
        const clause = statement.exportClause;
        if (!clause) for (const [name, value] of inner) out.set(name, value);
        else if (ts.isNamedExports(clause))
          for (const element of clause.elements) {
            const value = inner.get((element.propertyName ?? element.name).text);
            if (value !== undefined) out.set(element.name.text, value);
          }
      }
    }
    return out;
  };
  const moduleOf = (path: string) => /^src\/modules\/[^/]+/.exec(path)?.[0];

  /** The event name an identifier stands for, through the file's imports; else the problem. */
  const fromImport = (file: string, id: ts.Identifier): string | { problem: string } => {
    for (const statement of parse(file).statements) {
      if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier))
        continue;
      const bindings = statement.importClause?.namedBindings;
      if (!bindings || !ts.isNamedImports(bindings)) continue;
      const element = bindings.elements.find((e) => e.name.text === id.text);
      if (!element) continue;
      const imported = (element.propertyName ?? element.name).text;
      const target = resolveFile(file, statement.moduleSpecifier.text);
      const module = target && moduleOf(target);
      const index = module && `${module}/index.ts`;
      if (!target || !index || !sources.has(index))
        return { problem: `${id.text} comes from ${statement.moduleSpecifier.text}, no module` };
      const value =
        target === index
          ? exportedConstants(index).get(imported)
          : [...exportedConstants(index)].find(
              ([name, v]) => name === imported && v === exportedConstants(target).get(imported),
            )?.[1];
      return value ?? { problem: `${imported} is not a constant ${index} exports` };
    }
    return { problem: `${id.text} is not imported from a module` };
  };

  /** Every event name an argument stands for: a constant, or a loop over a map keyed by constants. */
  const namesOf = (file: string, node: ts.Expression): Array<string | { problem: string }> => {
    const arg = unwrap(node);
    if (ts.isStringLiteralLike(arg) || ts.isTemplateExpression(arg))
      return [
        { problem: `the string literal ${arg.getText()}: use the constant its module exports` },
      ];
    if (!ts.isIdentifier(arg)) return [{ problem: `cannot tell which event ${arg.getText()} is` }];
    for (let up: ts.Node | undefined = arg.parent; up; up = up.parent) {
      if (!ts.isForOfStatement(up) || !ts.isVariableDeclarationList(up.initializer)) continue;
      const bound = up.initializer.declarations[0]?.name;
      const first =
        bound && ts.isArrayBindingPattern(bound) ? bound.elements[0] : (bound as ts.Node);
      const declared =
        first && (ts.isIdentifier(first) ? first : ts.isBindingElement(first) ? first.name : null);
      if (!declared || !ts.isIdentifier(declared) || declared.text !== arg.text) continue;
      const over = up.expression;
      if (
        !ts.isCallExpression(over) ||
        !/^Object\.(keys|entries)$/.test(over.expression.getText()) ||
        !ts.isIdentifier(over.arguments[0])
      )
        return [{ problem: `${arg.text} loops over ${over.getText()}, not a map's keys` }];
      const mapName = over.arguments[0].text;
      let map: ts.ObjectLiteralExpression | undefined;
      const find = (n: ts.Node): void => {
        if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.name.text === mapName) {
          const value = n.initializer && unwrap(n.initializer);
          if (value && ts.isObjectLiteralExpression(value)) map = value;
        }
        ts.forEachChild(n, find);
      };
      find(parse(file));
      if (!map) return [{ problem: `${mapName} is not an object literal of this file` }];
      return map.properties.map((property) =>
        property.name &&
        ts.isComputedPropertyName(property.name) &&
        ts.isIdentifier(property.name.expression)
          ? fromImport(file, property.name.expression)
          : { problem: `${mapName} key ${property.name?.getText()}: use an exported constant` },
      );
    }
    return [fromImport(file, arg)];
  };

  const result: Scan = { listens: [], emitted: new Set(), problems: [] };
  for (const file of sources.keys()) {
    const source = parse(file);
    // Names typed EventEmitter2 in this file (constructor parameters, properties).
    const emitters = new Set<string>();
    const collect = (n: ts.Node): void => {
      if (
        (ts.isParameter(n) || ts.isPropertyDeclaration(n)) &&
        n.type?.getText() === 'EventEmitter2' &&
        ts.isIdentifier(n.name)
      )
        emitters.add(n.name.text);
      ts.forEachChild(n, collect);
    };
    collect(source);
    const onEmitter = (target: ts.Expression) =>
      emitters.has(ts.isPropertyAccessExpression(target) ? target.name.text : target.getText());
    const record = (kind: Use['kind'], node: ts.Expression) => {
      const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
      for (const name of namesOf(file, node)) {
        if (typeof name === 'string') result.listens.push({ file, line, kind, name });
        else result.problems.push(`${file}:${line} listens to ${name.problem}`);
      }
    };
    const visit = (n: ts.Node): void => {
      if (ts.isDecorator(n) && ts.isCallExpression(n.expression)) {
        const call = n.expression;
        if (call.expression.getText() === 'OnEvent' && call.arguments[0])
          record('OnEvent', call.arguments[0]);
      }
      if (ts.isCallExpression(n)) {
        const callee = n.expression;
        const method = ts.isPropertyAccessExpression(callee) ? callee.name.text : callee.getText();
        if (
          ts.isPropertyAccessExpression(callee) &&
          LISTEN.has(method) &&
          onEmitter(callee.expression)
        )
          if (n.arguments[0]) record('on', n.arguments[0]);
        const emitted =
          method === 'emitLifecycleEvent'
            ? n.arguments[2]
            : method === 'emit' || method === 'emitAsync'
              ? n.arguments[0]
              : undefined;
        if (emitted) {
          const arg = unwrap(emitted);
          const onAnEmitter =
            method === 'emitLifecycleEvent' ||
            (ts.isPropertyAccessExpression(callee) && onEmitter(callee.expression));
          if (ts.isStringLiteralLike(arg) && onAnEmitter) {
            const line = source.getLineAndCharacterOfPosition(arg.getStart()).line + 1;
            result.problems.push(`${file}:${line} emits the string literal ${arg.getText()}`);
          }
          if (ts.isIdentifier(arg)) {
            const name = fromImport(file, arg);
            if (typeof name === 'string') result.emitted.add(name);
          }
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(source);
  }
  return result;
}

describe('event names between modules', () => {
  const sources = readSources();

  it('every name a listener in src uses is a constant some module index.ts exports, and is emitted', () => {
    const { listens, emitted, problems } = scan(sources);
    expect(problems).toEqual([]);
    // Both kinds of listener were found (the scan would otherwise pass on nothing).
    expect(listens.filter((use) => use.kind === 'OnEvent').length).toBeGreaterThan(0);
    expect(listens.filter((use) => use.kind === 'on').length).toBeGreaterThan(10);
    const silent = listens.filter((use) => !emitted.has(use.name!));
    expect(silent.map((use) => `${use.file}:${use.line} ${use.name}`)).toEqual([]);
  });

  it('refuses a string literal, a constant no module exports, a literal map key and a name nothing emits', () => {
    const extra: Sources = new Map(sources);
    extra.set('src/modules/example/index.ts', "export { ORPHAN } from './example.events';\n");
    extra.set(
      'src/modules/example/example.events.ts',
      "export const ORPHAN = 'example.orphan';\nexport const HIDDEN = 'example.hidden';\n",
    );
    extra.set(
      'src/modules/example/example.listener.ts',
      [
        "import { EventEmitter2, OnEvent } from '@nestjs/event-emitter';",
        "import { TENANT_DELETING, USER_REMOVED } from '../auth';",
        "import { HIDDEN, ORPHAN } from './example.events';",
        "const FACTS = { 'auth.user.added': 1, [USER_REMOVED]: 2 };",
        'export class ExampleListener {',
        '  constructor(private readonly emitter: EventEmitter2) {}',
        "  @OnEvent('tenant.deleting') a(): void {}",
        '  @OnEvent(HIDDEN) b(): void {}',
        '  @OnEvent(ORPHAN) c(): void {}',
        '  @OnEvent(TENANT_DELETING) d(): void {}',
        '  wire(): void {',
        "    this.emitter.on('auth.user.removed', () => undefined);",
        '    for (const name of Object.keys(FACTS)) this.emitter.on(name, () => undefined);',
        "    this.emitter.emit('example.loose', {});",
        '  }',
        '}',
      ].join('\n'),
    );
    const { listens, emitted, problems } = scan(extra);
    const ours = problems.filter((p) => p.startsWith('src/modules/example/'));
    expect(ours).toEqual([
      "src/modules/example/example.listener.ts:7 listens to the string literal 'tenant.deleting': use the constant its module exports",
      'src/modules/example/example.listener.ts:8 listens to HIDDEN is not a constant src/modules/example/index.ts exports',
      'src/modules/example/example.listener.ts:10 listens to TENANT_DELETING is not a constant src/modules/auth/index.ts exports',
      "src/modules/example/example.listener.ts:12 listens to the string literal 'auth.user.removed': use the constant its module exports",
      "src/modules/example/example.listener.ts:13 listens to FACTS key 'auth.user.added': use an exported constant",
      "src/modules/example/example.listener.ts:14 emits the string literal 'example.loose'",
    ]);
    expect(problems).toHaveLength(ours.length);
    // ORPHAN is exported but nothing emits it; USER_REMOVED (through the map) resolves.
    expect(listens.some((use) => use.name === 'example.orphan')).toBe(true);
    expect(emitted.has('example.orphan')).toBe(false);
    expect(
      listens.some(
        (use) => use.file.endsWith('example.listener.ts') && use.name === 'auth.user.removed',
      ),
    ).toBe(true);
  });
});
