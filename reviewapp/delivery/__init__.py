"""Decisions go back out: signed webhooks from a transactional outbox, label export, feed."""
