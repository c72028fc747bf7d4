/** Tray icons: valid PNGs, one distinct image per state, template images black with alpha. */
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { connectionStates } from '../../shared/app-state';
import { trayIconPng } from './tray-icons';

function pixels(png: Buffer): Buffer {
  // IDAT starts after the 8-byte signature and the 25-byte IHDR chunk.
  const idatLength = png.readUInt32BE(33);
  return inflateSync(png.subarray(41, 41 + idatLength));
}

describe('tray icons', () => {
  it('are PNGs of the asked size, different for every state', () => {
    const images = connectionStates.map((state) => trayIconPng(state, { size: 32, template: false }));
    for (const image of images) {
      expect(image.subarray(1, 4).toString('latin1')).toBe('PNG');
      expect([image.readUInt32BE(16), image.readUInt32BE(20)]).toEqual([32, 32]);
    }
    expect(new Set(images.map((image) => pixels(image).toString('base64'))).size).toBe(
      connectionStates.length,
    );
  });

  it('differ in shape, not only colour, so template images still tell the states apart', () => {
    const templates = connectionStates.map((state) =>
      pixels(trayIconPng(state, { size: 22, template: true })),
    );
    for (const image of templates) {
      for (let i = 0; i < image.length; i += 22 * 4 + 1) {
        const row = image.subarray(i + 1, i + 1 + 22 * 4);
        for (let p = 0; p < row.length; p += 4) expect([row[p], row[p + 1], row[p + 2]]).toEqual([0, 0, 0]);
      }
    }
    expect(new Set(templates.map((image) => image.toString('base64'))).size).toBe(connectionStates.length);
  });
});
