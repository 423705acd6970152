"""Servers of the tests' own: PostgreSQL, Redis and RabbitMQ, each on a free loopback port
with its files in a fresh directory. The machine's services are never used by the tests:
other things run on them, and a test may stop, flush or block what it uses.

`session.SERVICES` starts one of each on first use and stops them at the end of the
session; a test that must crash a server for good starts one of its own
(`postgres.private_postgres`, `redis.private_redis`, `rabbitmq.private_rabbitmq`)."""
