"""The instance process's message channel and shared-memory arena (`runtime._pb_stub`)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from hepinfer.serve.backends.python.runtime._pb_stub import Arena, Channel


@pytest.fixture
def pair() -> Iterator[tuple[Channel, Channel]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    left, right = Channel(a), Channel(b)
    yield left, right
    left.close()
    right.close()


def test_poll_on_an_empty_socket_answers_nothing_without_waiting(
    pair: tuple[Channel, Channel],
) -> None:
    _, right = pair
    assert right.poll() == (False, None)
    assert right.buffered() == (False, None)


def test_messages_sent_together_come_out_in_order_through_fill_and_buffered(
    pair: tuple[Channel, Channel],
) -> None:
    left, right = pair
    for i in range(5):
        left.send(("response", i))
    right.fill()  # one read takes all five
    got = []
    while True:
        ready, msg = right.buffered()
        if not ready:
            break
        got.append(msg)
    assert got == [("response", i) for i in range(5)]
    right.fill()  # nothing left: no error, nothing buffered
    assert right.buffered() == (False, None)


def test_poll_then_buffered_share_one_queue(pair: tuple[Channel, Channel]) -> None:
    left, right = pair
    left.send(("a",))
    left.send(("b",))
    assert right.poll() == (True, ("a",))  # reads both, hands out the first
    assert right.buffered() == (True, ("b",))


def test_a_closed_peer_is_reported_as_eof(pair: tuple[Channel, Channel]) -> None:
    left, right = pair
    left.close()
    with pytest.raises(EOFError):
        right.poll()
    with pytest.raises(EOFError):
        right.fill()


def test_a_message_larger_than_one_read_arrives_whole(pair: tuple[Channel, Channel]) -> None:
    left, right = pair
    big = np.arange(100_000, dtype=np.float64)  # 800 kB: more than the socket buffer holds
    sender = threading.Thread(target=left.send, args=(("big", big),))
    sender.start()
    try:
        np.testing.assert_array_equal(right.recv(timeout_s=10)[1], big)
    finally:
        sender.join(10)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(16, dtype=np.float32),
        np.arange(12, dtype=np.int64).reshape(3, 4),
        np.arange(12, dtype=np.float16).reshape(3, 4).T,  # not contiguous
        np.array([True, False, True]),
        np.array(7, dtype=np.uint8),  # 0-d
        np.zeros((0, 3), dtype=np.float32),
    ],
)
def test_the_arena_round_trips_every_layout(array: np.ndarray) -> None:
    fd = os.memfd_create("test-arena")
    try:
        os.ftruncate(fd, 1 << 16)
        arena = Arena(fd, 1 << 16)
    finally:
        os.close(fd)
    try:
        (desc,) = arena.pack([("x", array)], second_half=True)
        assert desc[3] >= arena.half  # in shared memory, not in the message
        ((name, back),) = arena.unpack([desc], copy=True)
        assert name == "x"
        assert back.dtype == array.dtype
        assert back.shape == array.shape
        np.testing.assert_array_equal(back, array)
    finally:
        arena.close()
