"""The GPU worker's health is progress: a slow job within its bound keeps answering pings, a hung one
stops them (and they come back once it returns)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

import bot.worker
from bot.events import ChatEvent, SpeechRequest
from bot.testing.fake_synthesizer import FakeSynthesizer
from bot.worker import STEADY_GAPS, VOICE_WORK, JobClock, SynthesisWorker


def request(text: str) -> SpeechRequest:
    return SpeechRequest(text=text, voice="default", event=ChatEvent(text=text), seq=0)


async def pings_in_time(worker: SynthesisWorker, seconds: float, timeout: float = 0.1) -> list[bool]:
    """Ping every `timeout` for `seconds`, as the heartbeat does; whether each answered in time."""
    answered = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            await asyncio.wait_for(worker.ping(), timeout)
        except asyncio.TimeoutError:
            answered.append(False)
        else:
            answered.append(True)
            await asyncio.sleep(timeout)
    return answered


def test_the_bound_follows_the_measured_time_per_unit_of_work_within_floor_and_ceiling() -> None:
    clock = JobClock(slack=3.0, floor_s=0.5, ceiling_s=10.0, smoothing=0.5)
    assert clock.bound("synthesis", 30) == 10.0  # never measured: the ceiling
    clock.per_unit["synthesis"] = 0.01
    assert clock.bound("synthesis", 100) == pytest.approx(3.0)
    assert clock.bound("synthesis", 1) == 0.5  # the floor
    assert clock.bound("synthesis", 10_000) == 10.0  # the ceiling
    assert clock.bound("warm-up", 1) == 10.0  # estimates are per kind
    t0 = time.monotonic()
    clock.begin("synthesis", 10)
    time.sleep(0.05)
    clock.end()
    took = time.monotonic() - t0
    assert 0.0075 <= clock.per_unit["synthesis"] <= 0.01 + 0.5 * (took / 10 - 0.01)  # half way to the new rate


async def test_a_slow_job_within_its_bound_keeps_answering_pings() -> None:
    fake = FakeSynthesizer(delay_s=0.2)
    worker = SynthesisWorker(lambda: fake, JobClock(slack=4.0, floor_s=0.3, ceiling_s=5.0))
    await worker.start(warm_up=False)
    await worker.synthesize([request("短")])  # measured: ~0.2 s for one short request
    fake.delay_s = 0.8  # four times slower (a long message, a busy CPU): still within 4x its work's estimate
    job = asyncio.ensure_future(worker.synthesize([request("长" * int(3 * (1 + VOICE_WORK)))]))
    answered = await pings_in_time(worker, 0.6)
    await job
    assert len(answered) >= 3 and all(answered), answered  # the old no-op ping timed out all along
    assert worker.overdue() is None
    await worker.close()


async def test_a_hung_job_stops_the_pings_once_past_its_bound_and_they_resume_when_it_returns() -> None:
    hang = threading.Event()
    hang.set()
    fake = FakeSynthesizer(delay_s=0.05, hang=hang)
    worker = SynthesisWorker(lambda: fake, JobClock(slack=4.0, floor_s=0.5, ceiling_s=5.0))
    await worker.start(warm_up=False)
    await worker.synthesize([request("短")])
    hang.clear()
    job = asyncio.ensure_future(worker.synthesize([request("短")]))
    early = await pings_in_time(worker, 0.2)
    await asyncio.sleep(0.5)  # past the 0.5 s floor: the bound
    late = await pings_in_time(worker, 0.4)
    assert all(early) and not any(late), (early, late)
    assert (why := worker.overdue()) and why.startswith("synthesis running for"), why
    hang.set()
    await job
    assert all(await pings_in_time(worker, 0.2))
    await worker.close()


async def test_pings_never_pile_up_behind_a_long_job() -> None:
    fake = FakeSynthesizer(delay_s=0.5)
    worker = SynthesisWorker(lambda: fake)
    await worker.start(warm_up=False)
    job = asyncio.ensure_future(worker.synthesize([request("一")]))
    await pings_in_time(worker, 0.3, timeout=0.01)
    await job
    t0 = time.monotonic()
    await worker.ping()  # the withdrawn no-ops do not run first
    assert time.monotonic() - t0 < 0.1
    await worker.close()


class SteppedFake(FakeSynthesizer):
    """A warm-up of `n` steps, each recorded with its thread; those after the first take `seconds` more.
    As the engine's, each `next()` takes the step announced before and announces the next."""

    def __init__(self, n: int, seconds: float = 0.0) -> None:
        super().__init__()
        self.n = n
        self.seconds = seconds
        self.steps: list[int] = []

    def warm_up_steps(self) -> Iterator[str]:
        for i in range(self.n):
            time.sleep(0.02 + (self.seconds if i else 0.0))
            self.threads.add(threading.get_ident())
            self.steps.append(i)
            if i < self.n - 1:
                yield f"step {i + 1}"


