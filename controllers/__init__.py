"""Flask blueprints (HTTP and WebSocket), schemas, the error handler and the OpenAPI set-up."""
