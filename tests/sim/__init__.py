"""Simulator tests (a package, so helper modules import relatively)."""
