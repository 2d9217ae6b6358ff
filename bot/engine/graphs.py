"""CUDA graphs of whole sampling loops, one per (batch size, bucket length), captured lazily.

Replaying a graph launches the NFE x depth kernels of a loop without Python or launch overhead, which
dominates F5-TTS on a big GPU: on an H100 capturing alone took a short danmaku from 270 ms to 115 ms
(docs/benchmarks.md). Graphs share one memory pool
(they replay one at a time on one stream) and at most `max_graphs` stay resident, least recently used
evicted first.

A shape can have two graphs for a while: one of the plain (uncompiled) loop, captured first because
capturing is quick and replaying is already several times faster than launching each kernel, and later
one of the compiled loop, which replaces it (`eager` in `run`).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, fields

import torch

from bot.engine.fast_dit import FastDiT, PreparedBatch

log = logging.getLogger(__name__)

GraphKey = tuple[int, int, bool]


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    inputs: PreparedBatch
    output: torch.Tensor


class GraphedSampler:
    def __init__(self, fast: FastDiT, max_graphs: int) -> None:
        self.fast = fast
        self.max_graphs = max_graphs
        self._graphs: OrderedDict[tuple[GraphKey, bool], _Captured] = OrderedDict()
        self._pool = torch.cuda.graph_pool_handle()
        self.captures = 0

    @staticmethod
    def key(batch: PreparedBatch) -> GraphKey:
        return batch.noise.shape[0], batch.noise.shape[1], batch.key_mask is not None

    def __len__(self) -> int:
        return len(self._graphs)

    @torch.inference_mode()
    def run(self, batch: PreparedBatch, eager: bool = False) -> torch.Tensor:
        """Sample `batch`; the result is valid until the next call (copy what you keep). `eager`: the graph
        of the plain loop (`FastDiT.sample(eager=True)`); otherwise of the loop as compiled, which, once
        captured, replaces the plain one of its shape."""
        key = (self.key(batch), eager)
        entry = self._graphs.get(key)
        if entry is None:
            entry = self._capture(batch, eager)
            self._graphs[key] = entry
            if not eager:
                self._graphs.pop((key[0], True), None)
            while len(self._graphs) > self.max_graphs:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(key)
            for f in fields(PreparedBatch):
                dst, src = getattr(entry.inputs, f.name), getattr(batch, f.name)
                if dst is not None:
                    dst.copy_(src)
        entry.graph.replay()
        return entry.output

    def drop_plain(self) -> None:
        """Forget the plain loop's graphs (warm-up is over: every shape takes the compiled loop now)."""
        for key in [k for k in self._graphs if k[1]]:
            del self._graphs[key]

    def _capture(self, batch: PreparedBatch, eager: bool) -> _Captured:
        t0 = time.perf_counter()
        static = PreparedBatch(**{f.name: _clone(getattr(batch, f.name)) for f in fields(PreparedBatch)})  # type: ignore[arg-type]
        side = torch.cuda.Stream()  # type: ignore[no-untyped-call]
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self.fast.sample(static, eager)  # warm-up: cuBLAS handles, lazy kernel loading, RoPE tables
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            output = self.fast.sample(static, eager)
        self.captures += 1
        log.debug("captured %s sampling graph %s in %.2f s", "plain" if eager else "compiled", self.key(batch),
                  time.perf_counter() - t0)
        return _Captured(graph=graph, inputs=static, output=output)


def _clone(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.clone()
