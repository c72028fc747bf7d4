/**
 * Two connected in-memory duplex streams: what one writes, the other reads, and ending or
 * destroying one ends or closes the other, as the two ends of a socket would. A foreground
 * command asks its own instance over one; protocols are tested over it in milliseconds, with no
 * sockets and no cluster.
 */
import { Duplex } from 'node:stream';

class PairEnd extends Duplex {
  other: PairEnd | undefined;

  override _read(): void {
    // Pushed to by the other end's writes.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.other?.push(chunk);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.other?.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const other = this.other;
    this.other = undefined;
    if (other) {
      other.other = undefined;
      other.destroy();
    }
    callback(error);
  }
}

export function duplexPair(): [Duplex, Duplex] {
  const a = new PairEnd();
  const b = new PairEnd();
  a.other = b;
  b.other = a;
  return [a, b];
}
