/**
 * The managed block in /etc/hosts, as pure text functions. Everything outside our block is kept
 * byte for byte: CRLF lines, comments, a missing final newline (we add one before our block and
 * mark that we did, so removing the block restores the exact original).
 */

import type { HostsEntry } from '../shared/helper-protocol';

export type { HostsEntry };

export interface BlockInfo {
  session: string;
  pid: number;
  /** Offsets of the whole block in the content, including a newline we added before it. */
  start: number;
  end: number;
  /** Offset of the BEGIN line, and whether the line break before it is ours. */
  begin: number;
  eolAdded: boolean;
}

const marker = 'localizer';
const beginPattern = new RegExp(
  `^# BEGIN ${marker} session=([a-z0-9-]{1,64}) pid=(\\d+)( eol-added)?\\r?$`,
  'gm',
);

/** Every managed block in `content`, in order. A BEGIN without its END is ignored, never guessed at. */
export function findBlocks(content: string): BlockInfo[] {
  const blocks: BlockInfo[] = [];
  for (const match of content.matchAll(beginPattern)) {
    const session = match[1] ?? '';
    const begin = match.index;
    const endMarker = `# END ${marker} session=${session}`;
    let endIndex = content.indexOf(endMarker, begin);
    while (endIndex >= 0 && endIndex > 0 && content[endIndex - 1] !== '\n')
      endIndex = content.indexOf(endMarker, endIndex + 1);
    if (endIndex < 0) continue;
    const lineEnd = content.indexOf('\n', endIndex);
    const end = lineEnd < 0 ? content.length : lineEnd + 1;
    let start = begin;
    if (match[3]) {
      // We added this line break before the block; it leaves with the block.
      start -= content.slice(0, begin).endsWith('\r\n') ? 2 : content.slice(0, begin).endsWith('\n') ? 1 : 0;
    }
    blocks.push({ session, pid: Number(match[2]), start, end, begin, eolAdded: Boolean(match[3]) });
  }
  return blocks;
}

/**
 * `content` without the blocks `shouldRemove` picks. The line break a removed block added goes
 * with it only at the end of the file; if another of our blocks follows, that block inherits it.
 */
export function removeBlocks(content: string, shouldRemove: (block: BlockInfo) => boolean): string {
  let result = '';
  let cursor = 0;
  let inheritBreak = false;
  for (const block of findBlocks(content)) {
    if (block.start < cursor) continue;
    if (!shouldRemove(block)) {
      if (inheritBreak && block.begin === cursor && !block.eolAdded) {
        const lineEnd = content.indexOf('\n', block.begin);
        const beginLine = content.slice(block.begin, lineEnd).replace(/\r$/, '');
        result += content.slice(cursor, block.begin) + `${beginLine} eol-added`;
        cursor = block.begin + beginLine.length;
      }
      inheritBreak = false;
      continue;
    }
    const keepBreak = block.eolAdded && block.end < content.length;
    result += content.slice(cursor, keepBreak ? block.begin : block.start);
    cursor = block.end;
    inheritBreak = keepBreak;
  }
  return result + content.slice(cursor);
}

function lineEnding(content: string): string {
  const first = content.indexOf('\n');
  return first > 0 && content[first - 1] === '\r' ? '\r\n' : '\n';
}

/**
 * Names per hosts line, at most: macOS's resolver can hang lookups for 35–40 s on a line with 12
 * or more names, so an address with more names is written on several lines.
 */
export const maxNamesPerLine = 9;

function entryLines(entry: HostsEntry): string[] {
  const lines: string[] = [];
  for (let i = 0; i < entry.names.length; i += maxNamesPerLine)
    lines.push(`${entry.ip}\t${entry.names.slice(i, i + maxNamesPerLine).join(' ')}`);
  return lines;
}

/**
 * Replaces `session`'s block with `entries` (removing it when there are none), appended at the end
 * of the file in the file's own line-ending style.
 */
export function replaceBlock(
  content: string,
  session: string,
  pid: number,
  entries: readonly HostsEntry[],
): string {
  const base = removeBlocks(content, (block) => block.session === session);
  if (entries.length === 0) return base;
  const eol = lineEnding(base);
  const needsBreak = base.length > 0 && !base.endsWith('\n');
  const lines = [
    `# BEGIN ${marker} session=${session} pid=${pid}${needsBreak ? ' eol-added' : ''}`,
    ...entries.flatMap(entryLines),
    `# END ${marker} session=${session}`,
  ];
  return `${base}${needsBreak ? eol : ''}${lines.join(eol)}${eol}`;
}
