#!/usr/bin/env bash
# The reference nbwarden is measured against: the same on-start work as
# bench/policy.toml, written the way public lifecycle samples write it
# (bash, the AWS CLI, one `aws` call per parameter, sed on sudoers), but
# against a root prefix so it can run on a sandbox instead of this host.
#   bench/reference-on-start.sh ROOT
# Needs `aws` (AWS CLI) on PATH, configured for the bench's moto endpoint.
set -euo pipefail
ROOT=${1:?usage: reference-on-start.sh ROOT}
NB_USER=ec2-user

# The policy lives in S3, as in nbwarden's lifecycle use.
aws s3 cp --only-show-errors s3://nbwarden-bundles/policies/bench.toml "$ROOT/tmp/policy.toml"

# 1. sudo: take the user out of root-equivalent groups, comment out its
#    grants, deny it in a last drop-in, check with visudo.
for g in wheel sudo admin docker lxd disk root; do
  if grep -q "^$g:" "$ROOT/etc/group"; then
    sed -i -E "/^$g:/ { s/([:,])$NB_USER(,|$)/\1\2/; s/,$//; s/:,/:/ }" "$ROOT/etc/group"
  fi
  if [ -f "$ROOT/etc/gshadow" ] && grep -q "^$g:" "$ROOT/etc/gshadow"; then
    sed -i -E "/^$g:/ { s/([:,])$NB_USER(,|$)/\1\2/; s/,$//; s/:,/:/ }" "$ROOT/etc/gshadow"
  fi
done
sed -i -E 's/^(%wheel[[:space:]])/# \1/' "$ROOT/etc/sudoers"
for f in "$ROOT"/etc/sudoers.d/*; do
  sed -i -E "s/^(${NB_USER}[[:space:]])/# \1/" "$f"
done
printf '%s ALL=(ALL) !ALL\n' "$NB_USER" > "$ROOT/etc/sudoers.d/zz-deny-$NB_USER"
chmod 0440 "$ROOT/etc/sudoers.d/zz-deny-$NB_USER"
visudo -c -q -f "$ROOT/etc/sudoers"
for f in "$ROOT"/etc/sudoers.d/*; do visudo -c -q -f "$f"; done

# 2. pip and conda point at the mirror.
cat > "$ROOT/etc/pip.conf" <<PIP
[global]
index-url = https://pypi.mirror.example.internal/simple/
timeout = 15
retries = 3
PIP
cat > "$ROOT/home/ec2-user/anaconda3/.condarc" <<CONDA
channels:
  - https://conda.mirror.example.internal/main
  - https://conda.mirror.example.internal/conda-forge
default_channels:
  - https://conda.mirror.example.internal/main
channel_alias: https://conda.mirror.example.internal
ssl_verify: true
CONDA

# 3. Network and KMS variables: one AWS CLI call per parameter.
get() { aws ssm get-parameter --name "$1" --query Parameter.Value --output text; }
region=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ResourceArn"].split(":")[3])' \
  "$ROOT/opt/ml/metadata/resource-metadata.json")
vpc=$(get /nbwarden/network/vpc-id)
subnets=$(get /nbwarden/network/subnet-ids)
sg=$(get /nbwarden/network/security-group-id)
kms=$(get /nbwarden/kms/cmk-arn)
data=$(get /nbwarden/buckets/data)
model=$(get /nbwarden/buckets/model)
mkdir -p "$ROOT/etc/nbwarden" "$ROOT/etc/profile.d"
cat > "$ROOT/etc/nbwarden/variables.json" <<JSON
{"SAGEMAKER_REGION": "$region", "SAGEMAKER_VPC": "$vpc", "SAGEMAKER_SUBNETS": "$subnets",
 "SAGEMAKER_SECURITY_GROUPS": "$sg", "SAGEMAKER_KMS_KEY_ID": "$kms",
 "SAGEMAKER_DATA_BUCKET": "$data", "SAGEMAKER_MODEL_BUCKET": "$model"}
JSON
{
  echo "export SAGEMAKER_REGION='$region'"
  echo "export SAGEMAKER_VPC='$vpc'"
  echo "export SAGEMAKER_SUBNETS='$subnets'"
  echo "export SAGEMAKER_SECURITY_GROUPS='$sg'"
  echo "export SAGEMAKER_KMS_KEY_ID='$kms'"
  echo "export SAGEMAKER_DATA_BUCKET='$data'"
  echo "export SAGEMAKER_MODEL_BUCKET='$model'"
} > "$ROOT/etc/profile.d/sagemaker-variables.sh"
for env in "$ROOT"/home/ec2-user/anaconda3/envs/*/; do
  mkdir -p "$env/lib/python3.10/site-packages"
  cp "$ROOT/etc/nbwarden/variables.json" "$env/lib/python3.10/site-packages/sagemaker_environment.json"
done

# 3b. On a real root (with Python), what nbwarden proves: each environment
#     imports the values, as the notebook user.
if [ -x "$ROOT/usr/bin/python3" ]; then
  for env in "$ROOT"/home/ec2-user/anaconda3/envs/*/; do
    chroot "$ROOT" runuser -u "$NB_USER" -- "/${env#"$ROOT"/}bin/python" -I -c 'import json' >/dev/null
  done
fi

# 4. The checks samples do: world-writable files under /etc.
if find "$ROOT/etc" "$ROOT/opt/ml" -xdev -perm -0002 ! -type l | grep -q .; then
  echo "world-writable files found" >&2; exit 1
fi
echo "on-start done"
