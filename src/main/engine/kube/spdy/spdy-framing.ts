/**
 * The SPDY/3.1 subset Kubernetes port-forward uses, for both ends (the engine's client and the
 * test cluster's kubelet; kubectl checks the latter independently): frame parsing from an arbitrary byte stream,
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

/**
 * Splits a byte stream into frames, whatever the chunk boundaries. Chunks are kept as they came
 * and joined once per frame, so a large frame arriving in many TLS records is copied once.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  private take(count: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length >= count) {
      const taken = first.subarray(0, count);
      if (first.length === count) this.chunks.shift();
      else this.chunks[0] = first.subarray(count);
      this.buffered -= count;
      return taken;
    }
    const out = Buffer.allocUnsafe(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.chunks[0];
      if (!chunk) break;
      const used = Math.min(chunk.length, count - filled);
      chunk.copy(out, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    this.buffered -= count;
    return out;
  }

  private peekHeader(): Buffer {
    const first = this.chunks[0];
    if (first && first.length >= 8) return first.subarray(0, 8);
    const header = this.take(8);
    this.chunks.unshift(header);
    this.buffered += 8;
    return header;
  }

  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Frame[] = [];
    while (this.buffered >= 8) {
      const header = this.peekHeader();
      const length = header.readUIntBE(5, 3);
      if (this.buffered < 8 + length) break;
      const flags = header[4] ?? 0;
      const first = header.readUInt32BE(0);
      this.take(8);
      const payload = length > 0 ? this.take(length) : Buffer.alloc(0);
      if (first & 0x80000000) frames.push({ control: true, type: first & 0xffff, flags, payload });
      else frames.push({ control: false, streamId: first & 0x7fffffff, flags, payload });
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

/** A PING with our `id` (odd, as the side that opened the session). */
export function pingFrame(id: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(id);
  return controlFrame(frameTypes.ping, 0, payload);
}

/** RST_STREAM status CANCEL: we no longer want the stream. */
const cancel = 5;

/** Tells the other end we no longer want stream `streamId`. */
export function cancelStreamFrame(streamId: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(streamId & 0x7fffffff, 0);
  payload.writeUInt32BE(cancel, 4);
  return controlFrame(frameTypes.rstStream, 0, payload);
}

export function dataFrameHeader(streamId: number, flags: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(8);
  header.writeUInt32BE(streamId & 0x7fffffff, 0);
  header.writeUInt8(flags, 4);
  header.writeUIntBE(length, 5, 3);
  return header;
}

export function dataFrame(streamId: number, flags: number, payload: Buffer): Buffer {
  return Buffer.concat([dataFrameHeader(streamId, flags, payload.length), payload]);
}

function collect(chunks: Uint8Array[]): Buffer {
  return Buffer.concat(chunks.map((c) => Buffer.from(c)));
}

export function synStreamPayload(streamId: number, headerBlock: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt32BE(streamId & 0x7fffffff, 0);
  fixed.writeUInt32BE(0, 4);
  return Buffer.concat([fixed, headerBlock]);
}

/** Header blocks: one continuous inflate context for what the peer sends, one deflate for ours. */
const headerChunkBytes = 1024;

export class HeaderCodec {
  // pako allocates a fresh output chunk after every sync flush: 64 KiB (inflate) and 16 KiB
  // (deflate) by default, 160 KiB of garbage per connection for blocks of ~60 bytes, which
  // made young-generation GC the main cause of slow new connections at p99. 1 KiB chunks fit
  // a header block (a larger one spans several).
  private readonly inflater = new pako.Inflate({ dictionary, chunkSize: headerChunkBytes });
  private readonly deflater = new pako.Deflate({ dictionary, chunkSize: headerChunkBytes });

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
