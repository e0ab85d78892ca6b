"""optimizers: compiled second-order minimizers (Newton-CG, trust-region Newton-CG,
L-BFGS, BFGS, Newton, Hessian-free, saddle-free Newton) and first-order baselines."""

__all__: list[str] = []
