import type { Admin, ITopicConfig } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';

const READY_TIMEOUT_MS = 30_000;
const POLL_MS = 100;

/**
 * Creates the topics that do not exist yet and waits until every partition of each has a
 * leader. kafkajs's own `waitForLeaders` retries only LEADER_NOT_AVAILABLE, while a KRaft
 * broker answers UNKNOWN_TOPIC_OR_PARTITION ("does not host this topic-partition") for a
 * moment after a create on a busy machine: any metadata error here is retried until the
 * deadline, and the last one is thrown after it.
 */
export async function createTopicsReady(admin: Admin, topics: ITopicConfig[]): Promise<void> {
  if (topics.length === 0) return;
  await admin.createTopics({ waitForLeaders: false, topics });
  const names = topics.map((topic) => topic.topic);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    try {
      const { topics: found } = await admin.fetchTopicMetadata({ topics: names });
      const ready = names.every((name) => {
        const partitions = found.find((topic) => topic.name === name)?.partitions ?? [];
        return partitions.length > 0 && partitions.every((partition) => partition.leader >= 0);
      });
      if (ready) return;
      if (Date.now() > deadline)
        throw new Error(`Kafka topics without leaders: ${names.join(', ')}`);
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await sleep(POLL_MS);
  }
}
