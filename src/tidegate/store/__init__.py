"""Persistence: the only package that builds SQL. One module per aggregate, explicit sessions."""
