"""HTTP: the API routers, webhook intake and ops endpoints."""
