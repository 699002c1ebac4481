"""nutpie's numba compile of a PyMC model, with C wrappers that numba can cache on disk.

Why: ``nutpie.compile_pymc_model(model, backend="numba")`` spends most of its time (about 4 of
5.4 s on the bundled model) compiling two small C-callable wrappers around PyTensor's logp+gradient
and "expand" functions. nutpie builds them as closures, so numba cannot cache them and every new
process compiles them (and the numba internals they use) again.

What: ``compile_model`` builds the same ``CompiledPyMCModel`` from the same PyTensor functions,
but generates the wrappers from source text with a cache key derived from PyTensor's own cache
key for the wrapped function (so a changed model, data or library version gets a new key). They
are registered with PyTensor's numba cache locator, so a later process loads them from
``<pytensor base_compiledir>/numba`` instead of compiling. The wrapper bodies are nutpie 0.16's,
statement for statement, so the sampler sees identical numbers and draws are bitwise identical.

The PyTensor graph work (about 1.4 s) is still done every time: its result is what the cache key is
made from. Anything unexpected (another nutpie minor version, shared variables that nutpie passes
at run time, PyTensor caching switched off, any error) falls back to nutpie's own compile.
This uses private nutpie and PyTensor functions; ``SUPPORTED_NUTPIE`` names the versions checked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from hashlib import sha256
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pymc as pm
    from nutpie.compile_pymc import CompiledPyMCModel

log = logging.getLogger(__name__)

SUPPORTED_NUTPIE = ("0.16.",)  # version prefixes whose private compile helpers this module mirrors
WRAPPER_VERSION = "1"  # bump when the wrapper templates change
NAME_PREFIX = "microcalc_"  # names of our generated wrappers start with this

# nutpie 0.16 compile_pymc._make_c_logp_func.logp_numba, with sizes as literals and no shared data.
LOGP_TEMPLATE = """
def microcalc_logp_{key}(dim, x_, out_, logp_, user_data_):
    if dim != {n_dim}:
        return -1
    try:
        x = numba.carray(x_, ({n_dim},))
        out = numba.carray(out_, ({n_dim},))
        logp = numba.carray(logp_, ())
        logp_val, grad = inner_fn(x)
        logp[()] = logp_val
        out[...] = grad
        if not np.all(np.isfinite(out)):
            return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:
        return 1
    return 0
"""

# nutpie 0.16 compile_pymc._make_c_expand_func.expand_numba, likewise.
EXPAND_TEMPLATE = """
def microcalc_expand_{key}(dim, expanded, x_, out_, user_data_):
    if dim != {n_dim}:
        return -1
    if expanded != {n_expanded}:
        return -1
    try:
        x = numba.carray(x_, ({n_dim},))
        out = numba.carray(out_, ({n_expanded},))
        (values,) = inner_fn(x)
        out[...] = values
    except Exception:
        return -2
    return 0
"""


class NotCacheable(Exception):
    """The model or the installed libraries do not allow cached wrappers; use nutpie's compile."""


def compile_model(model: pm.Model) -> CompiledPyMCModel:
    """Compile ``model`` for ``nutpie.sample`` like nutpie's numba backend, reusing cached wrappers."""
    import nutpie

    try:
        return compile_cached(model)
    except Exception as err:  # noqa: BLE001 - any failure means: do what nutpie does
        log.info("cached nutpie wrappers not used (%s: %s); compiling with nutpie", type(err).__name__, err)
    return nutpie.compile_pymc_model(model, backend="numba")


def uses_cached_wrappers(compiled: CompiledPyMCModel) -> bool:
    """True when ``compiled`` carries this module's cacheable wrappers (not nutpie's fallback)."""
    return all(
        getattr(cfunc, "__name__", "").startswith(NAME_PREFIX)
        for cfunc in (compiled.compiled_logp_func, compiled.compiled_expand_func)
    )


def check_supported() -> None:
    """Raise NotCacheable unless the installed nutpie and PyTensor settings are the ones mirrored."""
    import nutpie
    import pytensor

    if not nutpie.__version__.startswith(SUPPORTED_NUTPIE):
        raise NotCacheable(f"nutpie {nutpie.__version__} is not one of {SUPPORTED_NUTPIE}")
    if not pytensor.config.numba__cache:
        raise NotCacheable("PyTensor's numba cache is switched off (numba__cache=False)")


