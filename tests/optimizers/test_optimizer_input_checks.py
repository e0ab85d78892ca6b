"""Bad input to optimizers.minimize and the optax transforms: one clear TypeError/ValueError
naming the argument or option, raised before anything compiles. One table per class of
input; most cases never compile anything."""

from __future__ import annotations

import functools

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

import optimizers
import optimizers._memory
import optimizers._options
import optimizers._registry

X0 = jnp.array([-1.2, 1.0])


def quad(x):
    return jnp.sum((x - 1.0) ** 2)


def _flat_residual(x):
    return jax.flatten_util.ravel_pytree(x)[0] - 1.0


def _needs_split(method) -> bool:
    try:
        optimizers.make_transform(method)
    except ValueError as err:
        return "model/loss split" in str(err)
    return False


#: Options every call of a method must carry: the residual of the sums-of-squares methods.
REQUIRED = {m: {"residual": _flat_residual} if _needs_split(m) else {} for m in optimizers.method_names()}


# ------------------------------------------------------------ line-search constants

WOLFE_METHODS = [m for m in optimizers.method_names()
                 if {"c1", "c2"} <= set(optimizers.method_options(m))]


def test_the_wolfe_table_covers_the_line_search_methods():
    assert {"lbfgs", "bfgs", "newton", "newton-cg"} <= set(WOLFE_METHODS)


LINE_SEARCH_CASES = [
    *[(m, dict(c1=0.95, c2=0.1), r"'c1' and 'c2'.*0 < c1 < c2 < 1, got c1=0.95, c2=0.1")
      for m in WOLFE_METHODS],
    *[(m, dict(c1=0.5, c2=0.5), r"'c1' and 'c2'.*0 < c1 < c2 < 1") for m in WOLFE_METHODS],
    ("lbfgs", dict(c2=1e-5), r"'c1' and 'c2'.*got c1=0.0001, c2=1e-05"),  # against the default c1
    ("lbfgs", dict(c1=0.0), r"option 'c1': expected a real number in \(0, 1\)"),
    ("bfgs", dict(c2=1.0), r"option 'c2': expected a real number in \(0, 1\)"),
    ("hessian-free", dict(ls_c1=0.0), r"option 'ls_c1': expected a real number in \(0, 1\)"),
    ("hessian-free", dict(ls_c1=1.0), r"option 'ls_c1'"),
    ("hessian-free", dict(ls_shrink=1.0), r"option 'ls_shrink'"),
]


@pytest.mark.parametrize("method, options, match", LINE_SEARCH_CASES)
def test_line_search_constants_are_checked_by_minimize_and_the_transforms(method, options, match):
    with pytest.raises(ValueError, match=f"method '{method}'.*{match}"):
        optimizers.minimize(quad, X0, method, **options, **REQUIRED[method])
    with pytest.raises(ValueError, match=f"method '{method}'.*{match}"):
        optimizers.make_transform(method, **options, **REQUIRED[method])


def test_named_transform_factories_refuse_inconsistent_wolfe_constants():
    for factory in (optimizers.lbfgs, optimizers.bfgs, optimizers.newton, optimizers.newton_cg):
        with pytest.raises(ValueError, match="0 < c1 < c2 < 1"):
            factory(c1=0.95, c2=0.1)


# ------------------------------------------------------------ empty x0

EMPTY_X0 = {"zeros(0)": jnp.zeros(0), "empty leaves": {"a": jnp.zeros(0), "b": jnp.zeros((2, 0))}}


def _empty_loss(x):
    return sum(jnp.sum(leaf) for leaf in jax.tree_util.tree_leaves(x)) + 1.0


@pytest.mark.parametrize("x0", list(EMPTY_X0))
@pytest.mark.parametrize("method", optimizers.method_names())
def test_minimize_refuses_an_x0_with_no_elements_for_every_method(method, x0):
    with pytest.raises(ValueError, match=r"x0 has no elements .*nothing to minimize"):
        optimizers.minimize(_empty_loss, EMPTY_X0[x0], method, **REQUIRED[method])


# ------------------------------------------------------------ memory

GIB = 2**30


@pytest.fixture
def memory_16gib(monkeypatch):
    """The memory check against a fixed 16 GiB device, whatever the host has."""
    monkeypatch.setattr(optimizers._memory, "available_memory", lambda device=None: 16 * GIB)


