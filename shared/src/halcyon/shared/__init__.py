"""Plumbing shared by every Halcyon service.

Nothing here knows about a bounded context's business rules: settings, the event
envelope and public contracts, Kafka, the transactional outbox, idempotent
consumers, tenant-scoped Mongo repositories, HTTP problems, auth and telemetry.
"""
