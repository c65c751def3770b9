import type { EventEmitter } from 'node:events';

/**
 * Resolves at the first of the named events (never rejects), then stops listening: the wait for a
 * stream to drain that also ends when the stream is gone ('close', 'error'), which a plain
 * once(stream, 'drain') would wait for in vain.
 */
export function firstEvent(emitter: EventEmitter, events: readonly string[]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      for (const e of events) emitter.off(e, done);
      resolve();
    };
    for (const e of events) emitter.on(e, done);
  });
}
