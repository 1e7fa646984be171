"""Encore recommenders."""
