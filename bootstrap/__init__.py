"""The composition root's parts, after cosmicpython's bootstrap.py.

One module per area of use_cases/, each with a frozen dataclass of the area's use cases and ONE
builder, `build_<area>(...)`, taking everything the area needs (repositories, adapters, other
areas' use cases, limits) as keyword arguments. The area modules import only use_cases and
entities, so they never pick an adapter: `wiring.build_container` (called by app.py's
create_app) hands them the real MongoDB repositories and adapters, and the unit tests hand the
same builders their fakes (tests/fakes/). `container.Container` is what
create_app keeps in `app.extensions["synapscale"]`.
"""
