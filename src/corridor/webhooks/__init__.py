"""Webhooks: settlement events from the operations registry, signed (HMAC-SHA256) and POSTed to each
participant's endpoints, retried with backoff, redeliverable on request, every attempt logged.

How a receiver verifies a delivery: :mod:`corridor.webhooks.signature`.
"""
