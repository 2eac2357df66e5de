"""Config validation against JSON schemas (the `jsonschema` package, draft 2020-12)."""
from __future__ import annotations

import json
import threading

from jsonschema import Draft202012Validator

from use_cases.workflows.ports import SchemaValidator

MAX_MESSAGES = 20


class JsonSchemaValidator(SchemaValidator):
    def __init__(self) -> None:
        self._validators: dict[str, Draft202012Validator] = {}
        self._lock = threading.Lock()

    def _validator(self, schema: dict) -> Draft202012Validator:
        key = json.dumps(schema, sort_keys=True)
        with self._lock:
            validator = self._validators.get(key)
            if validator is None:
                Draft202012Validator.check_schema(schema)
                validator = self._validators[key] = Draft202012Validator(schema)
        return validator

    def errors(self, schema: dict, instance: object) -> list[str]:
        messages = []
        errors = self._validator(schema).iter_errors(instance)
        for error in sorted(errors, key=lambda e: [str(part) for part in e.path]):
            where = ".".join(str(part) for part in error.path)
            messages.append(f"{where}: {error.message}" if where else error.message)
            if len(messages) >= MAX_MESSAGES:
                break
        return messages
