import type { Checkpoint } from './checkpoint.js';
import type { BufferedUpdate } from './update-buffer.js';

/** An accepted update as the audit trail names it. */
export interface TrailUpdate {
  site: string;
  kind: string;
  round: number;
  attempt: number;
  sha256: string;
}

type Line = Record<string, unknown>;

/**
 * Under asynchronous aggregation, the training updates the trail records as accepted that the
 * checkpoint does not hold: the aggregator died after recording one and before it was durable (its
 * site was not told it was taken). A restarted aggregator records them as lost, so that the trail
 * says what the model is made of; a site that sends one again has it taken anew.
 */
export function lostUpdates(trail: string, checkpoint: Checkpoint | null): TrailUpdate[] {
  const held = new Set<string>();
  const updates = [
    ...(checkpoint?.history ?? []).flatMap((r) => r.sites as Partial<BufferedUpdate>[]),
    ...(checkpoint?.buffer?.updates ?? []),
    ...(checkpoint?.buffer?.next?.updates ?? []),
  ];
  for (const u of updates) if (u.trainedOn !== undefined) held.add(`${u.site}/${u.trainedOn + 1}`);
  const open = new Map<string, TrailUpdate>();
  for (const text of trail.split('\n')) {
    if (!text) continue;
    const e = JSON.parse(text) as Line;
    if (e.kind !== 'TRAIN' || (e.event !== 'update-accepted' && e.event !== 'update-lost')) continue;
    const update = { site: String(e.site), kind: 'TRAIN', round: Number(e.round), attempt: Number(e.attempt), sha256: String(e.sha256) };
    const key = `${update.site}/${update.round}/${update.sha256}`;
    if (e.event === 'update-lost') open.delete(key);
    else open.set(key, update);
  }
  return [...open.values()].filter((u) => !held.has(`${u.site}/${u.round}`));
}
