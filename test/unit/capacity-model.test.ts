import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ASSUMPTIONS,
  sizeFleet,
  sizingTable,
  type Assumptions,
  type MeasuredFigures,
} from '../../bench/capacity-model.js';

const figures: MeasuredFigures = {
  label: 'test',
  roomUsPerChunk: 20,
  workerUsPerChunk: 50,
  redisUsPerChunk: 5,
  roomUsPerStart: 300,
  workerUsPerStart: 1000,
  redisUsPerStart: 300,
  queueRedisUsPerJob: 250,
  measuredStartsPerSecond: 800,
};

// Round numbers: 1 chunk/s and 0.1 run starts/s per session, processes planned at half a core.
const assumptions: Assumptions = {
  tokensPerSecondSpeaking: 2,
  speakingShare: 0.5,
  turnsPerMinute: 6,
  chunksPerToken: 1,
  nodeUtilization: 0.5,
  redisUtilization: 0.5,
};

describe('capacity model', () => {
  it('turns sessions into chunk and run-start rates', () => {
    const row = sizeFleet(10_000, figures, assumptions);
    expect(row.chunksPerSecond).toBe(10_000);
    expect(row.startsPerSecond).toBe(1_000);
  });

  it('sizes workers, rooms and Redis from the CPU figures', () => {
    const row = sizeFleet(10_000, figures, assumptions);
    // worker: 10,000 × 50 µs + 1,000 × 1,000 µs = 1.5 cores, at 0.5 → 3
    expect(row.workerCores).toBe(3);
    // room: 10,000 × 20 µs + 1,000 × 300 µs = 0.5 core, at 0.5 → 1
    expect(row.roomProcesses).toBe(1);
    // Redis: 10,000 × 5 µs + 1,000 × 300 µs = 0.35 core, at 0.5 → 1
    expect(row.redisPrimaries).toBe(1);
    // one queue: 1e6 / 250 µs (BullMQ alone) × 0.5 = 2,000 starts/s ≥ 1,000
    expect(row.startsPerQueue).toBe(2_000);
    expect(row.queueShards).toBe(1);
  });

  it('shards the queue once one queue slot is the ceiling, with a primary per shard', () => {
    const row = sizeFleet(100_000, figures, assumptions);
    expect(row.startsPerSecond).toBe(10_000);
    expect(row.queueShards).toBe(5);
    // Redis CPU: 100,000 × 5 + 10,000 × 300 = 3.5 cores, at 0.5 → 7 primaries (≥ 5 shards)
    expect(row.redisPrimaries).toBe(7);
    const cheapQueue = sizeFleet(100_000, { ...figures, queueRedisUsPerJob: 10 }, assumptions);
    expect(cheapQueue.queueShards).toBe(1);
    expect(cheapQueue.redisPrimaries).toBe(7);
    // More shards than CPU asks for primaries: a primary per shard.
    const busyQueue = sizeFleet(100_000, { ...figures, queueRedisUsPerJob: 1000 }, assumptions);
    expect(busyQueue.queueShards).toBe(20);
    expect(busyQueue.redisPrimaries).toBe(20);
  });

  it('names the figure each resource rests on', () => {
    const row = sizeFleet(10_000, figures, assumptions);
    expect(row.restsOn).toContain('worker 1,000 µs/start (67 %)');
    expect(row.restsOn).toContain('room 300 µs/start (60 %)');
    expect(row.restsOn).toContain('queue 1,000 of 2,000 starts/s (BullMQ 250 Redis µs/job)');
    expect(sizeFleet(100_000, figures, assumptions).restsOn).toContain(
      "queue's slot is the ceiling: 10,000 starts/s over 2,000 per queue",
    );
  });

  it('prints one row per size and rejects nonsense', () => {
    const { headers, rows } = sizingTable(figures, DEFAULT_ASSUMPTIONS);
    expect(rows.map((r) => r[0])).toEqual([1_000, 10_000, 100_000]);
    expect(headers).toHaveLength(rows[0]!.length);
    expect(() => sizeFleet(1_000, { ...figures, queueRedisUsPerJob: 0 })).toThrow(
      /figures\.queueRedisUsPerJob: expected a positive/,
    );
    expect(() => sizeFleet(1_000, figures, { ...assumptions, speakingShare: 1.5 })).toThrow(
      /assumptions\.speakingShare: expected a share/,
    );
  });
});
