"""The history as the other parts read it: results, curves, encodings."""
