"""Webhook subscriptions and the durable outbox that delivers events to them."""