async def test_start_returns_after_the_first_step_and_the_rest_wait_for_a_pause_in_the_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bot.worker, "IDLE_BEFORE_PREPARE_S", 0.3)
    monkeypatch.setattr(bot.worker, "FIRST_STEP_GUESS_S", 0.1)
    fake = SteppedFake(4)
    worker = SynthesisWorker(lambda: fake)
    await worker.start()
    assert fake.steps == [0]  # able to speak: the rest is background work
    for _ in range(6):  # requests closer together than the idle bound hold the remaining steps back
        await worker.synthesize([request("一")])
        await asyncio.sleep(0.1)
    assert fake.steps == [0]
    deadline = time.monotonic() + 10
    while len(fake.steps) < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert fake.steps == [0, 1, 2, 3]
    assert len(fake.threads) == 1 and threading.get_ident() not in fake.threads  # all in the worker thread
    await worker.close()


async def chat_every(gap_s: float, worker: SynthesisWorker, times: int) -> list[float]:
    """A message every `gap_s`, each waited for; how long each waited."""
    waits = []
    for _ in range(times):
        await asyncio.sleep(gap_s)
        t0 = time.monotonic()
        await worker.synthesize([request("一")])
        waits.append(time.monotonic() - t0)
    return waits


async def after_one_step(fake: SteppedFake, monkeypatch: pytest.MonkeyPatch, guess_s: float) -> SynthesisWorker:
    """A worker started on `fake` once it has taken one background step in the quiet after the start (so
    steps are timed); steps may start after 0.1 s of idleness, the first taken to cost `guess_s`."""
    monkeypatch.setattr(bot.worker, "IDLE_BEFORE_PREPARE_S", 0.1)
    monkeypatch.setattr(bot.worker, "FIRST_STEP_GUESS_S", guess_s)
    worker = SynthesisWorker(lambda: fake)
    await worker.start()
    deadline = time.monotonic() + 10
    while len(fake.steps) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert fake.steps == [0, 1]
    return worker


async def test_steps_wait_for_a_pause_twice_as_long_as_a_step_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chat every 0.45 s: a 0.52-s step waits for 1.04 s of quiet, so no message lands in the middle of one
    (with the idle bound alone, steps would start 0.1 s into each pause; nor does 1.25 times a step fit
    between two messages); once the chat pauses, they go on."""
    fake = SteppedFake(4, seconds=0.5)
    worker = await after_one_step(fake, monkeypatch, guess_s=0.05)
    waits = await chat_every(0.45, worker, times=6)
    deadline = time.monotonic() + 10
    assert fake.steps == [0, 1] and max(waits) < 0.25  # no step started in those pauses
    while len(fake.steps) < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert fake.steps == [0, 1, 2, 3]
    await worker.close()


class PollsThenCompiles(SteppedFake):
    """As the engine after a restart: the first step speaks, then steps that only look whether the
    compiler's imports are done (instant), then one that compiles (`seconds`)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(6)
        self.seconds = seconds

    def warm_up_steps(self) -> Iterator[str]:
        for i in range(self.n):
            if i == self.n - 1:
                time.sleep(self.seconds)
            self.steps.append(i)
            if i < self.n - 1:
                yield "compile shape" if i == self.n - 2 else "poll compiler"


