"""Machine-learning losses on synthetic data drawn from ``numpy.random.RandomState(seed)``.

The parameters are one flat vector ``x`` (for the MLPs: every layer's weight matrix
(fan_in, fan_out) row-major, then its bias, layer by layer). Each problem fills the
model/loss split ``fun(x) == loss_fn(model_fn(x))`` for Gauss-Newton curvature, and the
squared-error ones also ``residual`` with ``fun(x) == sum(residual(x)**2)``. The data set is
in ``problem.data`` (``features``, ``targets``) as numpy arrays.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .registry import check, const, draft, register


def _squared_error(model_fn, targets, x0, **fields):
    """Draft with fun = (1/2) mean((model - targets)^2) = sum(residual^2), residual = (model - targets)/sqrt(2n)."""
    scale = 1.0 / math.sqrt(2.0 * targets.shape[0])

    def loss_fn(pred):
        d = pred - const(targets, pred)
        return 0.5 * jnp.mean(d * d)

    def residual(x):
        return scale * (model_fn(x) - const(targets, x))

    def fun(x):
        return loss_fn(model_fn(x))

    return draft(fun, x0, residual=residual, model_fn=model_fn, loss_fn=loss_fn, **fields)


def _check_data(n_samples, seed):
    check(n_samples >= 1, f"n_samples must be >= 1, got {n_samples}")
    check(seed >= 0, f"seed must be >= 0, got {seed}")


def _data_footprint(*, dim, n_samples, **_):
    return n_samples * (dim + 2) + 4 * dim


def _mlp_footprint(*, n_samples, hidden, n_classes=1, **_):
    sizes = (2,) + tuple(hidden) + (n_classes,)
    weights = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))
    return n_samples * sum(sizes) + 4 * weights


@register("linear_least_squares", tags=("ml", "convex", "least-squares"), footprint=_data_footprint)
def linear_least_squares(*, dim: int = 20, n_samples: int = 200, noise: float = 0.1, seed: int = 0):
    """Linear regression (1/2n) |A x - b|^2, A Gaussian (n_samples x dim), b = A w + noise * e; start 0.

    f* and x* = argmin (numpy.linalg.lstsq) are exact up to rounding.
    """
    _check_data(n_samples, seed)
    check(dim >= 1, f"dim must be >= 1, got {dim}")
    check(noise >= 0, f"noise must be >= 0, got {noise}")
    rng = np.random.RandomState(seed)
    a = rng.standard_normal((n_samples, dim))
    b = a @ rng.standard_normal(dim) + noise * rng.standard_normal(n_samples)
    x_star = np.linalg.lstsq(a, b, rcond=None)[0]
    f_star = 0.5 * np.mean((a @ x_star - b) ** 2)

    def model_fn(x):
        return const(a, x) @ x

    return _squared_error(model_fn, b, np.zeros(dim), f_star=float(f_star), x_star=x_star, box=(-3.0, 3.0),
                          data=dict(features=a, targets=b), description=linear_least_squares.__doc__)


@register("logistic_regression", tags=("ml", "convex"), footprint=_data_footprint)
def logistic_regression(*, dim: int = 10, n_samples: int = 200, l2: float = 1e-3, seed: int = 0):
    """L2-regularized logistic regression: mean_i log(1 + exp(-s_i a_i.x)) + (l2/2) |x|^2, labels s_i in {-1, +1}.

    Labels are drawn from a logistic model with Gaussian features and weights, so the data
    are not separable; l2 > 0 makes the minimizer unique and finite. f*, x* come from
    Newton's method (N&W Alg. 3.1 with unit steps, strongly convex) run to machine precision.
    ``model_fn(x) = concat([A x, x])`` (logits, then the weights, so that the regularizer
    sits in ``loss_fn`` and the Gauss-Newton matrix is the exact Hessian); ``targets`` in
    ``data`` are 0/1.
    """
    _check_data(n_samples, seed)
    check(dim >= 1, f"dim must be >= 1, got {dim}")
    check(l2 > 0, f"l2 must be > 0 (it keeps the minimum finite), got {l2}")
    rng = np.random.RandomState(seed)
    a = rng.standard_normal((n_samples, dim))
    prob = 1.0 / (1.0 + np.exp(-a @ rng.standard_normal(dim)))
    y = (rng.uniform(size=n_samples) < prob).astype(np.float64)
    sign = 2.0 * y - 1.0
    x_star = _logistic_newton(a, sign, l2)
    f_star = np.mean(np.logaddexp(0.0, -sign * (a @ x_star))) + 0.5 * l2 * x_star @ x_star

    def model_fn(x):
        return jnp.concatenate([const(a, x) @ x, x])

    def loss_fn(z):
        margins = const(sign, z) * z[:n_samples]
        w = z[n_samples:]
        return jnp.mean(jnp.logaddexp(0.0, -margins)) + 0.5 * l2 * jnp.sum(w * w)

    def fun(x):
        return loss_fn(model_fn(x))

    return draft(fun, np.zeros(dim), f_star=float(f_star), x_star=x_star, model_fn=model_fn, loss_fn=loss_fn,
                 box=(-3.0, 3.0), data=dict(features=a, targets=y), description=logistic_regression.__doc__)


def _logistic_newton(a, sign, l2, iters=50):
    """Minimizer of the regularized logistic loss by Newton's method in numpy (float64)."""
    n, d = a.shape
    x = np.zeros(d)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(sign * (a @ x)))  # sigma(-s z)
        g = -(a.T @ (sign * p)) / n + l2 * x
        h = (a.T * (p * (1.0 - p))) @ a / n + l2 * np.eye(d)
        step = np.linalg.solve(h, g)
        x = x - step
        if np.max(np.abs(step)) <= 1e-15 * (1.0 + np.max(np.abs(x))):
            break
    return x