MEMORY_CASES = [
    (lambda: optimizers.minimize(quad, X0, "lbfgs", max_iter=10**9),
     r"minimize\(method='lbfgs'\) would need 37.3 GiB for the trace buffer \(max_iter \+ 1 = "
     r"1000000001 rows x 5 columns of float64\).* more than the 16.0 GiB of memory.*lower max_iter"),
    (lambda: optimizers.minimize(quad, X0, "gd", max_iter=10**9, record_path=True),
     r"52.2 GiB for the trace buffer \(max_iter \+ 1 = 1000000001 rows x 7 columns of float64\)"),
    (lambda: optimizers.minimize(quad, X0, "lbfgs", memory_size=10**9),
     r"EiB for the lbfgs state \(n = 2, memory_size = 1000000000, .*lower the size options shown"),
    (lambda: optimizers.minimize(quad, X0, "hessian-free", cg_max_iter=10**11), r"hessian-free step"),
    (lambda: optimizers.check_memory("newton", 10**5), r"149.0 GiB for the newton step"),
    (lambda: optimizers.check_memory("bfgs", 10**5), r"74.5 GiB for the bfgs state"),
    (lambda: optimizers.check_memory("saddle-free-newton", 10**5, dense=True), r"saddle-free-newton step"),
    (lambda: optimizers.check_memory("lbfgs", 1000, max_iter=10**6, batch=1000),
     r"38.1 MiB for the trace buffer .*x 1000 starts = 37.4 GiB"),
    (lambda: optimizers.lbfgs(memory_size=10**9).init(X0), r"transform 'lbfgs' init would need .*lbfgs state"),
    # a dense method's n limit comes first, as in minimize (4096^2 float64 fits anyway)
    (lambda: optimizers.bfgs().init(jnp.zeros(10**5)),
     r"transform 'bfgs' holds a dense 100000 x 100000 matrix and is for n <= 4096"),
]


@pytest.mark.parametrize("call, match", MEMORY_CASES)
def test_runs_that_cannot_fit_are_refused_with_the_bytes_they_need(memory_16gib, call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_the_real_memory_limit_refuses_an_impossible_lbfgs_memory():
    assert optimizers._memory.available_memory() > 2**20  # this host reports a limit
    with pytest.raises(ValueError, match=r"EiB for the lbfgs state"):
        optimizers.minimize(quad, X0, "lbfgs", memory_size=10**9)
    with pytest.raises(ValueError, match=r"max_iter must be <= 2\*\*31 - 2"):
        optimizers.minimize(quad, X0, "lbfgs", max_iter=2**31)


@pytest.mark.parametrize("method", optimizers.method_names())
def test_the_state_estimate_is_the_bytes_init_allocates(method):
    n = 7
    spec = optimizers._registry.get_method(method)
    opts = optimizers._options.resolve(spec, REQUIRED[method])
    state = spec.init(jnp.zeros(n), opts)
    allocated = sum(leaf.nbytes for leaf in jax.tree_util.tree_leaves(state))
    est = optimizers.estimate_memory(method, n, "float64", max_iter=9, **REQUIRED[method])
    parts = {name: b for name, b, _ in est.parts}
    assert parts[f"{method} state"] == allocated
    assert parts["trace buffer"] == 10 * 5 * 8
    assert est.total == sum(parts.values())
    assert optimizers.estimate_memory(method, n, max_iter=9, batch=3, **REQUIRED[method]).total == 3 * est.total


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(n=0), ValueError, r"n must be an int >= 1"),
    (dict(n=3, batch=0), ValueError, r"batch must be an int >= 1"),
    (dict(n=3, max_iter=-1), ValueError, r"max_iter must be an int >= 0"),
    (dict(n=3, memory_size=0), ValueError, r"method 'lbfgs' option 'memory_size'"),
])
def test_estimate_memory_checks_its_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        optimizers.estimate_memory("lbfgs", **kwargs)


# ------------------------------------------------------------ optax transforms

P3 = {"w": jnp.ones(3)}
P5 = {"w": jnp.ones(5)}


def loss(p):
    return jnp.sum(p["w"] ** 2)


G3 = jax.grad(loss)(P3)
LBFGS = optimizers.lbfgs()
S3 = LBFGS.init(P3)

TRANSFORM_CASES = [
    (dict(value=jnp.ones(3), grad=G3), ValueError, r"value must be the scalar loss at params.*\(3,\)"),
    (dict(value=jnp.array(1), grad=G3), TypeError, r"value must be a floating-point scalar.*int"),
    (dict(value_fn=lambda p: p["w"]), ValueError, r"value_fn must return a scalar .*\(3,\)"),
    (dict(value_fn=lambda p: jnp.sum(p["w"]).astype(jnp.int32)), TypeError,
     r"value_fn must return a floating-point scalar"),
    (dict(value_fn="loss"), TypeError, r"value_fn must be the loss function"),
    (dict(params={"w": jnp.ones(3, jnp.int32)}), TypeError, r"params must hold floating-point arrays"),
    (dict(params={"w": jnp.zeros(0)}), ValueError, r"params has no elements"),
    (dict(params=P5), ValueError, r"state does not fit params: method state leaf 0 is "
     r"float64\[2, 10, 3\], params need float64\[2, 10, 5\]"),
    (dict(params={"v": jnp.ones(3)}), ValueError, r"state does not fit params"),
    (dict(params={"w": jnp.ones(3, jnp.float32)}), ValueError, r"state does not fit params.*float32"),
    (dict(state=()), TypeError, r"state must be the TransformState that init\(params\)"),
    (dict(value=1.0, grad={"w": jnp.ones(4)}), ValueError, r"grad leaf shape \(4,\) does not match params"),
]


