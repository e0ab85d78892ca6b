"""optimizers: compiled second-order minimizers and first-order baselines, each a direction
(steepest descent, L-BFGS, BFGS, nonlinear CG, Newton, Newton-CG, Gauss-Newton) composed with a
globalisation (strong-Wolfe or Armijo line search; a trust region with Steihaug-CG, GLTR,
Moré-Sorensen or dogleg subproblems; Levenberg-Marquardt damping), plus Hessian-free and
saddle-free Newton; usable as ``minimize``/``least_squares`` calls or as optax transforms."""

from optimizers._batch import minimize_batch
from optimizers._callback import CallbackInfo
from optimizers._compose import Direction, Globalisation, Model, Proposal, compose
from optimizers._curvature_split import SPLIT_FUNCTIONS, split_functions
from optimizers._driver import check_memory, estimate_memory, minimize
from optimizers._globalisations import damping, line_search, trust_region
from optimizers._least_squares import LeastSquaresResult, least_squares
from optimizers._memory import MemoryEstimate, available_memory, format_bytes
from optimizers._method import Iterate, Method, Option
from optimizers._registry import get_method, make_transform, method_names, method_options, register
from optimizers._result import OptimizeResult, Trace
from optimizers._status import STATUS_MESSAGES, Status, status_message
from optimizers._transforms import TransformState
from optimizers.bfgs import bfgs
from optimizers.dogleg import dogleg
from optimizers.gauss_newton import gauss_newton
from optimizers.hessian_free import hessian_free
from optimizers.lbfgs import lbfgs
from optimizers.levenberg_marquardt import levenberg_marquardt
from optimizers.newton import newton
from optimizers.newton_cg import newton_cg
from optimizers.nonlinear_cg import nonlinear_cg
from optimizers.saddle_free_newton import saddle_free_newton
from optimizers.trust_exact import trust_exact
from optimizers.trust_krylov import trust_krylov
from optimizers.trust_ncg import trust_ncg

__all__ = [
    "CallbackInfo",
    "Direction",
    "Globalisation",
    "Iterate",
    "LeastSquaresResult",
    "MemoryEstimate",
    "Method",
    "Model",
    "OptimizeResult",
    "Option",
    "Proposal",
    "SPLIT_FUNCTIONS",
    "STATUS_MESSAGES",
    "Status",
    "Trace",
    "TransformState",
    "available_memory",
    "bfgs",
    "check_memory",
    "compose",
    "damping",
    "dogleg",
    "estimate_memory",
    "format_bytes",
    "gauss_newton",
    "get_method",
    "hessian_free",
    "lbfgs",
    "least_squares",
    "levenberg_marquardt",
    "line_search",
    "make_transform",
    "method_names",
    "method_options",
    "minimize",
    "minimize_batch",
    "newton",
    "newton_cg",
    "nonlinear_cg",
    "register",
    "saddle_free_newton",
    "split_functions",
    "status_message",
    "trust_exact",
    "trust_krylov",
    "trust_ncg",
    "trust_region",
]
