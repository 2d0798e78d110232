"""Webhook intake: sources parse bodies into ImageEvents; intake verifies, dedupes, stores."""
