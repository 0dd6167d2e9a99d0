"""Helpers for testing code built on hyperrace, such as Hypothesis strategies."""
