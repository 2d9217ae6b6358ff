"""Import f5-tts's model classes on machines that lack its training-only dependencies, and quickly.

`f5_tts.model` imports its Trainer, which imports wandb, datasets, librosa, matplotlib and pydub at
module level although inference never calls them. A Jetson or a lean GPU box may not have them; for each
one that is missing, a named empty module stands in so the import succeeds. Where they are installed
(a normal `pip install f5-tts`, CI) nothing is replaced.

The import is also on the path to the first sound after a (re)start, and most of it is work nobody
uses: x-transformers imports einx (which imports torch's compiler and sympy) for functions the DiT never
calls, and the CFM imports torchdiffeq (and with it scipy) for upstream's ODE solver, which only
upstream's `CFM.sample` runs. On an H200 host those two were 4.4 of the 9.1 s that importing torch and
the model classes took (docs/benchmarks.md). `f5_model_classes` loads both on first use instead.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Iterator
from typing import Any


def _stub(name: str, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
    for key, value in attrs.items():
        setattr(mod, key, value)
    sys.modules[name] = mod
    return mod


def _missing(name: str) -> bool:
    if name in sys.modules:
        return False
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


def ensure_f5_importable() -> None:
    """Stand in for the training-only modules f5-tts imports but inference never uses, if absent."""
    if _missing("wandb"):
        _stub("wandb")
    if _missing("datasets"):
        _stub("datasets", Dataset=object, load_from_disk=lambda *a, **k: None)
    if _missing("librosa"):
        _stub("librosa", filters=_stub("librosa.filters", mel=lambda *a, **k: None))
    if _missing("matplotlib"):
        _stub("matplotlib", use=lambda *a, **k: None, pylab=_stub("matplotlib.pylab"))
    if _missing("pydub"):
        _stub("pydub", AudioSegment=object, silence=types.SimpleNamespace())


def ensure_upstream_infer_importable() -> None:
    """Also stand in for what upstream's `f5_tts.infer.utils_infer` imports for its ASR helper only.

    The equivalence tests and `bench/engine.py` run upstream's `infer_batch_process` as the oracle; it
    never calls the Whisper pipeline that `transformers` provides, and the lean install leaves
    transformers out (`[tool.uv] exclude-dependencies`).
    """
    ensure_f5_importable()
    if _missing("transformers"):
        _stub("transformers", pipeline=lambda *a, **k: None)


def f5_model_classes() -> tuple[Any, Any]:
    """f5-tts's `CFM` and `DiT`, imported without loading einx or torchdiffeq until something uses them."""
    ensure_f5_importable()
    _load_on_first_use("einx")
    with _odeint_on_first_call():
        from f5_tts.model import CFM, DiT
    return CFM, DiT


def _load_on_first_use(name: str) -> None:
    """Register `name` so that `import name` is instant and the real module is imported on the first use
    of one of its attributes. x-transformers only does `import einx` at module level. (The standard
    library's LazyLoader does not do here: `inspect.getmodule`, which torch runs while registering its
    operators, reads `__file__` of every module and so would load it at once.)"""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    sys.modules[name] = _OnFirstUse(name, spec)


class _OnFirstUse(types.ModuleType):
    """Stands in for a module until an attribute that it lacks is read: then the real module is imported
    (replacing this one in `sys.modules`) and its namespace copied here for those who bound this one."""

    def __init__(self, name: str, spec: importlib.machinery.ModuleSpec) -> None:
        super().__init__(name)
        self.__spec__ = spec
        self.__file__ = spec.origin

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


@contextlib.contextmanager
def _odeint_on_first_call() -> Iterator[None]:
    """While f5-tts's CFM is imported, `from torchdiffeq import odeint` binds a function that imports the
    real torchdiffeq when called. The stand-in leaves `sys.modules` afterwards, so any later
    `import torchdiffeq` gets the real package."""
    if "torchdiffeq" in sys.modules or importlib.util.find_spec("torchdiffeq") is None:
        yield
        return

    def odeint(*args: Any, **kwargs: Any) -> Any:
        from torchdiffeq import odeint as real  # type: ignore[import-untyped]

        return real(*args, **kwargs)

    _stub("torchdiffeq", odeint=odeint)
    try:
        yield
    finally:
        del sys.modules["torchdiffeq"]
