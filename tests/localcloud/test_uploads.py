"""Uploads the way people make them, with the real clients, against the bucket's write-once rule
(docs/scribe.md, "Uploading without scribe"; decision 0014).

A clinician signs in with a role allowed to upload audio (credentials from the local cloud's STS), so
the local cloud's endpoint authorizes each request as AWS would: the role's policy, the bucket policy
(`AudioIsWrittenOnce`: PutObject and CompleteMultipartUpload under audio/ need If-None-Match), the key
policy. The AWS CLI runs as a separate process (`python -m awscli`, pinned in requirements-dev.txt);
boto3's transfer manager in process, with those credentials.
"""

from __future__ import annotations

import os
import subprocess
import sys

import boto3
import pytest
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig

from localcloud.cdk_cli import deploy_all, free_port
from localcloud.cloud import LocalCloud
from localcloud.endpoint_access import uploader_credentials
from scribe.uploads import write_once
from tests.localcloud.conftest import DICTATION, STACKS, keys

SMALL = b"RIFF....WAVEfmt a dictation uploaded by hand"
# Above the AWS CLI's and the transfer manager's 8 MB multipart threshold: two parts, made here, never committed.
LARGE = b"RIFF....WAVEfmt a long dictation " + bytes(range(256)) * (9 * 4096)
MULTIPART = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024)


@pytest.fixture(scope="module")
def cloud(cdk_out):
    with LocalCloud(cdk_out, port=free_port()) as cloud:
        deploy_all(cloud)  # the CDK CLI's bootstrap and deploy, as with any endpoint (experiments/demo.py)
        cloud.transcribe.register(SMALL, DICTATION)
        cloud.transcribe.register(LARGE, DICTATION)
        cloud.uploader = clinician(cloud)
        yield cloud


def clinician(cloud: LocalCloud) -> dict[str, str]:
    """A person allowed to upload audio to either bucket (the grant docs/scribe.md names)."""
    buckets = [cloud.outputs[stack]["EncounterBucketName"] for stack in STACKS]
    return uploader_credentials(cloud.client, buckets, [cloud.outputs[stack]["KmsKeyArn"] for stack in STACKS])


def s3_as(cloud: LocalCloud, credentials: dict[str, str]):
    return boto3.client("s3", region_name="us-east-1", endpoint_url=cloud.endpoint_url, **credentials)


def aws_cli(cloud: LocalCloud, credentials: dict[str, str], *args: str, tmp_path) -> subprocess.CompletedProcess:
    config = tmp_path / "aws-config"
    config.write_text("[default]\n")
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(config),
        "AWS_ENDPOINT_URL": cloud.endpoint_url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
        "AWS_SESSION_TOKEN": credentials["aws_session_token"],
    }
    return subprocess.run(  # noqa: S603 (this interpreter, the AWS CLI module, the test's own arguments)
        [sys.executable, "-m", "awscli", *args], env=environment, capture_output=True, text=True, timeout=120
    )


def written(tmp_path, name: str, body: bytes):
    path = tmp_path / name
    path.write_bytes(body)
    return path


def nothing_left(cloud: LocalCloud, stack: str, key: str) -> None:
    bucket = cloud.outputs[stack]["EncounterBucketName"]
    assert keys(cloud, stack, key) == []
    assert cloud.client("s3").list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_aws_s3_cp_is_refused_below_and_above_the_multipart_threshold(cloud, tmp_path):
    """`aws s3 cp` sends no If-None-Match (the CLI has no option for it): PutObject is denied, and above
    8 MB CreateMultipartUpload and UploadPart pass but CompleteMultipartUpload is denied; the CLI aborts
    the upload, so no object and no parts are left."""
    credentials = cloud.uploader
    stack = STACKS[0]
    bucket = cloud.outputs[stack]["EncounterBucketName"]
    for name, body in (("enc-cli-1.wav", SMALL), ("enc-cli-2.wav", LARGE)):
        path = tmp_path / name
        path.write_bytes(body)
        done = aws_cli(cloud, credentials, "s3", "cp", str(path), f"s3://{bucket}/audio/{name}", tmp_path=tmp_path)
        assert done.returncode != 0
        assert "AccessDenied" in done.stderr, done.stderr
        operation = "PutObject" if body is SMALL else "CompleteMultipartUpload"
        assert operation in done.stderr, done.stderr
        nothing_left(cloud, stack, f"audio/{name}")


