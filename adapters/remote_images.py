"""Image URLs in chat messages, fetched here under the outbound-address rules and passed on as
data URLs.

LiteLLM downloads an `image_url` itself for providers that only take inline images (Anthropic,
Gemini, Bedrock, Ollama...), from this server and to any address a caller names: a server-side
request forgery. Fetching every remote image here first keeps user-chosen URLs under the same
rules as webhooks and `http_request` nodes (no private, loopback, link-local or metadata address
unless allow-listed, checked after DNS and on every redirect, size and time bounded), whichever
provider answers. Only `http(s)` and `data:` URLs are accepted (OpenAI's own rule).
"""
from __future__ import annotations

import base64
import time
from typing import Any

from entities.errors import InvalidParameter
from entities.outbound import OutboundFailed, OutboundRefused
from use_cases.shared.ports import OutboundHttp

MAX_IMAGES = 20
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # OpenAI's limit per image
FETCH_TIMEOUT_S = 30.0  # for all the images of one request


class RemoteImages:
    def __init__(self, http: OutboundHttp, max_images: int = MAX_IMAGES,
                 max_bytes: int = MAX_IMAGE_BYTES, timeout_s: float = FETCH_TIMEOUT_S):
        self.http = http
        self.max_images = max_images
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    def inline(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`messages` with each remote `image_url` replaced by a data URL (the same list when
        there is none). InvalidParameter (400, param `messages`) for a refused scheme or address,
        an unreachable or non-image URL, more than `max_images` or a too large image."""
        remote = [(m, p) for m, message in enumerate(messages)
                  for p, part in enumerate(_parts(message)) if _is_remote_image(part)]
        if not remote:
            return messages
        if len(remote) > self.max_images:
            raise InvalidParameter(f"At most {self.max_images} image URLs per request",
                                   "messages", "invalid_image_url")
        deadline = time.monotonic() + self.timeout_s
        inlined = [dict(message) for message in messages]
        for m, p in remote:
            parts = list(inlined[m]["content"])
            image = _image(parts[p])
            parts[p] = {**parts[p], "image_url": {**image, "url": self._fetch(image["url"],
                                                                            deadline)}}
            inlined[m]["content"] = parts
        return inlined

    def _fetch(self, url: str, deadline: float) -> str:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise InvalidParameter("Fetching the image URLs took too long", "messages",
                                   "invalid_image_url")
        try:
            response = self.http.request("GET", url, timeout_s=remaining, max_bytes=self.max_bytes)
        except (OutboundRefused, OutboundFailed) as problem:
            raise InvalidParameter(f"The image URL cannot be used: {problem.message}", "messages",
                                   "invalid_image_url") from None
        content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if response.status != 200 or not content_type.startswith("image/"):
            raise InvalidParameter(f"The image URL answered {response.status} "
                                   f"{content_type or 'without a content type'}, not an image",
                                   "messages", "invalid_image_url")
        return f"data:{content_type};base64,{base64.b64encode(response.body).decode()}"


def _parts(message: dict[str, Any]) -> list:
    content = message.get("content")
    return content if isinstance(content, list) else []


def _image(part: dict[str, Any]) -> dict[str, Any]:
    """The `image_url` object of a part (OpenAI also takes a bare string)."""
    image = part.get("image_url")
    return {"url": image} if isinstance(image, str) else dict(image or {})


def _is_remote_image(part: Any) -> bool:
    if not isinstance(part, dict) or part.get("type") != "image_url":
        return False
    url = _image(part).get("url")
    if not isinstance(url, str) or url.startswith("data:"):
        return False
    if not url.lower().startswith(("http://", "https://")):
        raise InvalidParameter("An image_url must be an http(s) or data: URL", "messages",
                               "invalid_image_url")
    return True
