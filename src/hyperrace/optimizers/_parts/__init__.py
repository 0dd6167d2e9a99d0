"""Parts shared by optimizers, grouped by the role they play in a decision, not by the algorithm
that first needed them. Optimizers compose them; no part imports an optimizer.

* ``schedule``: fidelity ladders and Hyperband brackets (``ladder``), reports read at a rung
  (``rungs``), and the synchronous bracket schedule rebuilt from the history (``brackets``: used
  by successive halving, Hyperband, BOHB, DEHB and one-epoch top-K).
* ``density``: models of where good configurations lie, fitted to the good and the bad ones:
  BOHB's product kernel densities (``kde``) and TPE's Parzen estimators (``parzen``).
* ``surrogate``: models of the loss (or of the cost) of a configuration at a budget: the race's
  surrogate protocol (``base``), deep power laws (``power_laws`` around the network of
  ``power_law_net``), the deep-kernel GP (``deep_kernel`` around ``deep_kernel_gp``), BoTorch's
  GP (``gp``), the cubic RBF (``rbf``), the cost model (``cost``), and the refit schedule that
  keeps fits deterministic (``fit_chain``).
* ``acquisition``: scores of candidates from a surrogate's predictions (the race's).
* ``candidates``: where candidates come from: the race's pool (``pool``), differential evolution
  (``evolution``), coordinate search with Latin hypercube designs (``dycors``), and the
  truncated-normal sampler that densities and coordinate steps share (``truncated_normal``).
* ``data``: what the history becomes for the others: results at full fidelity
  (``observations``), every report of every curve (``curve_data``) and the one-hot encoding
  (``onehot``).

Modules that need the ``bo`` extra (``surrogate.power_law_net``, ``surrogate.deep_kernel_gp``,
``surrogate.gp``) are imported only where a fit happens.
"""
