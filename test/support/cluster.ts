/** Which primary of a Redis Cluster holds a key, from the cluster itself (CLUSTER KEYSLOT, NODES). */
import type { Cluster } from 'ioredis';

export interface Primary {
  id: string;
  /** host:port */
  address: string;
  ranges: Array<[number, number]>;
}

/** The cluster's primaries and their slot ranges, from CLUSTER NODES. */
export async function primaries(redis: Cluster): Promise<Primary[]> {
  const text = (await redis.cluster('NODES')) as string;
  return text
    .trim()
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[2]!.includes('master') && !fields[2]!.includes('fail'))
    .map((fields) => ({
      id: fields[0]!,
      address: fields[1]!.split('@')[0]!,
      ranges: fields.slice(8).map((range) => {
        const [from, to] = range.split('-').map(Number);
        return [from!, to ?? from!] as [number, number];
      }),
    }))
    .filter((primary) => primary.ranges.length > 0);
}

/** The address of the primary holding `key`, asking the cluster for the key's slot. */
export async function primaryOf(redis: Cluster, key: string): Promise<string> {
  const slot = (await redis.cluster('KEYSLOT', key)) as number;
  const holder = (await primaries(redis)).find((p) =>
    p.ranges.some(([from, to]) => slot >= from && slot <= to),
  );
  if (!holder) throw new Error(`no primary holds slot ${slot}`);
  return holder.address;
}
