"""REST API v1 for integrators (help desks): tickets, upload tokens, uploads and their
bytes, storage, the audit log and webhooks, under ``/api/v1/`` with API keys."""
