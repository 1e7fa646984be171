"""Reinforcement learning for Encore, evaluated offline with the checks that make it credible.

- :mod:`encore.rl.ope`: off-policy estimators (IPS, SNIPS, DM, DR, switch-DR) with bootstrap
  intervals and effective sample size, and the seeded synthetic bandit on which they are
  validated against a known true value before they are used on real logs;
- :mod:`encore.rl.logs`: the store's listening events as logged decisions (context, item,
  reward, session, position);
- :mod:`encore.rl.logging_policy`: the estimated behaviour policy that gives the real logs
  their propensities (the logs have none);
- :mod:`encore.rl.simulator`: a user simulator calibrated on the real histories, with its fit
  to held-out sessions;
- :mod:`encore.rl.evaluate`: the comparison of the RL policies with the CF models
  (``encore rl evaluate``); the policies themselves are recommenders
  (:mod:`encore.recommenders.bandit`, :mod:`encore.recommenders.reinforce`).
"""
