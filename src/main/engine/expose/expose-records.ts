/**
 * What each expose changed in the cluster, written to the state directory before the first change
 * and removed after the last undo. With the labels and annotations on the cluster objects, it is
 * how a restarted Localizer tells a crashed expose (its process is gone) from a live one.
 */
import { mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { ExposeMode } from '../../../shared/tunnel-status';
import type { WorkloadKind } from './workload-scaler';

export interface ExposeRecord {
  session: string;
  pid: number;
  context: string;
  /** The kubeconfig files the context was read from, so a later run finds the cluster again. */
  kubeconfigFiles?: string[];
  namespace: string;
  service: string;
  /** The SSH pod and its Secret share this name. */
  objectName: string;
  /** How the Service was taken; records from before modes existed are scale-downs. */
  mode?: ExposeMode;
  /** The workloads a scale-down scaled (none for a takeover). */
  workloads: { kind: WorkloadKind; namespace: string; name: string }[];
}

function directory(stateDirectory: string): string {
  return join(stateDirectory, 'exposes');
}

export function writeRecord(stateDirectory: string, record: ExposeRecord): void {
  const folder = directory(stateDirectory);
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const file = join(folder, `${record.session}.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify(record, null, 2), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

export function removeRecord(stateDirectory: string, session: string): void {
  rmSync(join(directory(stateDirectory), `${session}.json`), { force: true });
  // The last one takes the folder with it: nothing exposed leaves nothing behind. (Sync calls,
  // and one instance per state directory, so no write can come in between.)
  try {
    if (readdirSync(directory(stateDirectory)).length === 0) rmdirSync(directory(stateDirectory));
  } catch {
    // Already gone.
  }
}

export function readRecords(stateDirectory: string): ExposeRecord[] {
  let files: string[];
  try {
    files = readdirSync(directory(stateDirectory)).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const records: ExposeRecord[] = [];
  for (const file of files) {
    try {
      records.push(JSON.parse(readFileSync(join(directory(stateDirectory), file), 'utf8')) as ExposeRecord);
    } catch {
      // A record cut short by a crash: the labels in the cluster still find what it described.
    }
  }
  return records;
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
