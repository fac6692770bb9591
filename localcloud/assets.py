"""What `cdk bootstrap` and `cdk deploy` put in place before CloudFormation runs: the bootstrap
version parameter and the stack's file assets in the bootstrap bucket."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

QUALIFIER = "hnb659fds"
BOOTSTRAP_VERSION = "30"


def not_an_assembly(cdk_out: Path) -> str | None:
    """Why `cdk_out` cannot be deployed (one line for a command to print before it exits 2), or None."""
    if (cdk_out / "manifest.json").exists():
        return None
    return f"{cdk_out} is not a cloud assembly (no manifest.json): run `make synth`"


def asset_bucket(account: str, region: str) -> str:
    return f"cdk-{QUALIFIER}-assets-{account}-{region}"


def bootstrap(s3, ssm, account: str, region: str) -> None:
    bucket = asset_bucket(account, region)
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=bucket)
    ssm.put_parameter(
        Name=f"/cdk-bootstrap/{QUALIFIER}/version", Value=BOOTSTRAP_VERSION, Type="String", Overwrite=True
    )


def zipped(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory))
    return buffer.getvalue()


def publish_file_assets(s3, cdk_out: Path, stack_name: str, account: str, region: str) -> list[str]:
    """Upload every file asset of the stack (zipping directories) where its template expects it."""
    manifest = json.loads((cdk_out / f"{stack_name}.assets.json").read_text())
    published = []
    for asset in manifest.get("files", {}).values():
        source = cdk_out / asset["source"]["path"]
        body = zipped(source) if asset["source"].get("packaging") == "zip" else source.read_bytes()
        for destination in asset["destinations"].values():
            bucket = destination["bucketName"].replace("${AWS::AccountId}", account).replace("${AWS::Region}", region)
            s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=body)
            published.append(destination["objectKey"])
    return published
