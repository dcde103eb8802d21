"""Ingest workers: MQTT messages in, validated events (or dead letters) stored in batches,
acknowledged to the broker only after the batch has committed. See docs/broker.md."""
