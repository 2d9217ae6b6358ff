"""Import f5-tts's model classes on machines that lack its training-only dependencies.

`f5_tts.model` imports its Trainer, which imports wandb, datasets, librosa, matplotlib and pydub at
module level although inference never calls them. A Jetson or a lean GPU box may not have them; for each
one that is missing, a named empty module stands in so the import succeeds. Where they are installed
(a normal `pip install f5-tts`, CI) nothing is replaced.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types
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
