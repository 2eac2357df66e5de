from adapters.event_bus import MongoEventBus


def test_closing_the_bus_ends_its_subscriptions_so_streams_can_tell_clients_to_reconnect(app):
    bus = MongoEventBus(app.extensions["synapscale"].db)
    live = bus.subscribe(["user:1"])
    assert not live.closed
    bus.close()
    assert live.closed
    assert bus.subscribe(["user:2"]).closed  # a draining process takes no new followers
    assert live.get(timeout=0.1) is None
