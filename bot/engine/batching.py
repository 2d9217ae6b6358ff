"""Batching: planned pieces into batched passes of similar length, with the out-of-memory fallback.

Pieces are split into passes of similar length, at most the backend's batch size each (decided once,
bot/engine/backend.py), so each pass pads little; bot/engine/grouping.py chooses the split. GPU
out-of-memory on a batch retries its pieces one by one; on a single piece the call is dropped with a
SynthesisError (one line for the log, the engine goes on).
"""

from __future__ import annotations

import logging

import torch

from bot.engine.backend import Backend, batch_bucket
from bot.engine.grouping import plan_passes
from bot.engine.planning import Piece
from bot.errors import SynthesisError
from bot.events import Pcm

log = logging.getLogger(__name__)


class Batcher:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def run(self, pieces: list[Piece]) -> list[Pcm]:
        """Every piece's audio, in the order given."""
        backend = self._backend
        rounded_batch = batch_bucket if backend.graphs is not None else (lambda n: n)
        passes = plan_passes([p.duration for p in pieces], backend.max_batch, rounded_batch, backend.bucketed)
        waves: list[Pcm | None] = [None] * len(pieces)
        for group in passes:
            for i, wave in zip(group, self._guarded([pieces[i] for i in group]), strict=True):
                waves[i] = wave
        return [w for w in waves if w is not None]

    def _guarded(self, group: list[Piece]) -> list[Pcm]:
        out_of_memory = False
        try:
            return self._backend.sample(group)
        except torch.OutOfMemoryError:
            out_of_memory = True
        if out_of_memory:
            # Released here, outside the except block: its traceback would keep the tensors alive.
            self._backend.release_memory()
            if len(group) > 1:
                log.warning("GPU out of memory on a batch of %d; retrying one by one", len(group))
                return [w for p in group for w in self._guarded([p])]
        chars = sum(len(p.text) for p in group)
        raise SynthesisError(f"GPU out of memory on a {chars}-character text; utterance dropped")
