/**
 * The architecture, kept by a test over the import graph (every import, types included): no
 * module imports itself back through others, each part of the tree imports only the parts below
 * it, and inside the engine each folder only the folders below it. A new folder fails here until
 * it is given its place. No module grows past what a reader holds at once. And the CLI's light
 * commands load none of the engine's heavy parts until they need them.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const source = fileURLToPath(new URL('.', import.meta.url));

function modules(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return modules(path);
    return /\.tsx?$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')
      ? [path]
      : [];
  });
}

/** Each module (path relative to src) and the modules of src it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of modules(source)) {
    const imported = ts
      .preProcessFile(readFileSync(file, 'utf8'), true, true)
      .importedFiles.map((i) => i.fileName)
      .filter((name) => name.startsWith('.'))
      .flatMap((name) => {
        const base = resolve(dirname(file), name);
        const found = [`${base}.ts`, `${base}.tsx`, join(base, 'index.ts')].find((c) => existsSync(c));
        return found ? [relative(source, found)] : [];
      });
    graph.set(relative(source, file), imported);
  }
  return graph;
}

/** Strongly connected groups of more than one module (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node) ?? 0, low.get(next) ?? 0));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node) ?? 0, index.get(next) ?? 0));
    }
    if (low.get(node) !== index.get(node)) return;
    const group: string[] = [];
    let member: string | undefined;
    do {
      member = stack.pop();
      if (member === undefined) break;
      onStack.delete(member);
      group.push(member);
    } while (member !== node);
    if (group.length > 1) found.push(group.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

/**
 * The parts of src, lowest first; a part may import only those before it (and itself).
 * `main` is the Electron glue; the engine under it is ordered on its own below.
 */
const parts = ['shared', 'privileged-helper', 'main/engine', 'renderer', 'preload', 'mcp', 'cli', 'main'];

/** The engine's folders, lowest first; `.` is the engine's own top-level modules. */
const engineLayers = [
  ['timing'],
  ['kube'],
  ['expose'],
  ['relay', 'environment', 'helper'],
  ['connect', 'control'],
  ['instance'],
  ['project'],
  ['.'],
];

function partOf(module: string): string {
  return parts.filter((part) => module.startsWith(`${part}/`)).sort((a, b) => b.length - a.length)[0] ?? '?';
}

function engineLayerOf(module: string): number {
  const folder = module.split('/').length > 3 ? (module.split('/')[2] ?? '.') : '.';
  return engineLayers.findIndex((layer) => layer.includes(folder));
}

/** What each part may import besides itself. */
const mayImport: Record<string, string[]> = {
  shared: [],
  'privileged-helper': ['shared'],
  'main/engine': ['shared'],
  renderer: ['shared'],
  preload: ['shared'],
  mcp: ['shared', 'main/engine'],
  cli: ['shared', 'main/engine', 'mcp', 'privileged-helper'],
  main: ['shared', 'main/engine', 'privileged-helper'],
};

