"""Encore analytics."""
