from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, post_load, validate

from controllers.schemas.common import PageQuerySchema, UtcDateTime

MAX_TAGS = 20
TAG = validate.Length(min=1, max=50)


class UploadFieldsSchema(Schema):
    """The text fields of an upload form (the file part is read separately, as a stream)."""

    workspace_id = fields.String(validate=validate.Length(max=64),
                                 metadata={"description": "Default: the caller's personal workspace"})
    category = fields.String(validate=validate.Length(max=100))
    tags = fields.String(validate=validate.Length(max=2000),
                         metadata={"description": "Comma-separated, e.g. `finance,2026`"})
    description = fields.String(validate=validate.Length(max=2000))
    is_public = fields.Boolean(metadata={"description": "Readable by anyone at /files/{id}/public"})

    @post_load
    def split_tags(self, data: dict, **_) -> dict:
        if "tags" in data:
            tags = [tag.strip() for tag in data["tags"].split(",") if tag.strip()]
            if len(tags) > MAX_TAGS or any(len(tag) > 50 for tag in tags):
                raise ValidationError(f"At most {MAX_TAGS} tags of at most 50 characters.", "tags")
            data["tags"] = tags
        return data


class UploadFormSchema(UploadFieldsSchema):
    """multipart/form-data of POST /files/upload (documentation)."""

    file = Upload(required=True)


class VersionFieldsSchema(Schema):
    """A new version takes only the file."""


class VersionFormSchema(Schema):
    """multipart/form-data of POST /files/{id}/versions (documentation)."""

    file = Upload(required=True)


class FileSchema(Schema):
    id = fields.String(required=True)
    filename = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    category = fields.String(allow_none=True, required=True)
    tags = fields.List(fields.String(), required=True)
    description = fields.String(required=True)
    is_public = fields.Boolean(required=True)
    version = fields.Integer(required=True)
    workspace_id = fields.String(required=True)
    owner_id = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)
    deleted_at = UtcDateTime(allow_none=True, metadata={"description": "Set while in the trash"})


class FileVersionSchema(Schema):
    version = fields.Integer(attribute="number", required=True)
    filename = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    uploaded_by = fields.String(required=True)
    created_at = UtcDateTime(required=True)


class FileQuerySchema(PageQuerySchema):
    workspace_id = fields.String(validate=validate.Length(max=64),
                                 metadata={"description": "Default: the caller's personal workspace"})
    category = fields.String(validate=validate.Length(max=100))
    tag = fields.String(validate=TAG)
    q = fields.String(validate=validate.Length(max=200),
                      metadata={"description": "Part of the file name (case-insensitive)"})
    deleted = fields.Boolean(load_default=False,
                             metadata={"description": "true: the workspace's trash (to restore)"})


class FilePatchSchema(Schema):
    filename = fields.String(validate=validate.Length(min=1, max=255))
    category = fields.String(allow_none=True, validate=validate.Length(max=100))
    tags = fields.List(fields.String(validate=TAG), validate=validate.Length(max=MAX_TAGS))
    description = fields.String(validate=validate.Length(max=2000))
    is_public = fields.Boolean()


class DownloadQuerySchema(Schema):
    version = fields.Integer(validate=validate.Range(min=1),
                             metadata={"description": "Default: the current version"})


class DownloadLinkSchema(Schema):
    url = fields.String(required=True)
    expires_at = UtcDateTime(required=True)