def initial_point_function(model: pm.Model) -> Callable:
    """The jittered initial-point function nutpie.compile_pymc_model builds with its defaults."""
    from nutpie.compile_pymc import _wrap_with_lock
    from pymc.initial_point import make_initial_point_fn

    return _wrap_with_lock(
        make_initial_point_fn(
            model=model,
            overrides=None,
            default_strategy="support_point",
            jitter_rvs=set(model.free_RVs),
            return_transformed=True,
        )
    )


def compile_cached(model: pm.Model) -> CompiledPyMCModel:
    """A copy of nutpie 0.16's _compile_pymc_model_numba for models without shared data, with cached wrappers."""
    from nutpie.compile_pymc import CompiledPyMCModel, _make_functions, _prepare_dims_and_coords, make_user_data

    check_supported()
    n_dim, n_expanded, logp_fn_pt, expand_fn_pt, initial_point_fn, shape_info, reparameterized = _make_functions(
        model,
        mode="NUMBA",
        compute_grad=True,
        join_expanded=True,
        pymc_initial_point_fn=initial_point_function(model),
        var_names=None,
    )
    if logp_fn_pt.get_shared() or expand_fn_pt.get_shared():
        raise NotCacheable("the model has shared variables, which nutpie passes at run time")
    dims, coords = _prepare_dims_and_coords(model, shape_info, reparameterized)
    return CompiledPyMCModel(
        _n_dim=n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info)},
        compiled_logp_func=cached_cfunc(LOGP_TEMPLATE, logp_fn_pt.vm.jit_fn, logp_signature(), n_dim=n_dim),
        compiled_expand_func=cached_cfunc(
            EXPAND_TEMPLATE, expand_fn_pt.vm.jit_fn, expand_signature(), n_dim=n_dim, n_expanded=n_expanded
        ),
        initial_point_func=initial_point_fn,
        shared_data={},
        shared_var_keys={},
        user_data=make_user_data({}, {}),
        n_expanded=n_expanded,
        shape_info=shape_info,
        logp_func=logp_fn_pt,
        expand_func=expand_fn_pt,
        reparameterized_names=reparameterized,
    )


def logp_signature() -> Any:
    """C signature nutpie's sampler calls the logp+gradient function with."""
    from numba import types

    double_ptr = types.CPointer(types.double)
    return types.int64(types.uint64, double_ptr, double_ptr, double_ptr, types.voidptr)


def expand_signature() -> Any:
    """C signature nutpie's sampler calls the expand (draw -> stored values) function with."""
    from numba import types

    double_ptr = types.CPointer(types.double)
    return types.int64(types.uint64, types.uint64, double_ptr, double_ptr, types.voidptr)


def wrapper_key(template: str, inner: Any, sizes: dict[str, int]) -> str:
    """Cache key: PyTensor's key for the wrapped function plus everything else the code depends on."""
    import numba
    import nutpie
    import pytensor
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    py_func = getattr(inner, "py_func", None)
    inner_key = CACHED_SRC_FUNCTIONS.get(py_func) if py_func is not None else None
    if inner_key is None:
        raise NotCacheable("PyTensor has no cache key for the compiled function")
    # __name__: numba rebuilds a cached wrapper's globals by importing this module by name, so an entry
    # written when the module had another name (compiled.py sat at the top of the package before the
    # subpackages) must not match.
    parts = [
        template,
        inner_key,
        repr(sorted(sizes.items())),
        WRAPPER_VERSION,
        __name__,
        numba.__version__,
        nutpie.__version__,
        pytensor.__version__,
    ]
    return sha256("|".join(parts).encode()).hexdigest()[:32]


def cached_cfunc(template: str, inner: Any, signature: Any, **sizes: int) -> Any:
    """Compile (or load from PyTensor's numba cache) the C wrapper ``template`` around ``inner``."""
    import numba
    import numpy as np
    from pytensor.link.numba.cache import compile_numba_function_src

    key = wrapper_key(template, inner, sizes)
    source = template.format(key=key, **sizes)
    name = source.split("def ", 1)[1].split("(", 1)[0]
    # __name__ lets numba rebuild the function's environment when it loads the cache entry.
    env = {"__name__": __name__, "numba": numba, "np": np, "inner_fn": inner}
    function = compile_numba_function_src(source, name, global_env=env, cache_key=f"{NAME_PREFIX}{key}")
    return numba.cfunc(signature, cache=True)(function)