@pytest.mark.parametrize("kwargs, err, match", TRANSFORM_CASES)
def test_transform_update_names_the_bad_argument(kwargs, err, match):
    args = {"state": S3, "params": P3, "value_fn": loss, **kwargs}
    with pytest.raises(err, match=match):
        LBFGS.update(G3, args.pop("state"), args.pop("params"), **args)


@pytest.mark.parametrize("method", optimizers.method_names())
def test_every_transform_refuses_a_state_made_for_other_params(method):
    opt = optimizers.make_transform(method, **REQUIRED[method])
    state = opt.init(P3)
    with pytest.raises(ValueError, match=r"state does not fit params.*call init\(params\) again"):
        opt.update(G3, state, P5, value_fn=loss)


def test_transform_init_names_params():
    with pytest.raises(TypeError, match=r"params must hold floating-point arrays"):
        LBFGS.init({"w": jnp.ones(3, jnp.int32)})
    with pytest.raises(ValueError, match=r"params has no elements"):
        LBFGS.init({"w": jnp.zeros((0, 2))})


def test_checked_update_still_runs_eagerly_and_under_jit():
    want = LBFGS.update(G3, S3, P3, value=loss(P3), grad=G3, value_fn=loss)[0]
    got = jax.jit(lambda s, p: LBFGS.update(G3, s, p, value=loss(p), grad=G3, value_fn=loss)[0])(S3, P3)
    np.testing.assert_allclose(np.asarray(got["w"]), np.asarray(want["w"]), rtol=1e-12)
    assert float(loss(jax.tree_util.tree_map(jnp.add, P3, want))) < float(loss(P3))


# ------------------------------------------------------------ callbacks

class Boom(Exception):
    pass


def _raise_at_two(i, f, g):
    if int(i) == 2:
        raise Boom("boom at iteration 2")


# one positional argument is the CallbackInfo form (tests/optimizers/test_args_aux.py)
@pytest.mark.parametrize("callback", [
    lambda: None, lambda i, f: None, lambda i, f, g, h: None, lambda *, i, f, g: None,
])
def test_callback_with_the_wrong_arity_is_refused(callback):
    with pytest.raises(TypeError, match=r"callback is called as callback\(iteration, f, grad_norm\) "
                                        r"or callback\(info\).*neither 3 arguments nor 1"):
        optimizers.minimize(quad, X0, "gd", callback=callback)


def test_unhashable_callback_is_refused():
    class Listener:
        __hash__ = None

        def __call__(self, i, f, g):
            pass

    with pytest.raises(TypeError, match=r"callback must be hashable"):
        optimizers.minimize(quad, X0, "gd", callback=Listener())


def test_a_raising_callback_surfaces_as_the_users_own_exception():
    seen = []

    def callback(i, f, g):
        seen.append(int(i))
        _raise_at_two(i, f, g)

    run = lambda: optimizers.minimize(quad, X0, "gd", callback=callback, max_iter=20,  # noqa: E731
                                      learning_rate=0.1)
    with pytest.raises(Boom, match="boom at iteration 2"):
        run()
    assert seen == [0, 1, 2]  # the calls after the failure are skipped
    seen.clear()
    with pytest.raises(Boom, match="boom"):  # the same (cached) callback fails again, not silently
        run()
    assert seen == [0, 1, 2]
    # flexible signatures and builtins pass the arity check and run
    res = optimizers.minimize(quad, X0, "gd", callback=lambda *a: seen.append(len(a)), max_iter=3)
    assert int(res.nit) == 3 and seen[-1] == 3


def test_a_raising_callback_under_jit_names_the_callback():
    solve = jax.jit(functools.partial(optimizers.minimize, quad, method="gd", max_iter=5,
                                      callback=_raise_at_two))
    with pytest.raises(Exception, match=r"minimize: callback _raise_at_two raised Boom: boom at iteration 2"):
        jax.block_until_ready(solve(X0))


def test_a_raising_callback_in_a_jitted_closure_is_not_swallowed():
    # x0 is a constant of the closure, not a tracer: the run is still traced, so the error
    # cannot wait for minimize to re-raise it and must fail the compiled call itself
    solve = jax.jit(lambda: optimizers.minimize(quad, X0, "gd", max_iter=5, callback=_raise_at_two).x)
    with pytest.raises(Exception, match=r"minimize: callback _raise_at_two raised Boom"):
        jax.block_until_ready(solve())