def test_aws_s3api_put_object_with_if_none_match_is_the_cli_command_that_works(cloud, tmp_path):
    """The one AWS CLI command that uploads: `aws s3api put-object --if-none-match '*'` (a single PUT, up
    to 5 GB). The pipeline takes the upload onward to a note; the same command again is refused (412)."""
    credentials = cloud.uploader
    for stack in STACKS:
        bucket = cloud.outputs[stack]["EncounterBucketName"]
        path = tmp_path / "enc-cli-3.wav"
        path.write_bytes(LARGE)
        command = ("s3api", "put-object", "--bucket", bucket, "--key", "audio/enc-cli-3.wav", "--body", str(path))
        done = aws_cli(cloud, credentials, *command, "--if-none-match", "*", tmp_path=tmp_path)
        assert done.returncode == 0, done.stderr
        again = aws_cli(cloud, credentials, *command, "--if-none-match", "*", tmp_path=tmp_path)
        assert again.returncode != 0 and "PreconditionFailed" in again.stderr, again.stderr
    cloud.run_until_quiet()
    for stack in STACKS:
        assert "notes/enc-cli-3.json" in keys(cloud, stack, "notes/")


def test_upload_file_without_the_condition_is_refused_and_leaves_nothing(cloud, tmp_path):
    credentials = cloud.uploader
    s3 = s3_as(cloud, credentials)
    stack = STACKS[1]
    bucket = cloud.outputs[stack]["EncounterBucketName"]
    for name, body in (("enc-sdk-1.wav", SMALL), ("enc-sdk-2.wav", LARGE)):
        path = written(tmp_path, name, body)
        step = "PutObject" if body is SMALL else "CompleteMultipartUpload"
        with pytest.raises(S3UploadFailedError, match=f"AccessDenied.*{step}"):
            s3.upload_file(str(path), bucket, f"audio/{name}", Config=MULTIPART)
        nothing_left(cloud, stack, f"audio/{name}")


def test_upload_file_takes_no_if_none_match_in_extra_args():
    """s3transfer (pinned) does not pass IfNoneMatch: ExtraArgs cannot carry the condition."""
    with pytest.raises(ValueError, match="IfNoneMatch"):
        boto3.client("s3", region_name="us-east-1").upload_file(
            __file__, "bucket", "audio/x.wav", ExtraArgs={"IfNoneMatch": "*"}
        )


def test_upload_file_on_a_write_once_client_works_both_ways_and_the_pipeline_takes_it_on(cloud, tmp_path):
    """`write_once(client)` adds If-None-Match: * to PutObject and CompleteMultipartUpload: the transfer
    manager's single PUT and its multipart upload are both accepted, and each becomes a note; the same
    upload again is refused (412) and leaves no parts."""
    credentials = cloud.uploader
    s3 = write_once(s3_as(cloud, credentials))
    for stack in STACKS:
        bucket = cloud.outputs[stack]["EncounterBucketName"]
        for name, body in (("enc-sdk-3.wav", SMALL), ("enc-sdk-4.wav", LARGE)):
            s3.upload_file(str(written(tmp_path, name, body)), bucket, f"audio/{name}", Config=MULTIPART)
            etag = cloud.client("s3").head_object(Bucket=bucket, Key=f"audio/{name}")["ETag"]
            assert etag.endswith('-2"') == (body is LARGE), "one PUT below the threshold, two parts above"
            with pytest.raises(S3UploadFailedError, match="PreconditionFailed"):
                s3.upload_file(str(written(tmp_path, name, body)), bucket, f"audio/{name}", Config=MULTIPART)
            assert cloud.client("s3").list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    cloud.run_until_quiet()
    for stack in STACKS:
        assert {"notes/enc-sdk-3.json", "notes/enc-sdk-4.json"} <= set(keys(cloud, stack, "notes/"))
        assert keys(cloud, stack, "failures/enc-sdk") == []
