"""The engine in a child process: the same text as single-request sampling, closing, errors, a crashed child."""
import pickle

import pytest

from charrnn.serve.engine_process import STOPPED, ProcessEngine, _portable
from tests.serve.test_engine import OPTIONS, alone, collect, tiny_lm

pytestmark = pytest.mark.skipif(__import__("os").name != "posix", reason="the process engine needs POSIX sockets")


@pytest.fixture(scope="module")
def lm():
    return tiny_lm()


@pytest.fixture(scope="module")
def engine(lm):
    engine = ProcessEngine(lm)
    engine.start()
    return engine


def test_requests_in_the_child_give_the_single_request_text(lm, engine):
    streams = [engine.submit(**o) for o in OPTIONS]  # mixed options, lengths and sample counts in one batch
    assert [collect(s) for s in streams] == [alone(lm, o) for o in OPTIONS]


def test_a_closed_stream_leaves_and_the_others_finish(lm, engine):
    quitter = iter(engine.submit(prompt="the", length=10_000, seed=9))
    stayer = engine.submit(**OPTIONS[0])
    for _ in range(3):
        next(quitter)
    quitter.close()  # a client that went away: the child is told and drops it
    assert collect(stayer) == alone(lm, OPTIONS[0])
    child = engine._child
    assert child.streams == {}  # nothing left open in the parent either
    assert collect(engine.submit(**OPTIONS[1])) == alone(lm, OPTIONS[1])


def test_bad_options_are_refused_at_submit(lm, engine):
    with pytest.raises(ValueError, match="temperature"):
        engine.submit(prompt="the", length=10, temperature=-1)
    assert collect(engine.submit(prompt="the", length=0)) == []
    assert collect(engine.submit(**OPTIONS[3])) == alone(lm, OPTIONS[3])


def test_a_crashed_child_fails_open_streams_and_a_new_one_serves_the_next(lm):
    engine = ProcessEngine(lm)
    long = iter(engine.submit(prompt="the", length=10_000, seed=1))
    next(long)
    engine._child.process.kill()
    with pytest.raises(RuntimeError, match="stopped unexpectedly"):
        for _ in long:
            pass
    assert STOPPED.startswith("the sampling engine")
    assert collect(engine.submit(**OPTIONS[0])) == alone(lm, OPTIONS[0])  # a new child, the same text


def test_errors_cross_to_the_parent_with_their_type_or_their_message():
    assert isinstance(_portable(ValueError("bad")), ValueError)

    class Local(Exception):  # defined in a function: cannot be pickled
        pass

    sent = _portable(Local("odd"))
    assert isinstance(sent, RuntimeError) and "Local: odd" in str(sent)
    pickle.dumps(sent)


def test_without_a_child_the_requests_are_stepped_in_this_process(lm, monkeypatch, capfd):
    import charrnn.serve.engine_process as ep

    monkeypatch.setattr(ep.sys, "executable", "/bin/false")  # the child exits at once, never ready
    engine = ProcessEngine(lm)
    assert collect(engine.submit(**OPTIONS[2])) == alone(lm, OPTIONS[2])
    assert "did not start (exit status 1); sampling in this process instead" in capfd.readouterr().err
    assert engine._child is None and engine._fallback is not None and engine._fallback.steps > 0


def test_a_request_the_child_cannot_take_fails_alone(lm, engine):
    import queue

    import numpy as np

    from charrnn.serve.engine_process import _numpy
    from charrnn.lm.sample import prime

    good = engine.submit(**OPTIONS[0])
    logits, state, _ = prime(lm, "the", 10, 1.0, None, None, 1, 1)
    child, out = engine._child, queue.SimpleQueue()
    child.streams[-1] = out
    child.post(("submit", -1, _numpy(logits), _numpy(state), np.zeros(3, dtype=np.uint8), (1.0, None, None), 1, 10))
    failure = out.get(timeout=30)  # a generator state the child cannot load: this request's error, sent back
    assert isinstance(failure, RuntimeError)
    assert collect(good) == alone(lm, OPTIONS[0])
    assert collect(engine.submit(**OPTIONS[1])) == alone(lm, OPTIONS[1])
