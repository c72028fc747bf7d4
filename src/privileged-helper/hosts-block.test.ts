import { describe, expect, it } from 'vitest';
import { findBlocks, removeBlocks, replaceBlock } from './hosts-block';

const entries = [
  { ip: '127.77.0.1', names: ['api.web', 'api.web.svc', 'api.web.svc.cluster.local'] },
  { ip: '127.77.0.2', names: ['kv-0.kv.data'] },
];

const originals = {
  'a plain file': '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n',
  'comments and foreign lines':
    '# managed by someone else\n10.0.0.5 printer.lan  # office\n\n127.0.1.1\tlaptop\n',
  'no final newline': '127.0.0.1 localhost\n192.168.1.1 router',
  'CRLF lines': '127.0.0.1 localhost\r\n# windows-style\r\n',
  'CRLF without a final newline': '127.0.0.1 localhost\r\n10.1.1.1 nas',
  'an empty file': '',
};

describe('the managed hosts block', () => {
  it('writes at most 9 names on a line, so no resolver hangs on a long one', () => {
    const names = Array.from({ length: 20 }, (_, i) => `n${String(i)}.ns`);
    const written = replaceBlock('', 'many', 1, [{ ip: '127.77.0.9', names }]);
    const lines = written.split('\n').filter((line) => line.startsWith('127.'));
    expect(lines.map((line) => line.split('\t')[1]?.split(' ').length)).toEqual([9, 9, 2]);
    expect(lines.flatMap((line) => line.split('\t')[1]?.split(' ') ?? [])).toEqual(names);
    expect(lines.every((line) => line.startsWith('127.77.0.9\t'))).toBe(true);
  });

  for (const [label, original] of Object.entries(originals)) {
    it(`adds a block to ${label} and removing it restores every byte`, () => {
      const added = replaceBlock(original, 'abc-1', 42, entries);
      expect(added.startsWith(original)).toBe(true);
      expect(added).toContain('127.77.0.1\tapi.web api.web.svc api.web.svc.cluster.local');
      expect(replaceBlock(added, 'abc-1', 42, [])).toBe(original);
    });
  }

  it('writes the block in the file’s own line endings', () => {
    const added = replaceBlock(originals['CRLF lines'], 's', 1, entries);
    expect(
      added
        .slice(originals['CRLF lines'].length)
        .split('\n')
        .slice(0, -1)
        .every((line) => line.endsWith('\r')),
    ).toBe(true);
  });

  it('replaces its own block in place of the old one, once', () => {
    const once = replaceBlock(originals['a plain file'], 's', 1, entries);
    const twice = replaceBlock(once, 's', 1, entries.slice(0, 1));
    expect(findBlocks(twice)).toHaveLength(1);
    expect(twice).not.toContain('kv-0.kv.data');
  });

  it('leaves other sessions’ blocks alone', () => {
    const mine = replaceBlock(originals['a plain file'], 'mine', 1, entries);
    const both = replaceBlock(mine, 'theirs', 2, [{ ip: '127.78.0.1', names: ['other.ns'] }]);
    const withoutMine = replaceBlock(both, 'mine', 1, []);
    expect(findBlocks(withoutMine).map((b) => b.session)).toEqual(['theirs']);
    expect(withoutMine).toContain('other.ns');
  });

  it('removes blocks of dead sessions and keeps live ones', () => {
    let content = replaceBlock(originals['no final newline'], 'dead', 111, entries);
    content = replaceBlock(content, 'live', 222, [{ ip: '127.78.0.1', names: ['x.y'] }]);
    const cleaned = removeBlocks(content, (block) => block.pid === 111);
    expect(findBlocks(cleaned).map((b) => b.session)).toEqual(['live']);
    expect(removeBlocks(cleaned, () => true)).toBe(originals['no final newline']);
  });

  it('ignores a BEGIN marker without its END rather than eating the rest of the file', () => {
    const broken = `${originals['a plain file']}# BEGIN localizer session=x pid=1\n127.77.0.9\tleft.over\n10.0.0.1 important\n`;
    expect(findBlocks(broken)).toEqual([]);
    expect(removeBlocks(broken, () => true)).toBe(broken);
  });
});
