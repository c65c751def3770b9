import { describe, expect, test } from '@jest/globals';
import { AggregatorMetrics } from './metrics.js';

const settings = { job: 'heart', namespace: 'research', sites: ['a', 'b'], rounds: 3, heartbeatTimeoutMs: 10_000 };

describe("the aggregator's collect-time gauges", () => {
  test('the deadline is exported while a phase is in progress and absent once the job ended (not 0, which reads as long past)', async () => {
    const metrics = new AggregatorMetrics(settings);
    let deadline: number | undefined = 1_700_000_020_000;
    metrics.watch({ deadline: () => deadline, awaited: () => (deadline ? ['b'] : []), lastSeen: () => undefined });
    const lines = async () => (await metrics.registry.metrics()).split('\n').filter((l) => /^flotilla_(round_deadline_timestamp_seconds|site_awaited)\{/.test(l));
    expect(await lines()).toEqual([
      'flotilla_round_deadline_timestamp_seconds{namespace="research",federatedjob="heart"} 1700000020',
      'flotilla_site_awaited{site="a",namespace="research",federatedjob="heart"} 0',
      'flotilla_site_awaited{site="b",namespace="research",federatedjob="heart"} 1',
    ]);
    deadline = undefined;
    expect(await lines()).toEqual([
      'flotilla_site_awaited{site="a",namespace="research",federatedjob="heart"} 0',
      'flotilla_site_awaited{site="b",namespace="research",federatedjob="heart"} 0',
    ]);
  });
});
