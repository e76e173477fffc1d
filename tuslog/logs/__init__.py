"""Logging: one configuration for every process (text or JSON lines on stderr), repeated
conditions logged once with a count, secrets scrubbed, lifecycle events as their own lines."""
