"""New ids (application/ids.py): random version 4 UUIDs as `uuid.uuid4()` makes, from one
read of the kernel's random source for many, never the same twice, and never a parent's
in a forked child."""

from __future__ import annotations

import multiprocessing
import os
from uuid import UUID

import pytest

from fitboard.application import ids


def test_ids_are_random_version_4_uuids_never_repeated() -> None:
    made = [ids.new_id() for _ in range(5_000)]
    assert len(set(made)) == len(made)
    assert {made_id.version for made_id in made} == {4}
    assert {made_id.variant for made_id in made} == {UUID(int=0, version=4).variant}
    text = ids.new_hex()
    assert len(text) == 32
    assert UUID(hex=text).version == 4


def test_many_ids_take_one_read_of_the_random_source(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    read = os.urandom

    def counted(size: int) -> bytes:
        reads.append(size)
        return read(size)

    monkeypatch.setattr(os, "urandom", counted)
    ids._RANDOM.forget()
    for _ in range(1_000):
        ids.new_id()
    assert len(reads) == 4  # 1,000 ids, 256 a read


def _first_id(queue: multiprocessing.Queue[UUID]) -> None:
    queue.put(ids.new_id())


def test_a_forked_child_hands_out_ids_of_its_own() -> None:
    ids.new_id()  # the parent holds a buffer with ids left in it
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[UUID] = context.Queue()
    child = context.Process(target=_first_id, args=(queue,))
    child.start()
    childs = queue.get(timeout=30)
    child.join(timeout=30)
    assert childs != ids.new_id()
