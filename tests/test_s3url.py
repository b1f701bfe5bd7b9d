"""The archive URL is validated strictly, and secrets never reach a message."""

from __future__ import annotations

import pytest

from igny8_logging._s3url import S3Url, mask_secrets


class TestParse:
    """``s3://bucket[/prefix]`` parses; anything else is a ``ValueError``."""

    def test_bucket_and_prefix(self) -> None:
        url = S3Url.parse("s3://igny8-logs/prod//runs/")
        assert (url.bucket, url.prefix, str(url)) == (
            "igny8-logs",
            "prod/runs/",
            "s3://igny8-logs/prod/runs/",
        )
        assert S3Url.parse("s3://igny8-logs").prefix == ""

    @pytest.mark.parametrize(
        "bad",
        [
            "http://bucket/x",
            "bucket/x",
            "s3://UPPER/x",
            "s3://a/x",
            "s3://bad..bucket/x",
            "s3://bucket/../etc",
            "s3://bucket/a/./b",
            "s3://bucket/sp ace",
            None,
        ],
    )
    def test_rejected(self, bad: object) -> None:
        with pytest.raises(ValueError):
            S3Url.parse(bad)

    def test_credentials_rejected_and_not_echoed(self) -> None:
        with pytest.raises(ValueError) as info:
            S3Url.parse("s3://AKIAKEY:hunter22secret@bucket/x")
        assert "hunter22secret" not in str(info.value)
        assert "AKIAKEY" not in str(info.value)


class TestMaskSecrets:
    """URL passwords, request signatures and given secrets become ``***``."""

    def test_userinfo(self) -> None:
        assert mask_secrets("GET http://user:pw@host/x") == "GET http://***@host/x"

    def test_signature(self) -> None:
        text = "https://h/k?X-Amz-Signature=abc123&X-Amz-Credential=AKIA%2Fx&a=1"
        assert mask_secrets(text) == "https://h/k?X-Amz-Signature=***&X-Amz-Credential=***&a=1"

    def test_given_secrets(self) -> None:
        assert mask_secrets("key s3cr3t-value here", ("s3cr3t-value", "ab")) == "key *** here"
