/**
 * One forwarded connection on a SPDY port-forward session: the pair of streams kubectl opens
 * (`error`, then `data`), seen as one Duplex. Its data stream half-closes both ways (a FIN is a
 * FIN, as in kubectl); a pod-side reset, which the kubelet reports on the error stream, is an
 * error, so the caller can be reset rather than shown a clean end.
 */
import { Duplex } from 'node:stream';

/** The buffer each stream reads into: frames carry up to 64 KiB, and a 16 KiB default would pause the session on every one. */
export const streamBufferBytes = 1024 * 1024;

/**
 * How long a pod-side end waits for the error stream's verdict (a reset says why there): the
 * kubelet writes it right after ending the data stream, so one that never comes is not coming.
 */
export const errorVerdictMs = 1_000;

/** What a stream needs of its session. */
export interface StreamCarrier {
  sendData(streamId: number, bytes: Buffer, fin: boolean, callback: (error?: Error | null) => void): void;
  resume(): void;
  forget(stream: SpdyStream, abandoned: boolean): void;
  /** Runs `work` after `ms` on the session's clock; returns what cancels it. */
  after(ms: number, work: () => void): () => void;
}

/**
 * The session a stream was on stopped answering or went away before the kubelet acknowledged the
 * stream, so the pod most likely never saw the connection: it may be opened again elsewhere.
 */
export class StreamNotTakenError extends Error {
  override name = 'StreamNotTakenError';
}

/** The kubelet said why the connection failed (a refused dial, a reset by the pod). */
export class PodStreamError extends Error {
  override name = 'PodStreamError';
}

export class SpdyStream extends Duplex {
  errorText = '';
  /** Streams of the pair the kubelet has not acknowledged yet. */
  unacknowledged = 2;
  /** Bytes the pod sent on this connection. */
  received = 0;
  /**
   * Something of the caller's went out on the data stream (bytes or its FIN): from then on the
   * pod may have it, so the connection must never be opened again elsewhere (a request could run
   * twice).
   */
  dataSent = false;
  /** Writes wait for the kubelet's acknowledgement (opened on a quiet session). */
  private gated: boolean;
  /**
   * The write held by the gate. A Writable hands `_write`/`_final` one at a time, each after the
   * last one's callback, so there is never more than one.
   */
  private heldWrite: (() => void) | undefined;
  /** The data stream's FIN came; the end is held until the error stream says whether it was a reset. */
  private dataFinished = false;
  private errorFinished = false;
  private heldEnd: (() => void) | undefined;

  constructor(
    private readonly carrier: StreamCarrier,
    readonly errorStreamId: number,
    readonly dataStreamId: number,
    /** Since when it waits for the kubelet's acknowledgement, on the session's clock. */
    public waitingSince: number,
    /** Hold the caller's bytes until the kubelet acknowledges the stream. */
    gate: boolean,
  ) {
    super({
      allowHalfOpen: true,
      readableHighWaterMark: streamBufferBytes,
      writableHighWaterMark: streamBufferBytes,
    });
    // Every caller listens for errors; this one only keeps an error that comes before the caller
    // has the stream (a session shut down in the same turn) from crashing the process.
    this.on('error', () => undefined);
    this.gated = gate;
  }

  get acknowledged(): boolean {
    return this.unacknowledged <= 0;
  }

  /** One stream of the pair was acknowledged; once both are, held writes go out. */
  acknowledge(): void {
    if (--this.unacknowledged > 0) return;
    this.gated = false;
    const held = this.heldWrite;
    this.heldWrite = undefined;
    held?.();
  }

  private send(chunk: Buffer, fin: boolean, callback: (error?: Error | null) => void): void {
    if (this.gated) {
      this.heldWrite = () => this.send(chunk, fin, callback);
      return;
    }
    this.dataSent = true;
    this.carrier.sendData(this.dataStreamId, chunk, fin, callback);
  }

  /** Bytes from the pod; false when the reader is behind. */
  deliver(payload: Buffer): boolean {
    this.received += payload.length;
    return this.push(payload);
  }

  /**
   * The pod's side ended. The kubelet ends the data stream first and then writes why on the
   * error stream, if the copy failed (a reset), before ending that too: the caller gets the end
   * only once the error stream has said it was clean, or after `errorVerdictMs` if it never says.
   */
  dataFin(): void {
    if (this.dataFinished) return;
    this.dataFinished = true;
    if (this.errorFinished) {
      this.push(null);
      return;
    }
    this.heldEnd = this.carrier.after(errorVerdictMs, () => this.releaseEnd());
  }

  errorData(payload: Buffer): void {
    this.errorText += payload.toString('utf8');
  }

  errorFin(): void {
    this.errorFinished = true;
    if (this.errorText) {
      this.destroy(new PodStreamError(this.errorText.trim()));
      return;
    }
    if (this.dataFinished) this.releaseEnd();
  }

  private releaseEnd(): void {
    this.heldEnd?.();
    this.heldEnd = undefined;
    if (!this.destroyed && !this.readableEnded) this.push(null);
  }

  override _read(): void {
    this.carrier.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.send(chunk, false, callback);
  }

  /** The caller half-closed: a FIN on the data stream, as kubectl sends one; reading goes on. */
  override _final(callback: (error?: Error | null) => void): void {
    this.send(Buffer.alloc(0), true, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.heldEnd?.();
    this.heldEnd = undefined;
    this.heldWrite = undefined;
    this.carrier.forget(this, !this.readableEnded || !this.writableFinished);
    callback(error);
  }
}
