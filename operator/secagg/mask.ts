/**
 * Masks: a 32-byte secret expanded into as many uniform 32-bit words as the vector has, by
 * AES-256-CTR over zeros (the keystream). The AES key is HKDF-SHA256 of the secret, salted with the
 * round's context and labelled with what the mask is for, so a secret never keys two streams.
 * Words are produced chunk by chunk: neither side holds a whole mask.
 */
import { createCipheriv, hkdfSync, type Cipheriv } from 'node:crypto';
import { contextBytes, type RoundContext } from './params.js';

export type MaskLabel = 'self mask' | 'pairwise mask';

export function maskKey(secret: Buffer, context: RoundContext, label: MaskLabel): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, contextBytes(context), `flotilla secagg ${label}`, 32));
}

/** The words of one mask, in order. */
export class MaskStream {
  private readonly cipher: Cipheriv;

  constructor(key: Buffer) {
    // A zero IV is safe: every key is fresh for one round and one purpose (maskKey).
    this.cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  }

  /** The next `count` words. */
  next(count: number): Uint32Array {
    const bytes = this.cipher.update(Buffer.alloc(count * 4));
    return new Uint32Array(bytes.buffer, bytes.byteOffset, count).slice();
  }
}

/** target += words (mod 2^32), word by word. */
export function addInto(target: Uint32Array, words: Uint32Array, at = 0): void {
  for (let i = 0; i < words.length; i++) target[at + i] = (target[at + i]! + words[i]!) >>> 0;
}

/** target -= words (mod 2^32), word by word. */
export function subtractInto(target: Uint32Array, words: Uint32Array, at = 0): void {
  for (let i = 0; i < words.length; i++) target[at + i] = (target[at + i]! - words[i]!) >>> 0;
}
