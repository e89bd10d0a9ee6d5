"""Endpoints by concern: inference, model listing, operations (health, metrics)."""
