"""Encore genre."""
