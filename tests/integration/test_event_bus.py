import threading

from adapters.event_bus import MongoEventBus


def test_an_event_published_by_one_bus_reaches_a_subscriber_of_another(app, mongo_uri, settings):
    from repositories.mongo import connect

    other_process_db = connect(mongo_uri)[settings.mongodb_database]
    publisher = MongoEventBus(other_process_db)
    listener = MongoEventBus(app.extensions["synapscale"].db)
    try:
        with listener.subscribe(["user:1"]) as subscription:
            threading.Timer(0.1, publisher.publish, ("user:1", {"type": "hello"})).start()
            publisher.publish("user:2", {"type": "not for us"})
            event = subscription.get(timeout=5)
            assert event == {"topic": "user:1", "type": "hello"}
            assert subscription.get(timeout=0.3) is None
    finally:
        listener.close()
