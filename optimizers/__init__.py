"""optimizers: compiled second-order minimizers (Newton-CG, trust-region Newton-CG,
L-BFGS, BFGS, Newton, Hessian-free, saddle-free Newton) and first-order baselines."""

from optimizers.driver import minimize
from optimizers.hessian_free_method import hessian_free
from optimizers.memory import MemoryEstimate, available_memory, check_memory, estimate_memory
from optimizers.registry import method_names, method_options
from optimizers.result import OptimizeResult, Trace
from optimizers.saddle_free import saddle_free_newton
from optimizers.status import STATUS_MESSAGES, status_message
from optimizers.transforms import (
    TransformState,
    bfgs,
    lbfgs,
    make_transform,
    newton,
    newton_cg,
    trust_ncg,
)

__all__ = [
    "MemoryEstimate",
    "OptimizeResult",
    "STATUS_MESSAGES",
    "Trace",
    "TransformState",
    "available_memory",
    "bfgs",
    "check_memory",
    "estimate_memory",
    "hessian_free",
    "lbfgs",
    "make_transform",
    "method_names",
    "method_options",
    "minimize",
    "newton",
    "newton_cg",
    "saddle_free_newton",
    "status_message",
    "trust_ncg",
]
