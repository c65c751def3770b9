/**
 * A WAN link on loopback, for the benchmarks: a TCP proxy that holds every chunk it forwards for half
 * the round-trip time in each direction, keeping order, so that a connection through it sees
 * `RTT_MS` more latency and unchanged bandwidth. What a sender may have in flight stays bounded by
 * the two ends' windows, as on a real link: the proxy stops reading from a side while more than
 * MAX_QUEUED_BYTES of it wait. It cannot lose packets honestly (the kernel would retransmit under
 * it), so it does not pretend to.
 *   node delay-proxy.js TARGET_HOST:PORT RTT_MS READY_FILE   (writes {"port"} once listening)
 */
import { writeFile } from 'node:fs/promises';
import net from 'node:net';

const MAX_QUEUED_BYTES = 64 << 20;

/** Forwards `from` to `to`, each chunk `delayMs` after it arrived. */
function delayed(from: net.Socket, to: net.Socket, delayMs: number): void {
  const queue: { chunk: Buffer; due: number }[] = [];
  let queued = 0;
  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  const flush = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.due <= now) {
      const { chunk } = queue.shift()!;
      queued -= chunk.length;
      to.write(chunk);
    }
    // The far side reads slower than we forward: stop reading until it caught up.
    if (to.writableLength > MAX_QUEUED_BYTES) {
      from.pause();
      return void to.once('drain', flush);
    }
    if (queued <= MAX_QUEUED_BYTES && from.isPaused()) from.resume();
    if (queue.length > 0) timer = setTimeout(flush, Math.max(0, queue[0]!.due - performance.now()));
    else if (ended) to.end();
  };
  from.on('data', (chunk: Buffer) => {
    queue.push({ chunk, due: performance.now() + delayMs });
    queued += chunk.length;
    if (queued > MAX_QUEUED_BYTES) from.pause();
    timer ??= setTimeout(flush, delayMs);
  });
  from.on('end', () => {
    ended = true;
    timer ??= setTimeout(flush, 0);
  });
}

const [target, rttArg, readyFile] = process.argv.slice(2);
const colon = target!.lastIndexOf(':');
const [host, port] = [target!.slice(0, colon), Number(target!.slice(colon + 1))];
const half = Number(rttArg) / 2;
// Half-open both ways: an end is forwarded once what came before it has been, as TCP would. A
// socket that closed must not take the other with it while bytes for that one still wait here.
const server = net.createServer({ allowHalfOpen: true }, (client) => {
  const upstream = net.connect({ host, port, allowHalfOpen: true });
  for (const s of [client, upstream]) {
    s.setNoDelay(true);
    s.on('error', () => (client.destroy(), upstream.destroy()));
  }
  delayed(client, upstream, half);
  delayed(upstream, client, half);
});
server.listen(0, '127.0.0.1', () => void writeFile(readyFile!, JSON.stringify(server.address())));
process.on('SIGTERM', () => process.exit(0));
