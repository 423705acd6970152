"""The bookkeeping of a process's room channels (`RoomChannels`): what is subscribed and
unsubscribed, when a room is ready, and that nobody waits forever."""

from __future__ import annotations

from fitboard.adapters.live_socketio import RoomChannels


def connected() -> RoomChannels:
    rooms = RoomChannels()
    rooms.connect()
    return rooms


async def test_a_wanted_room_is_subscribed_once_and_ready_at_its_confirmation() -> None:
    rooms = connected()
    rooms.want("athlete:a")
    rooms.want("athlete:a")
    waiter = rooms.waiter("athlete:a")
    assert waiter is not None
    assert rooms.changes() == (["athlete:a"], [])
    assert rooms.changes() == ([], [])
    assert not rooms.ready("athlete:a")
    assert not waiter.done()
    rooms.confirmed("athlete:a")
    assert rooms.ready("athlete:a")
    assert waiter.done()
    assert rooms.waiter("athlete:a") is None
    assert rooms.asked == 1


async def test_a_room_left_is_unsubscribed_and_one_never_asked_for_is_not() -> None:
    rooms = connected()
    rooms.want("a")
    rooms.want("b")
    assert rooms.changes() == (["a", "b"], [])
    rooms.drop("a")
    rooms.want("c")
    rooms.drop("c")
    assert rooms.changes() == ([], ["a"])
    assert rooms.asked == 1


async def test_left_and_joined_again_in_flight_is_ready_only_at_the_last_confirmation() -> None:
    rooms = connected()
    rooms.want("r")
    assert rooms.changes() == (["r"], [])
    rooms.drop("r")
    assert rooms.changes() == ([], ["r"])
    rooms.want("r")
    assert rooms.changes() == (["r"], [])
    waiter = rooms.waiter("r")
    assert waiter is not None
    rooms.confirmed("r")  # the first SUBSCRIBE's: the UNSUBSCRIBE after it is still to come
    assert not rooms.ready("r")
    assert not waiter.done()
    rooms.confirmed("r")
    assert rooms.ready("r")
    assert waiter.done()


async def test_a_room_dropped_while_waited_for_releases_its_waiters() -> None:
    rooms = connected()
    rooms.want("r")
    waiter = rooms.waiter("r")
    assert waiter is not None
    rooms.drop("r")
    assert waiter.done()


async def test_a_lost_connection_releases_waiters_and_a_new_one_asks_for_every_room() -> None:
    rooms = connected()
    rooms.want("a")
    rooms.want("b")
    assert rooms.changes() == (["a", "b"], [])
    rooms.confirmed("a")
    waiter = rooms.waiter("b")
    assert waiter is not None
    rooms.lost()
    assert waiter.done()
    assert not rooms.ready("a")
    # Nothing is sent, or waited for, without a connection.
    assert rooms.changes() == ([], [])
    assert rooms.waiter("a") is None
    rooms.connect()
    assert rooms.changes() == (["a", "b"], [])


async def test_changes_not_sent_are_asked_for_again() -> None:
    rooms = connected()
    rooms.want("a")
    rooms.want("b")
    assert rooms.changes() == (["a", "b"], [])
    rooms.drop("b")
    rooms.want("c")
    subscribe, unsubscribe = rooms.changes()
    assert (subscribe, unsubscribe) == (["c"], ["b"])
    rooms.not_sent(subscribe, unsubscribe)
    assert rooms.changes() == (["c"], ["b"])
    rooms.confirmed("c")
    assert rooms.ready("c")
