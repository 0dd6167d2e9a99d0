"""Fidelity schedules: ladders and brackets, reports at a rung, the bracket schedule."""