async def test_before_any_step_is_timed_a_step_is_taken_to_be_long(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chat every 0.45 s right after a restart: nothing has been timed yet and the instant polls say
    nothing, so the compile step (0.3 s) waits for twice the guess (0.8 s) of quiet and no message waits
    behind it (with the estimate empty, it started 0.1 s into a pause: the H200 restart that kept
    messages waiting 8.5 s); once the chat pauses, preparation goes on."""
    monkeypatch.setattr(bot.worker, "IDLE_BEFORE_PREPARE_S", 0.1)
    monkeypatch.setattr(bot.worker, "FIRST_STEP_GUESS_S", 0.4)
    fake = PollsThenCompiles(seconds=0.3)
    worker = SynthesisWorker(lambda: fake)
    await worker.start()
    waits = await chat_every(0.45, worker, times=6)
    assert fake.steps == [0] and max(waits) < 0.25
    deadline = time.monotonic() + 10
    while len(fake.steps) < fake.n and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert fake.steps == list(range(fake.n))
    await worker.close()


class CapturesThenCompiles(SteppedFake):
    """As the engine's warm-up: quick captures of the plain loop first, then compiles ten times as long."""

    def __init__(self, captures: int, compiles: int, capture_s: float, compile_s: float) -> None:
        super().__init__(1 + captures + compiles)
        self.kinds = ["speak"] + ["capture"] * captures + ["compile"] * compiles
        self.took = {"speak": 0.0, "capture": capture_s, "compile": compile_s}

    def warm_up_steps(self) -> Iterator[str]:
        for i, kind in enumerate(self.kinds):
            time.sleep(self.took[kind])
            self.steps.append(i)
            if i + 1 < len(self.kinds):
                yield f"{self.kinds[i + 1]} shape {i + 1}"


async def test_each_kind_of_step_is_timed_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """After quick captures, the first compile is not taken to be as quick: it keeps its long guess, so
    chat every 0.45 s never waits behind one (with one estimate for every step, the captures' 0.03 s
    let a 0.3-s compile start 0.1 s into a pause); once the chat pauses, the compiles go on."""
    monkeypatch.setattr(bot.worker, "IDLE_BEFORE_PREPARE_S", 0.1)
    monkeypatch.setattr(bot.worker, "FIRST_STEP_GUESS_S", 0.4)
    fake = CapturesThenCompiles(captures=6, compiles=2, capture_s=0.03, compile_s=0.3)
    worker = SynthesisWorker(lambda: fake)
    await worker.start()
    deadline = time.monotonic() + 10
    while len(fake.steps) < 7 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert fake.steps == list(range(7))  # the captures, in the quiet after the start
    waits = await chat_every(0.45, worker, times=6)
    assert fake.steps == list(range(7)) and max(waits) < 0.25
    while len(fake.steps) < fake.n and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert fake.steps == list(range(fake.n))
    await worker.close()


async def test_in_a_steady_chat_steps_run_right_after_a_message_not_late_in_the_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A message every second and 0.45-s steps: a step needs 0.9 s of quiet, so under that rule alone it
    starts 0.9 s into each pause and the next message waits for it. The chat's pace says the next message
    is due a second after the last, so a step starts right after each message and ends long before."""
    fake = SteppedFake(12, seconds=0.43)
    worker = await after_one_step(fake, monkeypatch, guess_s=0.4)
    waits = await chat_every(1.0, worker, times=8)
    assert len(fake.steps) >= 5  # steps went on between the messages
    assert max(waits[STEADY_GAPS + 1 :]) < 0.15  # once the pace is known, no message waited for one
    await worker.close()


async def test_no_step_starts_while_a_batch_is_readied_for_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the queue and `synthesize` the speaker readies a batch (text normalisation, in a thread):
    the worker looks idle then, and a step started in that moment would delay the batch."""
    monkeypatch.setattr(bot.worker, "IDLE_BEFORE_PREPARE_S", 0.1)
    monkeypatch.setattr(bot.worker, "FIRST_STEP_GUESS_S", 0.05)
    fake = SteppedFake(3)
    worker = SynthesisWorker(lambda: fake)
    await worker.start()
    with worker.reserved():
        await asyncio.sleep(0.6)
        assert fake.steps == [0]
    deadline = time.monotonic() + 10
    while len(fake.steps) < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert fake.steps == [0, 1, 2]
    await worker.close()
