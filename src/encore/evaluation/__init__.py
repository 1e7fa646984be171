"""Encore evaluation."""
