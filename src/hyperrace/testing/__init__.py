"""Helpers for testing code built on hyperrace: what a plug-in author needs.

- :mod:`hyperrace.testing.conformance`: the optimizer conformance suite (every registered
  optimizer passes it);
- :mod:`hyperrace.testing.storage`: the storage conformance suite (every storage backend passes
  it), with :func:`~hyperrace.testing.storage.lose_commit_answers` (a commit whose answer is lost);
- :mod:`hyperrace.testing.strategies`: Hypothesis strategies for spaces and configs;
- :mod:`hyperrace.testing.objectives`: objectives that need no training (learning curves from a
  config, failing, dying, slow ones);
- :mod:`hyperrace.testing.history`: histories built by driving a study with ask / report / tell;
- :mod:`hyperrace.testing.stress`: a worker process for concurrency and crash tests.
"""
