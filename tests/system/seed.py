"""Loads the seed fixture into moto_server: SSM parameters, S3 objects and
SageMaker notebook instances (with tags).

    python3 seed.py --endpoint http://127.0.0.1:45010 --seed tests/fixtures/aws-seed.json
"""

import argparse
import json
from pathlib import Path

import boto3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--seed", required=True)
    args = ap.parse_args()
    seed_path = Path(args.seed)
    seed = json.loads(seed_path.read_text())
    repo = seed_path.resolve().parents[2]
    kw = dict(
        endpoint_url=args.endpoint,
        region_name=seed["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    ssm = boto3.client("ssm", **kw)
    for p in seed.get("ssm", []):
        value = ",".join(p["value"]) if isinstance(p["value"], list) else p["value"]
        ssm.put_parameter(Name=p["name"], Type=p["type"], Value=value, Overwrite=True)
    s3 = boto3.client("s3", **kw)
    for o in seed.get("s3", []):
        try:
            s3.create_bucket(Bucket=o["bucket"])
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        body = (repo / o["file"]).read_bytes() if "file" in o else o["body"].encode()
        s3.put_object(Bucket=o["bucket"], Key=o["key"], Body=body)
    sm = boto3.client("sagemaker", **kw)
    for nb in seed.get("sagemaker", {}).get("notebook_instances", []):
        sm.create_notebook_instance(
            NotebookInstanceName=nb["name"],
            InstanceType=nb["instance_type"],
            RoleArn=nb["role_arn"],
            SubnetId=nb["subnet_id"],
            SecurityGroupIds=nb["security_group_ids"],
            KmsKeyId=nb["kms_key_id"],
            DirectInternetAccess=nb["direct_internet_access"],
            RootAccess=nb["root_access"],
            Tags=[{"Key": k, "Value": v} for k, v in nb.get("tags", {}).items()],
        )
    print(f"seeded {args.endpoint} from {seed_path}")


if __name__ == "__main__":
    main()
