"""Topic creation with aiokafka's admin client, tolerant of topics that already exist.

Tansu auto-creates nothing a consumer group can rely on and ignores topic configs
(``DescribeConfigs`` returns nothing, the memory engine neither compacts nor retains:
``STREAMING.md``), so callers create every topic explicitly with its partition count.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code

_NO_ERROR = 0
_TOPIC_ALREADY_EXISTS = 36
# Project choice (P): one broker in embedded runs and tests; compose's Kafka has one too.
DEFAULT_REPLICATION_FACTOR = 1


async def create_topics(
    bootstrap_servers: str,
    partitions_by_topic: Mapping[str, int],
    *,
    replication_factor: int = DEFAULT_REPLICATION_FACTOR,
    configs: Mapping[str, str] | None = None,
) -> None:
    """Create each topic with its partition count; an existing topic is left as it is."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        response = await admin.create_topics(
            [
                NewTopic(name, partitions, replication_factor, topic_configs=dict(configs or {}))
                for name, partitions in partitions_by_topic.items()
            ]
        )
    finally:
        await admin.close()
    for topic, error_code, *message in response.topic_errors:
        if error_code not in (_NO_ERROR, _TOPIC_ALREADY_EXISTS):
            raise for_code(error_code)(f"creating topic {topic!r}: {message}")
