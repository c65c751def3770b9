/**
 * npm run bench:secagg [sites] [neighbours] [threshold] [coordinates]
 *
 * What secure aggregation costs, in process (no network): one round of SecAgg+ among `sites` sites
 * with a real job PKI, timed per stage, for one site and for the aggregator, with the bytes one site
 * sends and one dropout after the share stage (so the aggregator also rebuilds a mask key).
 */
import { ServerRound } from '../operator/secagg/server-round.js';
import { benchParams, benchSites } from './secagg-sites.js';

const [n = 10, k = 6, t = 4, length = 1 << 20] = process.argv.slice(2).map(Number);
const params = benchParams(n, k, t, length);
const { sites, caPem } = await benchSites(n, params);
const server = new ServerRound(params, sites.map((s) => s.site), caPem);
const update = Float32Array.from({ length }, () => Math.random() - 0.5);
const siteMs: Record<string, number> = {};
const serverMs: Record<string, number> = {};
const time = <T>(into: Record<string, number>, stage: string, f: () => T): T => {
  const start = performance.now();
  const out = f();
  into[stage] = (into[stage] ?? 0) + performance.now() - start;
  return out;
};
let sentBytes = 0;
const dropped = sites.at(-1)!;
const first = sites[0]!;

for (const s of sites) {
  const ad = s === first ? time(siteMs, 'advertise', () => s.advertise()) : s.advertise();
  if (s === first) sentBytes += ad.maskKey.length + ad.envelopeKey.length + ad.signature.length + ad.certPem.length;
  time(serverMs, 'advertise', () => server.receiveAdvertisement(s.site, ad));
}
time(serverMs, 'advertise', () => server.closeAdvertise());
for (const s of sites) {
  const directory = server.directoryFor(s.site);
  const envelopes = s === first ? time(siteMs, 'share', () => s.shareKeys(directory)) : s.shareKeys(directory);
  if (s === first) sentBytes += envelopes.reduce((sum, e) => sum + e.envelope.length, 0);
  time(serverMs, 'share', () => server.receiveShares(s.site, envelopes));
}
time(serverMs, 'share', () => server.closeShare());
const heapBefore = process.memoryUsage().rss;
for (const s of sites.filter((x) => x !== dropped)) {
  const upload = server.beginMaskedInput(s.site);
  const chunks = s.maskedInput(server.envelopesFor(s.site), update);
  for (;;) {
    const next = s === first ? time(siteMs, 'collect', () => chunks.next()) : chunks.next();
    if (next.done) break;
    if (s === first) sentBytes += next.value.byteLength;
    time(serverMs, 'collect', () => upload.fold(next.value));
  }
  upload.finish();
}
const request = time(serverMs, 'collect', () => server.closeCollect());
for (const s of sites.filter((x) => x !== dropped)) {
  const answer = s === first ? time(siteMs, 'unmask', () => s.unmask(request)) : s.unmask(request);
  time(serverMs, 'unmask', () => server.receiveUnmask(s.site, answer));
}
const result = time(serverMs, 'unmask', () => server.closeUnmask());
const rssGrowth = process.memoryUsage().rss - heapBefore;

const fmt = (o: Record<string, number>) => Object.entries(o).map(([stage, ms]) => `${stage} ${ms.toFixed(0)} ms`).join(', ');
console.log(`${n} sites, ${k} neighbours, threshold ${t}, ${length} coordinates (${(length * 4) / 2 ** 20} MiB of words); one site dropped after sharing`);
console.log(`one site:   ${fmt(siteMs)}; sent ${(sentBytes / 2 ** 20).toFixed(2)} MiB (${((sentBytes - length * 4) / 1024).toFixed(1)} KiB beyond the masked vector)`);
console.log(`aggregator: ${fmt(serverMs)}; sum of ${result.sites.length} sites; RSS grew ${(rssGrowth / 2 ** 20).toFixed(0)} MiB from the collect stage on`);
