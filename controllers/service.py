"""Service routes: index, health checks."""
from __future__ import annotations

from marshmallow import Schema, fields

from controllers.blueprint import Blueprint
from controllers.deps import settings, use_cases

blp = Blueprint("service", __name__, description="Service status")


class IndexSchema(Schema):
    name = fields.String()
    version = fields.String()
    status = fields.String()
    docs = fields.String()


class DatabaseHealthSchema(Schema):
    status = fields.String()
    latency_ms = fields.Float()
    error = fields.String()


class HealthSchema(Schema):
    status = fields.String()
    service = fields.String()
    version = fields.String()
    database = fields.Nested(DatabaseHealthSchema)


class LocalModelHealthSchema(Schema):
    status = fields.String(metadata={"enum": ["up", "starting", "down", "disabled"]})
    pid = fields.Integer(allow_none=True, metadata={"description": "the model server's process"})
    model = fields.String()
    restarts = fields.Integer(allow_none=True, metadata={
        "description": "times its supervisor started it again; null for a LOCAL_MODEL_URL server"})
    reason = fields.String(metadata={"description": "why it is disabled"})


class DetailedHealthSchema(HealthSchema):
    local_model = fields.Nested(LocalModelHealthSchema)
    models = fields.Raw()
    storage = fields.Raw()
    uptime_s = fields.Float()


@blp.get("/")
@blp.response(200, IndexSchema)
def index():
    """Name and version of the service

    Always 200 `{name: "SynapScale Backend API", version, status: "running", docs: "/docs"}`. No
    authentication and no rate limit: a quick check that the process answers."""
    return {"name": "SynapScale Backend API", "version": settings().version,
            "status": "running", "docs": "/docs"}


def _health(detailed: bool):
    report = use_cases().health.execute(detailed=detailed)
    body = {
        "status": "healthy" if report.healthy else "unhealthy",
        "service": "synapscale-backend",
        "version": settings().version,
        "database": report.database,
        **report.extra,
    }
    return body, 200 if report.healthy else 503


@blp.get("/health")
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="Database unreachable")
def health():
    """Liveness and database check

    200 `{status: "healthy", service: "synapscale-backend", version, database: {status: "up",
    latency_ms}}`. 503 with `status: "unhealthy"` and `database: {status: "down", error}` when the
    database does not answer within MONGODB_TIMEOUT_MS (2 s by default). No authentication and no
    rate limit (for load balancers and orchestrators)."""
    return _health(detailed=False)


@blp.get("/api/health")
@blp.response(200, DetailedHealthSchema)
@blp.alt_response(503, schema=DetailedHealthSchema, description="Database unreachable")
def health_detailed():
    """Detailed health: database, local model, file storage and uptime

    What `GET /health` says, plus `local_model` (`{status: up|starting|down|disabled, pid, model,
    restarts}`, with a `reason` when disabled), `storage` (`{file_storage: "gridfs"|"s3"}` and,
    when S3_BUCKET is set, `s3: {status: up|down, bucket, error?}`) and `uptime_s` (seconds since
    this process started). 503 only when the database is down: a local model that is starting or
    down, or S3 down, does not make the service unhealthy. No authentication and no rate limit."""
    return _health(detailed=True)
