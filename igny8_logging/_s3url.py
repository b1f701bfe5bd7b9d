"""The archive's URL (``s3://bucket/prefix``) and the masking of secrets in messages.

Credentials never come from the URL (they come from the standard boto3 chain),
and every message about the store is passed through :func:`mask_secrets`, so no
password, request signature or key reaches a log line or an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["S3Url", "mask_secrets"]

_BUCKET_RE: Final = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", re.ASCII)
_PREFIX_PART_RE: Final = re.compile(r"[A-Za-z0-9_.=+-]+", re.ASCII)
_USERINFO_RE: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")
_SIGNED_RE: Final = re.compile(
    r"((?:X-Amz-(?:Signature|Credential|Security-Token)|AWSAccessKeyId|Signature)=)[^&\s\"'<>]+",
    re.IGNORECASE,
)


def mask_secrets(text: str, secrets: tuple[str, ...] = ()) -> str:
    """*text* with URL passwords, request signatures and the given *secrets* replaced by ``***``."""
    text = _USERINFO_RE.sub(r"\1***@", text)
    text = _SIGNED_RE.sub(r"\1***", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


@dataclass(frozen=True, slots=True)
class S3Url:
    """``s3://bucket/prefix``, validated: the bucket and the key prefix objects go under."""

    bucket: str
    prefix: str  # "" or "a/b/" (always ends with "/")

    @classmethod
    def parse(cls, url: object) -> S3Url:
        """Parse *url*; ``ValueError`` for anything but ``s3://bucket[/prefix]``."""
        if not isinstance(url, str) or not url.startswith("s3://"):
            raise ValueError("the archive URL must look like s3://bucket/prefix")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if "@" in bucket or ":" in bucket:
            # Never echo it: it may hold a key.  Credentials come from the boto3 chain.
            raise ValueError(
                "the archive URL must not carry credentials or a port: configure them "
                "the standard AWS way (AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL)"
            )
        if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
            raise ValueError(f"invalid bucket name {bucket[:70]!r} in the archive URL")
        parts = [part for part in prefix.split("/") if part]
        for part in parts:
            if part in (".", "..") or not _PREFIX_PART_RE.fullmatch(part):
                raise ValueError(f"invalid prefix part {part[:70]!r} in the archive URL")
        return cls(bucket, "".join(f"{part}/" for part in parts))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"
