/**
 * The tray icons, drawn in code: one per connection state, in colour (Windows, Linux) or as a
 * black-and-alpha template image that macOS tints for light and dark menu bars. Each state also
 * differs in shape, so it reads without colour. Pure: returns PNG bytes.
 */
import { crc32, deflateSync } from 'node:zlib';
import type { ConnectionState } from '../../shared/app-state';

const colours: Record<ConnectionState, [number, number, number]> = {
  disconnected: [128, 128, 128],
  connecting: [37, 99, 235],
  connected: [22, 163, 74],
  degraded: [217, 119, 6],
  error: [220, 38, 38],
};

/** Coverage (0..1) of the state's shape at a pixel centre, on a unit square. */
function coverage(state: ConnectionState, x: number, y: number): number {
  const dx = x - 0.5;
  const dy = y - 0.5;
  const r = Math.hypot(dx, dy);
  const ring = r <= 0.46 && r >= 0.32;
  const disc = r <= 0.46;
  switch (state) {
    case 'disconnected':
      return ring ? 1 : 0;
    case 'connecting':
      // A ring with its top-right quarter open: "on the way".
      return ring && !(dx > 0 && dy < 0) ? 1 : 0;
    case 'connected':
      return disc ? 1 : 0;
    case 'degraded':
      // Half filled: some tunnels are down.
      return ring || (disc && dy > 0) ? 1 : 0;
    case 'error':
      // A ring with a bar across.
      return ring || (r < 0.32 && Math.abs(dy) < 0.07) ? 1 : 0;
  }
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A `size`×`size` RGBA PNG of the state's icon; 4×4 samples per pixel smooth the edges. */
export function trayIconPng(state: ConnectionState, options: { size: number; template: boolean }): Buffer {
  const { size } = options;
  const [red, green, blue] = options.template ? [0, 0, 0] : colours[state];
  const rows: Buffer[] = [];
  for (let py = 0; py < size; py++) {
    const row = Buffer.alloc(1 + size * 4); // filter byte 0, then RGBA
    for (let px = 0; px < size; px++) {
      let covered = 0;
      for (let sy = 0; sy < 4; sy++)
        for (let sx = 0; sx < 4; sx++)
          covered += coverage(state, (px + (sx + 0.5) / 4) / size, (py + (sy + 0.5) / 4) / size);
      row.set([red, green, blue, Math.round((covered / 16) * 255)], 1 + px * 4);
    }
    rows.push(row);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
