import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';

/**
 * The floor the data plane is held against: the same bytes over raw Node TLS sockets with the same
 * certificates and the same process layout (one server, N client processes), no gRPC. Each client
 * downloads `bytes` then uploads `bytes`, as a site fetches the global model and sends its update,
 * and prints how long each took.
 *   server: node tls-floor.js server TLS_DIR BYTES CLIENTS READY_FILE   (prints seconds when all are done)
 *   client: node tls-floor.js client TLS_DIR BYTES HOST:PORT
 */
const [role, tlsDir, bytesArg, arg4, arg5] = process.argv.slice(2);
const bytes = Number(bytesArg);
const read = (name: string) => readFile(path.join(tlsDir!, name));
const piece = Buffer.alloc(1 << 20, 7);

async function send(socket: tls.TLSSocket, total: number): Promise<void> {
  for (let sent = 0; sent < total; sent += piece.length) {
    if (!socket.write(total - sent >= piece.length ? piece : piece.subarray(0, total - sent))) await once(socket, 'drain');
  }
}

function receive(socket: tls.TLSSocket, total: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (chunk: Buffer) => {
      got += chunk.length;
      if (got >= total) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

if (role === 'server') {
  const clients = Number(arg4);
  let started = 0;
  let finished = 0;
  const server = tls.createServer({ key: await read('tls.key'), cert: await read('tls.crt'), ca: await read('ca.crt'), requestCert: true, rejectUnauthorized: true }, (socket) => {
    if (started === 0) started = performance.now();
    void (async () => {
      await send(socket, bytes);
      await receive(socket, bytes);
      socket.end();
      if (++finished === clients) {
        process.stdout.write(`${(performance.now() - started) / 1000}\n`);
        server.close();
      }
    })();
  });
  server.listen(0, '127.0.0.1', () => void writeFile(arg5!, JSON.stringify(server.address())));
} else {
  const [host, port] = arg4!.split(':');
  const socket = tls.connect({ host, port: Number(port), key: await read('tls.key'), cert: await read('tls.crt'), ca: await read('ca.crt'), servername: 'localhost' });
  await once(socket, 'secureConnect');
  const t0 = performance.now();
  await receive(socket, bytes);
  const t1 = performance.now();
  await send(socket, bytes);
  // The server ends the connection once it has every byte: the upload is done when the site hears so.
  await once(socket, 'end');
  const t2 = performance.now();
  socket.destroy();
  process.stdout.write(`${JSON.stringify({ downloadSeconds: (t1 - t0) / 1000, uploadSeconds: (t2 - t1) / 1000 })}\n`);
}
