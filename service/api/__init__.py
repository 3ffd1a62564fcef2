"""The HTTP face: the app factory, middleware, rate limits, dependencies, one router per resource.

Routes parse, call the core (``service.engine``, ``service.audit``) and map results
to the wire schemas (``service.wire``); nothing below this package imports it."""
