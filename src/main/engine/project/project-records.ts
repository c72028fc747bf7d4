/**
 * Where `localizer up` keeps what it did, one record per project file, in the state directory
 * (`projects/`), so `down` from any terminal undoes exactly that. Written whole and renamed into
 * place; `down` removes the record, and the folder once it is empty, so an up and a down leave
 * the state directory as they found it.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProjectRecord } from './project-plan';

function folder(stateDirectory: string): string {
  return join(stateDirectory, 'projects');
}

/** The record's path for a project file (by its absolute path). */
export function projectRecordPath(stateDirectory: string, projectFile: string): string {
  const id = createHash('sha256').update(projectFile).digest('hex').slice(0, 16);
  return join(folder(stateDirectory), `${id}.json`);
}

export function readProjectRecord(stateDirectory: string, projectFile: string): ProjectRecord | undefined {
  try {
    const record = JSON.parse(
      readFileSync(projectRecordPath(stateDirectory, projectFile), 'utf8'),
    ) as ProjectRecord;
    return record.file === projectFile ? record : undefined;
  } catch {
    return undefined;
  }
}

export function writeProjectRecord(stateDirectory: string, record: ProjectRecord): void {
  mkdirSync(folder(stateDirectory), { recursive: true, mode: 0o700 });
  const path = projectRecordPath(stateDirectory, record.file);
  const temporary = `${path}.${String(process.pid)}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, path);
}

/** Where a `localizer up --detach` of the project writes its output. */
export function projectLogPath(stateDirectory: string, projectFile: string): string {
  return projectRecordPath(stateDirectory, projectFile).replace(/\.json$/, '.log');
}

/** Removes the record (and, with `log`, a detached up's log: `down` does, a failed up does not). */
export function removeProjectRecord(
  stateDirectory: string,
  projectFile: string,
  options: { log?: boolean } = {},
): void {
  rmSync(projectRecordPath(stateDirectory, projectFile), { force: true });
  if (options.log) rmSync(projectLogPath(stateDirectory, projectFile), { force: true });
  try {
    if (readdirSync(folder(stateDirectory)).length === 0) rmdirSync(folder(stateDirectory));
  } catch {
    // Already gone.
  }
}
