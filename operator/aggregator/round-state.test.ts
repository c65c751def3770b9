import { status } from '@grpc/grpc-js';
import { RoundState, type RoundRules } from './round-state.js';
import { Refusal } from './refusal.js';
import { selectSites } from './selection.js';

const SITES = ['a', 'b', 'c'];

function rules(overrides: Partial<RoundRules> = {}): RoundRules {
  return {
    sites: SITES,
    rounds: 2,
    minSites: 2,
    deadlineMs: 60_000,
    heartbeatTimeoutMs: 10_000,
    maxRoundRetries: 1,
    statistics: false,
    select: () => SITES,
    ...overrides,
  };
}

/** Sends a whole update from each site at time `now`. */
function report(state: RoundState, sites: string[], now: number): void {
  const { phase, round, attempt } = state.position;
  for (const site of sites) {
    state.admit(site, phase, round, attempt, now);
    state.accept(site, now);
  }
}

function refusalOf(fn: () => void): Refusal {
  try {
    fn();
  } catch (err) {
    if (err instanceof Refusal) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('RoundState', () => {
  it('runs initialization, statistics, every round and the final evaluation to a successful end', () => {
    const state = new RoundState(rules({ statistics: true }), { phase: 'INITIALIZE', round: 0 }, 0);
    // Every site is asked for the initial model; the phase closes once minSites sent the same one.
    for (const site of SITES) expect(state.nextStep(site, 0)).toEqual({ kind: 'INITIALIZE', round: 0, attempt: 0, deadline: 60_000 });
    expect(state.nextStep('b', 2).kind).toBe('INITIALIZE'); // asking again gives the same task
    state.admit('b', 'INITIALIZE', 0, 0, 3);
    state.accept('b', 3, 'model-1');
    state.admit('a', 'INITIALIZE', 0, 0, 3);
    state.accept('a', 3, 'model-2');
    expect(state.tick(4)).toBeNull();
    state.admit('c', 'INITIALIZE', 0, 0, 4);
    state.accept('c', 4, 'model-1');
    expect(state.tick(4)).toMatchObject({ kind: 'close', phase: 'INITIALIZE', participants: ['b', 'c'] });
    expect(state.advance(5)).toEqual({ phase: 'STATISTICS', round: 0 });

    for (const site of SITES) expect(state.nextStep(site, 6).kind).toBe('STATISTICS');
    report(state, SITES, 7);
    expect(state.tick(8)).toMatchObject({ kind: 'close', phase: 'STATISTICS' });
    expect(state.advance(9)).toEqual({ phase: 'TRAIN', round: 1 });

    expect(state.nextStep('c', 10)).toMatchObject({ kind: 'TRAIN', round: 1, attempt: 0, deadline: 60_009 });
    report(state, ['a', 'b'], 11);
    expect(state.tick(12)).toBeNull(); // c is still expected and the deadline is far
    expect(state.nextStep('a', 12)).toEqual({ kind: 'WAIT' });
    report(state, ['c'], 13);
    expect(state.tick(14)).toMatchObject({ kind: 'close', phase: 'TRAIN', round: 1, participants: ['a', 'b', 'c'] });
    expect(state.nextStep('a', 14)).toEqual({ kind: 'WAIT' }); // closing: nothing until advance()
    expect(state.advance(15)).toEqual({ phase: 'TRAIN', round: 2 });
    report(state, SITES, 16);
    state.tick(17);
    expect(state.advance(18)).toEqual({ phase: 'EVALUATE', round: 2 });
    expect(state.nextStep('b', 19)).toMatchObject({ kind: 'EVALUATE', round: 2 });
    report(state, SITES, 20);
    state.tick(21);
    expect(state.advance(22)).toEqual({ phase: 'DONE', round: 2 });
    expect(state.nextStep('a', 23)).toEqual({ kind: 'DONE', succeeded: true, message: 'trained 2 rounds and evaluated the final model' });
  });

  it('adopts an initial model without waiting for a site that fell silent', () => {
    const state = new RoundState(rules(), { phase: 'INITIALIZE', round: 0 }, 0);
    for (const site of ['a', 'b']) {
      state.admit(site, 'INITIALIZE', 0, 0, 1_000);
      state.accept(site, 1_000, 'same');
    }
    state.seen('c', 1_000); // c took the task and went quiet
    expect(state.tick(1_001)).toMatchObject({ kind: 'close', phase: 'INITIALIZE', participants: ['a', 'b'] });
  });

  it('closes at the deadline with the quorum when a selected site has not reported', () => {
    const state = new RoundState(rules({ heartbeatTimeoutMs: 59_000 }), { phase: 'TRAIN', round: 1 }, 0);
    report(state, ['a', 'c'], 1_000);
    state.seen('b', 30_000);
    expect(state.tick(59_999)).toBeNull();
    expect(state.tick(60_000)).toMatchObject({ kind: 'close', round: 1, participants: ['a', 'c'] });
  });

  it('drops a selected site silent longer than the heartbeat timeout, then refuses its update', () => {
    const state = new RoundState(rules(), { phase: 'TRAIN', round: 1 }, 0);
    report(state, ['a', 'b'], 1_000);
    state.seen('c', 2_000);
    expect(state.tick(12_000)).toBeNull(); // c was seen 10s ago: not yet silent for longer than 10s
    expect(state.isOpenFor('c', 1)).toBe(true);
    expect(state.tick(12_001)).toMatchObject({ kind: 'close', participants: ['a', 'b'] });
    expect(state.isOpenFor('c', 1)).toBe(false);
  });

  it('does not drop a site whose update is arriving', () => {
    const state = new RoundState(rules({ minSites: 3 }), { phase: 'TRAIN', round: 1 }, 0);
    report(state, ['a', 'b'], 0);
    state.admit('c', 'TRAIN', 1, 0, 0);
    expect(state.tick(30_000)).toBeNull();
    state.accept('c', 30_001);
    expect(state.tick(30_002)).toMatchObject({ kind: 'close', participants: ['a', 'b', 'c'] });
  });

  it('retries a round below quorum with a fresh selection, then fails the job saying why', () => {
    const select = (round: number, attempt: number) => selectSites(SITES, 2, 7, round, attempt);
    const state = new RoundState(rules({ select, heartbeatTimeoutMs: 120_000 }), { phase: 'TRAIN', round: 3 }, 0);
    const first = state.selected;
    expect(first).toHaveLength(2);
    report(state, [first[0]!], 100);
    const retry = state.tick(60_000);
    expect(retry).toMatchObject({ kind: 'retry', round: 3, attempt: 1 });
    expect(state.selected).toEqual(select(3, 1));
    expect(refusalOf(() => state.admit(first[0]!, 'TRAIN', 3, 0, 60_001)).reason).toBe('stale_round');
    const second = state.selected;
    report(state, [second[0]!], 60_002);
    const fail = state.tick(120_000);
    expect(fail).toEqual({
      kind: 'fail',
      reason: `round 3 missed its quorum: 1 of 2 required sites reported within 60s (asked: ${second.join(', ')}), 1 retry exhausted`,
    });
    // Nobody hears of the failure before the runtime has written it down and finished the job.
    expect(state.nextStep('a', 120_001)).toEqual({ kind: 'WAIT' });
    expect(state.tick(120_002)).toBeNull();
    state.finish(false, fail?.kind === 'fail' ? fail.reason : '');
    expect(state.nextStep('a', 120_003)).toMatchObject({ kind: 'DONE', succeeded: false });
  });

  it('retries at once when every selected site fell silent', () => {
    const state = new RoundState(rules({ maxRoundRetries: 0 }), { phase: 'TRAIN', round: 1 }, 0);
    const fail = state.tick(10_001);
    expect(fail).toMatchObject({ kind: 'fail' });
    expect(fail?.kind === 'fail' && fail.reason).toContain('silent for over 10s: a, b, c');
  });

  it('refuses duplicates, stale rounds, other phases and unselected sites with their status codes', () => {
    const state = new RoundState(rules({ select: () => ['a', 'b'] }), { phase: 'TRAIN', round: 2 }, 0);
    report(state, ['a'], 0);
    const duplicate = refusalOf(() => state.admit('a', 'TRAIN', 2, 0, 1));
    expect([duplicate.reason, duplicate.code]).toEqual(['duplicate', status.ALREADY_EXISTS]);
    state.admit('b', 'TRAIN', 2, 0, 1);
    expect(refusalOf(() => state.admit('b', 'TRAIN', 2, 0, 2)).code).toBe(status.ALREADY_EXISTS);
    state.release('b');
    const stale = refusalOf(() => state.admit('b', 'TRAIN', 1, 0, 3));
    expect([stale.reason, stale.code]).toEqual(['stale_round', status.FAILED_PRECONDITION]);
    const unselected = refusalOf(() => state.admit('c', 'TRAIN', 2, 0, 3));
    expect([unselected.reason, unselected.code]).toEqual(['not_selected', status.FAILED_PRECONDITION]);
    expect(unselected.message).toBe('site c is not selected for round 2; ask NextTask for work');
    const phase = refusalOf(() => state.admit('b', 'EVALUATE', 2, 0, 3));
    expect([phase.reason, phase.code]).toEqual(['wrong_phase', status.FAILED_PRECONDITION]);
    expect(state.nextStep('c', 4)).toEqual({ kind: 'WAIT' });
  });

  it('refuses an update that completes after its round closed', () => {
    const state = new RoundState(rules({ minSites: 1 }), { phase: 'TRAIN', round: 1 }, 0);
    report(state, ['a'], 0);
    state.admit('b', 'TRAIN', 1, 0, 1);
    expect(state.tick(60_000)).toMatchObject({ kind: 'close', participants: ['a'] });
    expect(refusalOf(() => state.accept('b', 60_001)).reason).toBe('stale_round');
  });
});

describe('selectSites', () => {
  it('draws sitesPerRound sites reproducibly from the seed, round and attempt', () => {
    const sites = ['s1', 's2', 's3', 's4', 's5', 's6'];
    const draw = selectSites(sites, 3, 42, 5, 0);
    expect(draw).toHaveLength(3);
    expect(selectSites(sites, 3, 42, 5, 0)).toEqual(draw);
    const draws = new Set([0, 1, 2, 3, 4, 5, 6, 7].map((round) => selectSites(sites, 3, 42, round, 0).join()));
    expect(draws.size).toBeGreaterThan(1);
    expect(selectSites(sites, undefined, 42, 5, 0)).toEqual(sites);
  });
  it('awaits the sites that have not sent their update, dropped ones included, and none once the job ended', () => {
    const state = new RoundState(rules({ minSites: 3, maxRoundRetries: 0 }), { phase: 'TRAIN', round: 1 }, 0);
    expect(state.deadlineAt).toBe(60_000);
    expect(state.awaited).toEqual(['a', 'b', 'c']);
    report(state, ['a'], 1_000);
    expect(state.lastSeenAt('a')).toBe(1_000);
    expect(state.lastSeenAt('c')).toBeUndefined();
    expect(state.awaited).toEqual(['b', 'c']);
    state.seen('b', 5_000);
    // c is silent past the heartbeat timeout: dropped, still awaited; the round cannot reach its quorum.
    expect(state.tick(12_000)).toBeNull();
    expect(state.awaited).toEqual(['b', 'c']);
    const failed = state.tick(16_000);
    expect(failed).toMatchObject({ kind: 'fail' });
    // Held until the runtime has written the failure down, then finished.
    state.finish(false, (failed as { reason: string }).reason);
    expect([state.awaited, state.deadlineAt]).toEqual([[], undefined]);
  });

  it('settles a round whose updates arrived together: the sum’s sites report, the dropped are named in a retry', () => {
    const state = new RoundState(rules({ minSites: 2 }), { phase: 'TRAIN', round: 1 }, 0);
    // A site counted dropped mid-round gets no more work and cannot send.
    state.settle([], ['c'], 'secure aggregation counted c dropped', 1);
    expect(state.nextStep('c', 2)).toEqual({ kind: 'WAIT' });
    expect(refusalOf(() => state.admit('c', 'TRAIN', 1, 0, 2)).reason).toBe('not_selected');
    expect(state.tick(2)).toBeNull();
    // The sum's sites report at once, even one the heartbeats had dropped meanwhile; the round closes on them.
    state.settle(['a', 'b'], [], '', 3);
    expect(state.tick(3)).toMatchObject({ kind: 'close', phase: 'TRAIN', participants: ['a', 'b'] });

    const failing = new RoundState(rules({ minSites: 2 }), { phase: 'TRAIN', round: 1 }, 0);
    failing.settle([], SITES, 'secure aggregation failed at stage share: too few', 1);
    const retry = failing.tick(1);
    expect(retry).toMatchObject({ kind: 'retry', attempt: 1 });
    // Named for why they were dropped, not as silent.
    expect(retry?.kind === 'retry' && retry.reason).toMatch(/0 of 2 required sites reported .*; secure aggregation failed at stage share: too few\)$/);
    expect(retry?.kind === 'retry' && retry.reason).not.toContain('silent');
  });
});
