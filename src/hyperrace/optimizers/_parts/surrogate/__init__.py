"""Models of the loss or the cost of a configuration at a budget, and their refit schedule."""
