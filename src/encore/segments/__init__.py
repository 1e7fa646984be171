"""Encore segments."""
