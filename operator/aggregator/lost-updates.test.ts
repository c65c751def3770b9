import { crossCheck } from '../audit/cross-check.js';
import type { Checkpoint } from './checkpoint.js';
import { lostUpdates } from './lost-updates.js';

const line = (event: string, site: string, round: number, sha256: string, kind = 'TRAIN') => JSON.stringify({ event, site, kind, round, attempt: 0, sha256 });

describe('lostUpdates', () => {
  const checkpoint = {
    history: [{ sites: [{ site: 'a', trainedOn: 0 }, { site: 'b', trainedOn: 0 }] }],
    buffer: { updates: [{ site: 'a', trainedOn: 1 }], next: { updates: [] } },
  } as unknown as Checkpoint;

  it('names the accepted training updates the checkpoint does not hold, once', () => {
    const trail = [
      line('update-accepted', 'a', 0, 'i', 'INITIALIZE'),
      line('update-accepted', 'a', 1, 'x1'),
      line('update-accepted', 'b', 1, 'y1'),
      line('update-accepted', 'a', 2, 'x2'),
      line('update-accepted', 'b', 2, 'y2'),
      line('update-accepted', 'c', 1, 'z1'),
      line('update-lost', 'c', 1, 'z1'),
    ].join('\n');
    // b's update for version 2 was recorded and then lost; c's was lost before and is recorded so.
    expect(lostUpdates(trail, checkpoint)).toEqual([{ site: 'b', kind: 'TRAIN', round: 2, attempt: 0, sha256: 'y2' }]);
    expect(lostUpdates(trail, null).map((u) => `${u.site}/${u.round}`)).toEqual(['a/1', 'b/1', 'a/2', 'b/2']);
  });

  it('makes the cross-check count a lost update as not accepted, and one taken again after as accepted', () => {
    const site = [line('update-accepted', 'b', 3, 'y3')].join('\n');
    const lostThenNothing = [line('update-accepted', 'b', 2, 'y2'), line('update-lost', 'b', 2, 'y2'), line('update-accepted', 'b', 3, 'y3')].join('\n');
    expect(crossCheck(lostThenNothing, site, 'b')).toMatchObject({ matched: 1, missingFromJob: [], missingFromSite: [] });
    const takenAgain = [line('update-accepted', 'b', 2, 'y2'), line('update-lost', 'b', 2, 'y2'), line('update-accepted', 'b', 2, 'y2')].join('\n');
    expect(crossCheck(takenAgain, line('update-accepted', 'b', 2, 'y2'), 'b')).toMatchObject({ matched: 1, missingFromSite: [] });
  });
});
