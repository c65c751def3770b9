/**
 * node --expose-gc dist/bench/secagg-memory.js SITES COORDINATES
 *
 * The aggregator's memory through the collect stage of a secure-aggregation round: the growth of
 * Node's ArrayBuffer memory (garbage collected first) between the end of the share stage and the
 * moment every site's masked update has been folded in (64 KiB chunks), printed as JSON. Folded
 * chunk by chunk, it stays near one chunk; holding the updates would grow by SITES vectors.
 */
import { ServerRound } from '../operator/secagg/server-round.js';
import { benchParams, benchSites } from './secagg-sites.js';

const exposed = (globalThis as { gc?: () => void }).gc;
if (!exposed) throw new Error('run with node --expose-gc');
/** A full collection; ArrayBuffers' memory is given back after a turn of the event loop. */
const gc = async () => {
  exposed();
  await new Promise((resolve) => setTimeout(resolve, 10));
  exposed();
};
const [n = 8, length = 1 << 20] = process.argv.slice(2).map(Number);
const k = Math.min(4, n - 1);
const params = benchParams(n, k, Math.floor(k / 2) + 1, length);
const { sites, caPem } = await benchSites(n, params);
const server = new ServerRound(params, sites.map((s) => s.site), caPem);
for (const s of sites) server.receiveAdvertisement(s.site, s.advertise());
server.closeAdvertise();
for (const s of sites) server.receiveShares(s.site, s.shareKeys(server.directoryFor(s.site)));
server.closeShare();
const update = Float32Array.from({ length }, (_, i) => Math.sin(i));
await gc();
const before = process.memoryUsage().arrayBuffers;
let peak = 0;
for (const s of sites) {
  const upload = server.beginMaskedInput(s.site);
  for (const chunk of s.maskedInput(server.envelopesFor(s.site), update, 1 << 14)) upload.fold(chunk);
  upload.finish();
  await gc();
  peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
}
const request = server.closeCollect();
for (const s of sites) server.receiveUnmask(s.site, s.unmask(request));
const result = server.closeUnmask();
const error = result.sum.reduce((worst, v, i) => Math.max(worst, Math.abs(v - n * update[i]!)), 0);
console.log(JSON.stringify({ sites: n, vectorBytes: length * 4, growthBytes: peak, maxError: error }));
