"""Model selection after training: cross-validation with honest intervals, hyperparameter
tuning (Optuna) and ensembles of trained models.

Modules: ``splitters`` and ``cv`` (cross-validation, the corrected resampled t interval),
``tune``, ``spaces`` and ``storage`` (Optuna studies), ``ensemble`` (greedy selection,
weighted soft voting, stacking, bagging and boosting).
"""
