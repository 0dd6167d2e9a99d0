"""Density models of good and bad configurations (BOHB's product KDE, TPE's Parzen estimator)."""
