"""Encore nn."""
