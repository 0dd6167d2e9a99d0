"""Parts shared by optimizers: fidelity ladders and brackets, rungs read from history, samplers."""
