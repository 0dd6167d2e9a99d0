"""Where candidate configurations come from: pools, evolution, coordinate search, sampling."""
