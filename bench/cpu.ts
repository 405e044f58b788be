/** CPU time of the three processes involved (this one, the worker, Redis), to see what a load costs where. */
import { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { REDIS_URL } from './env.js';

export interface CpuSnapshot {
  at: number;
  /** CPU seconds (user + system) so far. */
  room: number;
  worker: number;
  redis: number;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function processCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

export async function cpuSnapshot(workerPid: number): Promise<CpuSnapshot> {
  const redis = new Redis(REDIS_URL);
  const info = await redis.info('cpu').finally(() => redis.disconnect());
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
  const own = process.cpuUsage();
  return {
    at: performance.now(),
    room: (own.user + own.system) / 1e6,
    worker: processCpu(workerPid),
    redis: field('used_cpu_user') + field('used_cpu_sys'),
  };
}

export interface CpuUse {
  /** Wall-clock seconds of the interval. */
  seconds: number;
  /** CPU seconds each process used in it. */
  room: number;
  worker: number;
  redis: number;
}

export function cpuUse(a: CpuSnapshot, b: CpuSnapshot): CpuUse {
  return {
    seconds: (b.at - a.at) / 1000,
    room: b.room - a.room,
    worker: b.worker - a.worker,
    redis: b.redis - a.redis,
  };
}
