/**
 * The SPDY/3.1 subset kubectl's port-forward uses: frame parsing from an arbitrary byte stream,
 * frame building, and the per-connection zlib contexts (with the SPDY/3 dictionary) that header
 * blocks share, one for each direction.
 */
import { createRequire } from 'node:module';
import pako from 'pako';

const require = createRequire(import.meta.url);
/** The SPDY/3 header-compression dictionary (a protocol constant), taken from spdy-transport. */
const dictionary = (
  require('spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js') as Record<number, Buffer>
)[3];
if (!dictionary) throw new Error('spdy-transport no longer ships the SPDY/3 dictionary');

export const frameTypes = {
  synStream: 1,
  synReply: 2,
  rstStream: 3,
  settings: 4,
  ping: 6,
  goAway: 7,
  headers: 8,
  windowUpdate: 9,
} as const;

export const flagFin = 0x01;

export type Frame =
  | { control: true; type: number; flags: number; payload: Buffer }
  | { control: false; streamId: number; flags: number; payload: Buffer };

/** Splits a byte stream into frames, whatever the chunk boundaries. */
export class FrameReader {
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const frames: Frame[] = [];
    while (this.buffer.length >= 8) {
      const length = this.buffer.readUIntBE(5, 3);
      if (this.buffer.length < 8 + length) break;
      const flags = this.buffer[4] ?? 0;
      const payload = this.buffer.subarray(8, 8 + length);
      const first = this.buffer.readUInt32BE(0);
      if (first & 0x80000000) {
        frames.push({ control: true, type: first & 0xffff, flags, payload });
      } else {
        frames.push({ control: false, streamId: first & 0x7fffffff, flags, payload });
      }
      this.buffer = this.buffer.subarray(8 + length);
    }
    return frames;
  }
}

export function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16BE(0x8003, 0);
  header.writeUInt16BE(type, 2);
  header.writeUInt8(flags, 4);
  header.writeUIntBE(payload.length, 5, 3);
  return Buffer.concat([header, payload]);
}

export function dataFrame(streamId: number, flags: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(streamId & 0x7fffffff, 0);
  header.writeUInt8(flags, 4);
  header.writeUIntBE(payload.length, 5, 3);
  return Buffer.concat([header, payload]);
}

function collect(chunks: Uint8Array[]): Buffer {
  return Buffer.concat(chunks.map((c) => Buffer.from(c)));
}

/** Header blocks: one continuous inflate context for what the peer sends, one deflate for ours. */
export class HeaderCodec {
  private readonly inflater = new pako.Inflate({ dictionary });
  private readonly deflater = new pako.Deflate({ dictionary });

  decode(block: Buffer): Map<string, string> {
    const chunks: Uint8Array[] = [];
    this.inflater.onData = (chunk) => chunks.push(chunk as Uint8Array);
    this.inflater.push(block, pako.constants.Z_SYNC_FLUSH);
    if (this.inflater.err) throw new Error(`SPDY header block does not inflate: ${this.inflater.msg}`);
    const raw = collect(chunks);
    const headers = new Map<string, string>();
    let offset = 4;
    const count = raw.readUInt32BE(0);
    for (let i = 0; i < count; i++) {
      const nameLength = raw.readUInt32BE(offset);
      const name = raw.toString('latin1', offset + 4, offset + 4 + nameLength);
      offset += 4 + nameLength;
      const valueLength = raw.readUInt32BE(offset);
      const value = raw.toString('latin1', offset + 4, offset + 4 + valueLength);
      offset += 4 + valueLength;
      headers.set(name.toLowerCase(), value);
    }
    return headers;
  }

  encode(headers: Record<string, string>): Buffer {
    const entries = Object.entries(headers);
    const parts: Buffer[] = [];
    const count = Buffer.alloc(4);
    count.writeUInt32BE(entries.length);
    parts.push(count);
    for (const [name, value] of entries) {
      for (const text of [name.toLowerCase(), value]) {
        const bytes = Buffer.from(text, 'latin1');
        const length = Buffer.alloc(4);
        length.writeUInt32BE(bytes.length);
        parts.push(length, bytes);
      }
    }
    const chunks: Uint8Array[] = [];
    this.deflater.onData = (chunk) => chunks.push(chunk as Uint8Array);
    this.deflater.push(Buffer.concat(parts), pako.constants.Z_SYNC_FLUSH);
    return collect(chunks);
  }
}