def _mlp(sizes, features):
    """tanh MLP of layer widths ``sizes`` on fixed ``features``, as a function of the flat parameters."""
    shapes = list(zip(sizes[:-1], sizes[1:]))

    def model_fn(x):
        h = const(features, x)
        at = 0
        for k, (i, o) in enumerate(shapes):
            w = x[at: at + i * o].reshape(i, o)
            b = x[at + i * o: at + i * o + o]
            at += i * o + o
            h = h @ w + b
            if k < len(shapes) - 1:
                h = jnp.tanh(h)
        return h

    return model_fn


def _mlp_init(sizes, rng):
    """LeCun-normal weights (variance 1/fan_in), zero biases, flattened in ``_mlp``'s layout."""
    parts = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        parts += [rng.standard_normal(i * o) / np.sqrt(i), np.zeros(o)]
    return np.concatenate(parts)


def _check_hidden(hidden):
    check(1 <= len(hidden) <= 3 and all(h >= 1 for h in hidden),
          f"hidden must list 1 to 3 positive layer widths, got {list(hidden)}")


@register("mlp_regression", tags=("ml",), footprint=_mlp_footprint)
def mlp_regression(*, n_samples: int = 256, hidden: tuple = (16,), noise: float = 0.05, seed: int = 0):
    """Regression with a tanh MLP 2 -> hidden -> 1: (1/2n) sum_i (net(x; u_i) - v_i)^2, nonconvex, f* unknown.

    u_i uniform on [-2, 2]^2, v_i = sin(2 u_i1) cos(u_i2) + noise * e_i. Start: LeCun-normal
    weights from the same seed.
    """
    _check_data(n_samples, seed)
    _check_hidden(hidden)
    check(noise >= 0, f"noise must be >= 0, got {noise}")
    rng = np.random.RandomState(seed)
    u = rng.uniform(-2.0, 2.0, size=(n_samples, 2))
    v = np.sin(2.0 * u[:, 0]) * np.cos(u[:, 1]) + noise * rng.standard_normal(n_samples)
    sizes = (2,) + tuple(hidden) + (1,)
    net = _mlp(sizes, u)

    def model_fn(x):
        return net(x)[:, 0]

    return _squared_error(model_fn, v, _mlp_init(sizes, rng), box=(-1.0, 1.0),
                          data=dict(features=u, targets=v), description=mlp_regression.__doc__)


@register("mlp_classification", tags=("ml",), footprint=_mlp_footprint)
def mlp_classification(*, n_samples: int = 300, n_classes: int = 3, hidden: tuple = (16,), seed: int = 0):
    """Softmax classification of interleaved spirals with a tanh MLP 2 -> hidden -> n_classes; nonconvex, f* unknown.

    Loss: mean_i (logsumexp(z_i) - z_i[c_i]) with logits z = net(x; u). Class k's points lie
    on the arm r = t, angle = 4k + 4t + 0.2 e (t in [0, 1]); n_samples is split evenly.
    ``model_fn`` returns the (n, n_classes) logits; ``targets`` in ``data`` are class indices.
    """
    _check_data(n_samples, seed)
    _check_hidden(hidden)
    check(n_classes >= 2, f"n_classes must be >= 2, got {n_classes}")
    check(n_samples >= n_classes, f"n_samples must be >= n_classes, got {n_samples} < {n_classes}")
    rng = np.random.RandomState(seed)
    labels = np.arange(n_samples) % n_classes
    t = rng.uniform(0.0, 1.0, size=n_samples)
    angle = 4.0 * labels + 4.0 * t + 0.2 * rng.standard_normal(n_samples)
    u = np.stack([t * np.sin(angle), t * np.cos(angle)], axis=1)
    onehot = np.eye(n_classes)[labels]
    sizes = (2,) + tuple(hidden) + (n_classes,)
    model_fn = _mlp(sizes, u)

    def loss_fn(logits):
        picked = jnp.sum(const(onehot, logits) * logits, axis=1)
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)

    def fun(x):
        return loss_fn(model_fn(x))

    return draft(fun, _mlp_init(sizes, rng), model_fn=model_fn, loss_fn=loss_fn, box=(-1.0, 1.0),
                 data=dict(features=u, targets=labels), description=mlp_classification.__doc__)