describe('the import graph', () => {
  const graph = importGraph();

  it('has no cycles', () => {
    expect(cycles(graph), 'modules that import each other, directly or through others').toEqual([]);
  });

  it('has every part of src import only the parts below it', () => {
    const wrong: string[] = [];
    for (const [module, imported] of graph)
      for (const target of imported) {
        const [from, to] = [partOf(module), partOf(target)];
        if (from === '?') wrong.push(`${module} is in no known part of src: give it one in layering.test.ts`);
        else if (from !== to && !(mayImport[from] ?? []).includes(to)) wrong.push(`${module} -> ${target}`);
      }
    expect([...new Set(wrong)]).toEqual([]);
  });

  it('has each engine folder import only the folders below it', () => {
    const wrong: string[] = [];
    for (const [module, imported] of graph) {
      if (partOf(module) !== 'main/engine') continue;
      const from = engineLayerOf(module);
      if (from < 0) wrong.push(`${module}: its folder has no layer yet; give it one in layering.test.ts`);
      for (const target of imported) {
        if (partOf(target) !== 'main/engine') continue;
        const to = engineLayerOf(target);
        const sameFolder = dirname(module).split('/')[2] === dirname(target).split('/')[2];
        if (!sameFolder && to >= from) wrong.push(`${module} -> ${target}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

/**
 * A module a newcomer can read in one sitting. A module that must be longer is named here with
 * why, and ARCHITECTURE.md says so too.
 */
const maxModuleLines = 350;
const longerOnPurpose: Record<string, string> = {};

describe('the modules', () => {
  it(`are each at most ${String(maxModuleLines)} lines`, () => {
    const long = modules(source).flatMap((file) => {
      const lines = readFileSync(file, 'utf8').split('\n').length - 1;
      const name = relative(source, file);
      return lines > maxModuleLines && !(name in longerOnPurpose)
        ? [`${name}: ${String(lines)} lines; split it by concept (CONTRIBUTING.md)`]
        : [];
    });
    expect(long).toEqual([]);
  });
});

/**
 * What a module loads when it is loaded: the modules and packages of its value imports, and
 * theirs. `import type` is erased and `import()` waits until it runs, so neither counts.
 */
function loadedWith(entry: string): { modules: Set<string>; packages: Map<string, string> } {
  const modulesLoaded = new Set<string>();
  const packages = new Map<string, string>();
  const visit = (file: string): void => {
    const name = relative(source, file);
    if (modulesLoaded.has(name)) return;
    modulesLoaded.add(name);
    const parsed = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
    for (const statement of parsed.statements) {
      let specifier: string | undefined;
      if (ts.isImportDeclaration(statement)) {
        const clause = statement.importClause;
        // Only `import type` is erased: under verbatimModuleSyntax (tsconfig.base.json),
        // `import { type X }` still loads its module.
        const onlyTypes = clause?.phaseModifier === ts.SyntaxKind.TypeKeyword;
        if (!onlyTypes && ts.isStringLiteral(statement.moduleSpecifier))
          specifier = statement.moduleSpecifier.text;
      } else if (
        ts.isExportDeclaration(statement) &&
        !statement.isTypeOnly &&
        statement.moduleSpecifier &&
        ts.isStringLiteral(statement.moduleSpecifier)
      )
        specifier = statement.moduleSpecifier.text;
      if (specifier === undefined || specifier.startsWith('node:')) continue;
      if (!specifier.startsWith('.')) {
        if (!packages.has(specifier)) packages.set(specifier, name);
        continue;
      }
      const base = resolve(dirname(file), specifier);
      const found = [`${base}.ts`, `${base}.tsx`, join(base, 'index.ts')].find((c) => existsSync(c));
      if (!found) throw new Error(`${name} imports ${specifier}, which is no module of src`);
      visit(found);
    }
  };
  visit(join(source, entry));
  return { modules: modulesLoaded, packages };
}

/**
 * The commands that start in about 0.3 s (src/cli/README.md): `list`, `status`, `disconnect`,
 * `expose --stop`, and a `connect`, `expose` or `env` that joins a running instance. They load
 * the engine (`cli-instance.ts`) and these packages with `import()`, only when they need them.
 */
const lightCliModules = [
  'cli/main.ts',
  'cli/list-command.ts',
  'cli/connect-command.ts',
  'cli/expose-command.ts',
  'cli/env-command.ts',
];
const heavyPackages = ['@kubernetes/client-node', 'ssh2', 'ws', 'pako', '@modelcontextprotocol/sdk'];

describe("the CLI's light commands", () => {
  it.each(lightCliModules)('%s loads neither the engine nor a Kubernetes, SSH or MCP package', (entry) => {
    const { modules: loaded, packages } = loadedWith(entry);
    const heavy = [
      ...(loaded.has('cli/cli-instance.ts') ? ['cli/cli-instance.ts (the engine)'] : []),
      // A package or any path inside it (`@modelcontextprotocol/sdk/server/mcp.js`).
      ...heavyPackages.flatMap((heavyPackage) =>
        [...packages]
          .filter(([specifier]) => specifier === heavyPackage || specifier.startsWith(`${heavyPackage}/`))
          .map(([specifier, importer]) => `${specifier}, imported by ${importer}`),
      ),
    ];
    expect(heavy, 'load these with import() where they are needed (src/cli/README.md)').toEqual([]);
  });
});
