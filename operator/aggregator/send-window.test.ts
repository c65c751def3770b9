import { Writable } from 'node:stream';
import { SendWindow } from './send-window.js';

/** An object stream that completes each write only when told to, like a socket that is slow to drain. */
function slowStream() {
  const callbacks: (() => void)[] = [];
  const stream = new Writable({ objectMode: true, write: (_message, _encoding, done) => callbacks.push(() => done()) });
  return { stream, callbacks };
}

describe('SendWindow', () => {
  it('keeps at most `limit` messages between write() and their callback', async () => {
    const { stream, callbacks } = slowStream();
    const window = new SendWindow(stream, 2);
    await window.write('a');
    let second = false;
    const writing = window.write('b').then(() => (second = true));
    await new Promise((r) => setImmediate(r));
    // 'b' is held until 'a' is sent: two in flight, the third must wait.
    expect(second).toBe(false);
    expect(stream.writableLength).toBe(2);
    callbacks.shift()!();
    await writing;
    expect(second).toBe(true);
  });

  it('stops waiting when the stream is gone, whose callbacks may never come', async () => {
    const { stream } = slowStream();
    const window = new SendWindow(stream, 1);
    const writing = window.write('a');
    stream.destroy();
    await expect(writing).resolves.toBeUndefined();
  });
});
