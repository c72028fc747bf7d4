/**
 * Reads a `localizer.yaml`: YAML (the `yaml` library, with positions), `${VAR}` from the
 * environment, then the schema. Every problem is reported as `FILE:LINE:COLUMN: what is wrong`,
 * all of them at once, so a user fixes the file in one pass.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isPair, isScalar, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { projectFileSchema, type ProjectFile } from '../../../shared/project-file';

export const defaultProjectFileName = 'localizer.yaml';

export class ProjectFileError extends Error {
  override name = 'ProjectFileError';
}

export interface LoadedProject {
  /** Absolute path of the file. */
  path: string;
  /** Its directory: relative paths in it are relative to this. */
  directory: string;
  file: ProjectFile;
}

interface Located {
  offset: number;
  message: string;
}

/** `${NAME}`, `${NAME:-default}` (also when NAME is empty) and `${NAME-default}`; `$$` is a `$`. */
const variable = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g;

/** Whether the scalar is (in) a `command:`: that goes to the shell or program as written. */
function inCommand(path: readonly unknown[]): boolean {
  return path.some(
    (ancestor) => isPair(ancestor) && isScalar(ancestor.key) && ancestor.key.value === 'command',
  );
}

/**
 * `${VAR}` from this environment, in every value but a `command`: its `$PORT` is for the process,
 * which gets the workload's environment (the shell expands it there).
 */
function expandVariables(document: Document, env: NodeJS.ProcessEnv, problems: Located[]): void {
  visit(document, {
    Scalar(_key, node, path) {
      if (typeof node.value !== 'string' || !node.value.includes('$') || inCommand(path)) return;
      node.value = node.value.replace(
        variable,
        (whole, name: string | undefined, operator: string | undefined, fallback: string | undefined) => {
          if (whole === '$$') return '$';
          const value = env[name ?? ''];
          if (value !== undefined && !(operator === ':-' && value === '')) return value;
          if (fallback !== undefined) return fallback;
          problems.push({
            offset: node.range?.[0] ?? 0,
            message: `\${${name ?? ''}} is not set in the environment; set it, or give a default with \${${name ?? ''}:-value}`,
          });
          return whole;
        },
      );
    },
  });
}

/** Where a schema issue points: the value at its path, or the key that should not be there. */
function offsetOf(document: Document, issue: z.core.$ZodIssue): number {
  const path = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
  for (let depth = path.length; depth >= 0; depth--) {
    const node =
      depth === 0 ? document.contents : (document.getIn(path.slice(0, depth), true) as Node | undefined);
    if (!node) continue;
    if (issue.code === 'unrecognized_keys' && depth === path.length && isMap(node)) {
      const key = node.items.find(
        (pair) => isScalar(pair.key) && issue.keys.includes(String(pair.key.value)),
      );
      if (key && isScalar(key.key)) return key.key.range?.[0] ?? 0;
    }
    return node.range?.[0] ?? 0;
  }
  return 0;
}

/** `exposes[0].map[1]`, as a reader finds it. */
function describePath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${String(p)}]` : `${i > 0 ? '.' : ''}${String(p)}`))
    .join('');
}

function describeIssue(document: Document, issue: z.core.$ZodIssue): string {
  const where = issue.path.length > 0 ? `${describePath(issue.path)}: ` : '';
  if (issue.code === 'unrecognized_keys') {
    const known = Object.keys(projectFileSchema.shape);
    return `${where}unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}${
      issue.path.length === 0 ? `; expected ${known.filter((k) => k !== '$schema').join(', ')}` : ''
    }`;
  }
  if (
    issue.code === 'invalid_type' &&
    !document.hasIn(issue.path.map((p) => (typeof p === 'number' ? p : String(p))))
  )
    return `${where}is required`;
  return `${where}${issue.message}`;
}

/** Parses `text` (the contents of `path`) into a project, or throws naming every problem. */
export function parseProjectFile(
  text: string,
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): LoadedProject {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): string => {
    const { line, col } = lineCounter.linePos(offset);
    return `${path}:${String(line)}:${String(col)}`;
  };
  const syntax = [...document.errors].map(
    (error) => `${at(error.pos[0])}: ${error.message.split('\n')[0] ?? ''}`,
  );
  if (syntax.length > 0) throw new ProjectFileError(`${path} is not valid YAML:\n${syntax.join('\n')}`);
  const problems: Located[] = [];
  expandVariables(document, env, problems);
  let value: unknown;
  try {
    value = document.toJS() ?? {};
  } catch (error) {
    // Aliases past the library's limit (a "billion laughs" file), and the like.
    throw new ProjectFileError(`${path} cannot be read as a project file: ${(error as Error).message}`);
  }
  const parsed = projectFileSchema.safeParse(value);
  if (!parsed.success)
    problems.push(
      ...parsed.error.issues.map((issue) => ({
        offset: offsetOf(document, issue),
        message: describeIssue(document, issue),
      })),
    );
  if (problems.length > 0 || !parsed.success)
    throw new ProjectFileError(
      `${path} is not a valid Localizer project file:\n${problems
        .sort((a, b) => a.offset - b.offset)
        .map((p) => `${at(p.offset)}: ${p.message}`)
        .join('\n')}`,
    );
  const absolute = resolve(path);
  return { path: absolute, directory: dirname(absolute), file: parsed.data };
}

export function readProjectFile(path: string, env: NodeJS.ProcessEnv = process.env): LoadedProject {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ProjectFileError(
      code === 'ENOENT'
        ? `No project file at ${resolve(path)}. Write a ${defaultProjectFileName} (see the README's "A project file"), or name one with -f FILE.`
        : `Cannot read ${resolve(path)}: ${(error as Error).message}`,
    );
  }
  return parseProjectFile(text, path, env);
}
