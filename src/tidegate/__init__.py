"""Tidegate: decide what a pushed container image is allowed to become."""

__version__ = "0.1.0"
