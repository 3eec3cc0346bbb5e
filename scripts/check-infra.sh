#!/usr/bin/env bash
# Checks of the deployment code in infra/ (no AWS account needed):
#   1. cfn-lint on every CloudFormation/SAM template (infra/sam/*.yaml)
#   2. sam validate --lint on each template (skipped when aws-sam-cli could not be installed)
#   3. terraform fmt -check -recursive infra/terraform
#   4. terraform init (from a local plugin directory) + validate: every module and the example
#   5. checkov on the SAM templates and on infra/terraform (inline suppressions carry their reason)
#   6. the failover role's inline policies against IAM's 10,240-character quota, for 10 protected
#      databases: the SAM template (resolved by emulator/iam_enforcement.py) and the Terraform module
#      (rendered by the AWS provider in a terraform test where nothing is created)
#   7. the Terraform example applied to the local AWS emulator (moto), checked, then destroyed
#
# The tools pinned in infra/requirements.txt are installed once, each into its own virtualenv under
# .venv/infra/ (their boto3 pins disagree with each other and with the awscli/moto of .venv). All
# Terraform state, plugin caches and placeholder artifacts live in a temporary directory.
#
# Environment: TF_PLUGIN_DIR=<dir holding registry.terraform.io/hashicorp/aws> to choose the plugin
# directory; KEEP_WORK=1 to keep the temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START=$SECONDS
PYTHON=${PYTHON:-python3}
REQUIREMENTS=infra/requirements.txt
TOOLS=$ROOT/.venv/infra
TEMPLATES=(infra/sam/template.yaml infra/sam/health-check.yaml)
FUNCTIONS=(router failover snapshot-copy retention)
TAB=$'\t'

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pilotlight-infra.XXXXXX")
EMULATOR_PID=""
cleanup() {
  if [ -n "$EMULATOR_PID" ] && kill -0 "$EMULATOR_PID" 2>/dev/null; then
    kill "$EMULATOR_PID" 2>/dev/null || true
    wait "$EMULATOR_PID" 2>/dev/null || true
  fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then
    echo "check-infra: kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

RESULTS=()
PASSED=0 SKIPPED=0 FAILED=0
say() { echo "check-infra: $*"; }
skip() { RESULTS+=("SKIP  $1: $2"); SKIPPED=$((SKIPPED + 1)); say "SKIP $1: $2"; }
# step NAME FUNCTION...: runs the function in a subshell with `set -e` in force, records the result.
step() {
  local name=$1 rc
  shift
  say "== $name"
  set +e
  (
    set -e
    "$@"
  )
  rc=$?
  set -e
  if [ "$rc" = 0 ]; then
    RESULTS+=("PASS  $name")
    PASSED=$((PASSED + 1))
  else
    RESULTS+=("FAIL  $name (exit $rc)")
    FAILED=$((FAILED + 1))
    say "FAIL $name (exit $rc)"
  fi
}

# -------------------------------------------------------------------------------------------------
# Tools
# -------------------------------------------------------------------------------------------------
install_tools() {
  command -v "$PYTHON" >/dev/null || { say "$PYTHON is missing: install Python 3.9+ first" >&2; return 1; }
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  mkdir -p "$TOOLS"
  local req name venv
  while read -r req; do
    req=${req%%#*}
    req=${req//[[:space:]]/}
    [ -n "$req" ] || continue
    name=${req%%[=<>!~]*}
    venv=$TOOLS/$name
    if [ -f "$venv/.installed" ] && [ "$(cat "$venv/.installed")" = "$req" ]; then
      continue
    fi
    say "installing $req into ${venv#"$ROOT"/}"
    rm -rf "$venv"
    if "$PYTHON" -m venv "$venv" &&
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$req" >"$WORK/pip-$name.log" 2>&1; then
      echo "$req" >"$venv/.installed"
    elif [ "$name" = aws-sam-cli ]; then
      # Not fatal: sam validate is skipped (this runs in a subshell: the reason goes through a file).
      echo "pip could not install $req: $(tail -n 1 "$WORK/pip-$name.log")" >"$WORK/sam-skip"
      rm -rf "$venv"
    else
      say "pip could not install $req:" >&2
      tail -n 20 "$WORK/pip-$name.log" >&2
      return 1
    fi
  done <"$REQUIREMENTS"
}

# -------------------------------------------------------------------------------------------------
# CloudFormation / SAM
# -------------------------------------------------------------------------------------------------
check_cfn_lint() {
  "$TOOLS/cfn-lint/bin/cfn-lint" --regions us-west-2 us-east-1 -- "${TEMPLATES[@]}"
  say "cfn-lint: no errors in ${TEMPLATES[*]}"
}

check_sam_validate() {
  local t
  for t in "${TEMPLATES[@]}"; do
    env -u AWS_PROFILE -u AWS_SESSION_TOKEN AWS_DEFAULT_REGION=us-west-2 AWS_REGION=us-west-2 \
      AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_CONFIG_FILE="$WORK/no-aws-config" \
      AWS_SHARED_CREDENTIALS_FILE="$WORK/no-aws-credentials" SAM_CLI_TELEMETRY=0 \
      "$TOOLS/aws-sam-cli/bin/sam" validate --lint --template-file "$t"
  done
}

checkov_run() {
  "$TOOLS/checkov/bin/checkov" --quiet --compact --skip-download --download-external-modules false "$@"
}

check_checkov_sam() {
  checkov_run --framework cloudformation -d infra/sam
}

check_checkov_terraform() {
  checkov_run --framework terraform -d infra/terraform
}

# -------------------------------------------------------------------------------------------------
# The failover role's size: IAM limits the aggregate of all the inline policies of a role to 10,240
# characters, and does not count whitespace (IAM and STS character limits,
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html). Most of the failover
# role's policy is per-database ARN lists (instances, zones, record names, health checks): a
# deployment protecting too many databases does not deploy. Checked for SIZE_DATABASES protected
# RDS databases with realistic identifiers, every optional statement present (alarms, health
# checks, two KMS keys, a drill validation function).
# -------------------------------------------------------------------------------------------------
ROLE_POLICY_QUOTA=10240
SIZE_DATABASES=10

# write_policy_size_tool: $WORK/policy_size.py, shared by the SAM and Terraform size checks.
#   policy_size.py sam N...           the SAM template's failover role for N databases: its size
#   policy_size.py tftest MODULE ARTIFACTS N...  a terraform test of the module for N databases
write_policy_size_tool() {
  cat >"$WORK/policy_size.py" <<'PY'
import json, sys
sys.path.insert(0, "emulator")
# The SAM template's intrinsics resolved as the emulator does for its role policies
# (emulator/iam_enforcement.py), with the parameters infra/README.md derives from a configuration.
from iam_enforcement import ACCOUNT, PARTITION, Template, sam_parameters

def config(n):
    """A configuration protecting n RDS databases: primary in us-east-1, replica in us-west-2,
    one CNAME record in a zone of its own, an alarm and a health check each."""
    dbs = [{
        "name": f"orders-{i:02d}",
        "primary": {"region": "us-east-1", "instance_id": f"orders-primary-{i:02d}"},
        "replica": {"region": "us-west-2", "instance_id": f"orders-replica-{i:02d}"},
        "records": [{"hosted_zone_id": f"Z{i:02d}3456789ABCDEFGHIJ", "name": f"orders-{i:02d}.db.example.internal", "type": "CNAME", "ttl": 60}],
        "alarms": [{"name": f"pilotlight-orders-{i:02d}-primary-unhealthy", "region": "us-east-1"}],
        "health_check_id": f"{i:08d}-4e2b-4c1d-9a3f-0123456789ab",
        "rpo_budget_seconds": 300,
    } for i in range(1, n + 1)]
    return {
        "databases": dbs,
        "notifications": {"topic_arn": f"arn:{PARTITION}:sns:us-west-2:{ACCOUNT}:pilotlight-notifications"},
        "snapshots": {"dr_regions": ["us-west-2"], "kms_keys": {
            "us-west-2": f"arn:{PARTITION}:kms:us-west-2:{ACCOUNT}:key/0d6c1b2a-3e4f-4a5b-8c7d-9e0f1a2b3c4d",
            "us-east-1": f"arn:{PARTITION}:kms:us-east-1:{ACCOUNT}:key/5e4d3c2b-1a0f-4e9d-8c7b-6a5f4e3d2c1b"}},
        "drill": {"validation_function": f"arn:{PARTITION}:lambda:us-west-2:{ACCOUNT}:function:orders-drill-check"},
        "ledger": {"table_name": "pilotlight-ledger"},
    }

def size(docs):
    """The characters IAM counts: the documents as JSON without whitespace."""
    return sum(len(json.dumps(json.loads(d) if isinstance(d, str) else d, separators=(",", ":"))) for d in docs)

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "sam":
    for n in args:
        docs = Template("infra/sam/template.yaml", sam_parameters(config(int(n))), "us-west-2").function_policies()["failover"]
        print(n, size(docs))
elif cmd == "tftest":
    # A terraform test file for the module in args[0] (run from there): one run block per database
    # count (args[2:]), each an apply in which no resource is created: every resource of the module
    # and of its nested modules is overridden (override_resource; an ARN for each, realistic for
    # those the failover policy names), the account id too, so only the policy documents are
    # rendered, by the AWS provider itself, without any AWS call. The module's copy gets an output
    # with the failover policy's size (zz_size_check.tf).
    import glob, os, re
    module, artifacts, counts = args[0], args[1], args[2:]
    region, prefix = "us-west-2", "pilotlight"
    arns = {  # what the failover policy names: its log group, its queue, the ledger, the topic
        "aws_cloudwatch_log_group.function": f"arn:{PARTITION}:logs:{region}:{ACCOUNT}:log-group:/aws/lambda/{prefix}-failover",
        "aws_sqs_queue.dlq": f"arn:{PARTITION}:sqs:{region}:{ACCOUNT}:{prefix}-failover-dlq",
        "aws_dynamodb_table.ledger": f"arn:{PARTITION}:dynamodb:{region}:{ACCOUNT}:table/{prefix}-ledger",
        "aws_sns_topic.notifications": f"arn:{PARTITION}:sns:{region}:{ACCOUNT}:{prefix}-notifications",
    }
    def resources(path, address):
        text = "".join(open(f).read() for f in sorted(glob.glob(os.path.join(path, "*.tf"))))
        for name in re.findall(r'^data "aws_caller_identity" "([^"]+)"', text, re.M):
            yield "data", f"{address}data.aws_caller_identity.{name}", '{ account_id = "%s" }' % ACCOUNT
        for kind, name in re.findall(r'^resource "([^"]+)" "([^"]+)"', text, re.M):
            arn = arns.get(f"{kind}.{name}") if not address else None
            service = "iam" if kind.startswith("aws_iam_") else kind.split("_")[1]
            arn = arn or f"arn:{PARTITION}:{service}:{region}:{ACCOUNT}:{kind}:{name}"
            yield "resource", f"{address}{kind}.{name}", '{ arn = "%s" }' % arn
        for name, source in re.findall(r'^module "([^"]+)" \{\s*\n\s*source\s*=\s*"([^"]+)"', text, re.M):
            yield from resources(os.path.join(path, source), f"{address}module.{name}.")
    out = []
    for alias, r in (("", region), ("us_east_1", "us-east-1")):
        out.append("provider \"aws\" {\n" + (f'  alias = "{alias}"\n' if alias else "") + f'  region = "{r}"\n'
                   '  access_key = "test"\n  secret_key = "test"\n  skip_credentials_validation = true\n'
                   '  skip_requesting_account_id = true\n  skip_metadata_api_check = true\n}\n')
    for block, target, values in resources(module, ""):
        out.append(f"override_{block} {{\n  target = {target}\n  values = {values}\n}}\n")
    for n in counts:
        p = sam_parameters(config(int(n)))
        lst = lambda name: json.dumps([v for v in p[name].split(",") if v])
        out.append(f'run "databases_{n}" {{\n  command = apply\n  variables {{\n'
                   f'    artifacts_dir = {json.dumps(artifacts)}\n'
                   f'    pilotlight_config = {json.dumps(json.dumps(config(int(n))))}\n'
                   + "".join(f"    {var} = {lst(param)}\n" for var, param in (
                       ("primary_instance_arns", "PrimaryInstanceArns"), ("replica_instance_arns", "ReplicaInstanceArns"),
                       ("hosted_zone_ids", "HostedZoneIds"), ("record_names", "RecordNames"), ("alarm_arns", "AlarmArns"),
                       ("health_check_ids", "HealthCheckIds"), ("kms_key_arns", "KmsKeyArns")))
                   + f'    drill_validation_function_arn = {json.dumps(p["DrillValidationFunctionArn"])}\n  }}\n}}\n')
    with open(os.path.join(module, "tests", "zz_size.tftest.hcl"), "w") as f:
        f.write("\n".join(out))
    with open(os.path.join(module, "zz_size_check.tf"), "w") as f:
        f.write('output "zz_failover_policy_size" {\n'
                '  value = "${length(var.primary_instance_arns)} ${length(data.aws_iam_policy_document.failover.minified_json)}"\n}\n')
PY
}

# report_policy_sizes WHAT "N SIZE"...: prints the sizes, fails if the largest N is over the quota.
report_policy_sizes() {
  local what=$1 line n size last=0
  shift
  for line in "$@"; do
    read -r n size <<<"$line"
    say "  $what: $n database(s): $size characters (quota $ROLE_POLICY_QUOTA)"
    last=$size
  done
  [ "$last" -gt 0 ] && [ "$last" -le "$ROLE_POLICY_QUOTA" ] ||
    { say "  over the quota: the failover role of $what does not deploy with $SIZE_DATABASES databases" >&2; return 1; }
  say "  ok: $what's failover role fits with $SIZE_DATABASES databases ($((ROLE_POLICY_QUOTA - last)) characters to spare)"
}

check_policy_size_sam() {
  write_policy_size_tool
  local lines
  mapfile -t lines < <(.venv/bin/python -B "$WORK/policy_size.py" sam 1 5 "$SIZE_DATABASES")
  [ "${#lines[@]}" = 3 ] || return 1
  report_policy_sizes "SAM" "${lines[@]}"
}

# The Terraform module's failover policy as the AWS provider renders it, without AWS or the
# emulator: a terraform test of a copy of the module in which every resource is overridden (none is
# created), one run per database count; the module's copy outputs the policy's size.
check_policy_size_terraform() {
  local copy=$WORK/size/terraform module lines
  module=$copy/modules/pilotlight
  write_policy_size_tool
  copy_terraform "$copy"
  make_placeholder_artifacts # nothing is deployed, but Terraform reads the zips' hashes
  mkdir -p "$module/tests"
  .venv/bin/python -B "$WORK/policy_size.py" tftest "$module" "$WORK/artifacts" 1 5 "$SIZE_DATABASES"
  tf size -chdir="$module" init -backend=false -input=false -no-color -plugin-dir="$PLUGIN_DIR" >"$WORK/init-size.log" ||
    { cat "$WORK/init-size.log" >&2; return 1; }
  # Nothing may reach AWS: no credentials, no configuration, and every endpoint a closed port.
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_CONFIG_FILE=$WORK/no-aws-config \
    AWS_SHARED_CREDENTIALS_FILE=$WORK/no-aws-credentials AWS_ENDPOINT_URL=http://127.0.0.1:9 \
    tf size -chdir="$module" test -no-color -verbose >"$WORK/test-size.log" 2>&1 ||
    { grep -v '^ *$' "$WORK/test-size.log" | grep -E -A8 '^(Error|  run )' | head -n 60 >&2; return 1; }
  mapfile -t lines < <(sed -n 's/^zz_failover_policy_size = "\([0-9]* [0-9]*\)"$/\1/p' "$WORK/test-size.log")
  [ "${#lines[@]}" = 3 ] || { say "  expected 3 sizes in $WORK/test-size.log, found ${#lines[@]}" >&2; return 1; }
  report_policy_sizes "Terraform" "${lines[@]}"
}

# -------------------------------------------------------------------------------------------------
# Terraform
# -------------------------------------------------------------------------------------------------
find_plugin_dir() {
  local dir tf_dir
  tf_dir=$(dirname "$(readlink -f "$(command -v terraform)")")
  for dir in "${TF_PLUGIN_DIR:-}" "${TF_PLUGIN_CACHE_DIR:-}" /opt/tf-plugins /opt/terraform/plugins \
    /usr/local/share/terraform/plugins /usr/share/terraform/plugins "$HOME/.terraform.d/plugins" \
    "$HOME/.local/share/terraform/plugins" "$tf_dir/plugins" "$tf_dir/../share/terraform/plugins"; do
    if [ -n "$dir" ] && [ -d "$dir/registry.terraform.io/hashicorp/aws" ]; then
      readlink -f "$dir"
      return 0
    fi
  done
  dir=$(find "$HOME" /opt /usr/local /usr/share -maxdepth 8 -type d \
    -path '*/registry.terraform.io/hashicorp/aws' 2>/dev/null | head -n 1)
  [ -n "$dir" ] || return 1
  readlink -f "${dir%/registry.terraform.io/hashicorp/aws}"
}

# copy_terraform DEST: a copy of infra/terraform without local state or caches.
copy_terraform() {
  mkdir -p "$1"
  cp -R infra/terraform/. "$1"
  find "$1" \( -name .terraform -o -name '.terraform.lock.hcl' -o -name '*.tfstate' -o -name '*.tfstate.*' \) \
    -prune -exec rm -rf {} +
}

tf() {
  # $1: a data directory name; the rest: terraform arguments.
  local data=$WORK/tf-data/$1
  shift
  TF_DATA_DIR=$data terraform "$@"
}

check_terraform_fmt() {
  terraform fmt -check -recursive -diff infra/terraform
}

check_terraform_validate() {
  local copy=$WORK/validate dir
  copy_terraform "$copy"
  # The pilotlight module expects an aws.us_east_1 provider from its caller (configuration_aliases);
  # validated on its own, it gets one from a throwaway file in the copy, removed before the example
  # (which passes its own) is validated.
  local providers=$copy/modules/pilotlight/zz_check_infra_providers.tf
  printf 'provider "aws" {\n  alias  = "us_east_1"\n  region = "us-east-1"\n}\n' >"$providers"
  for dir in modules/pilotlight modules/health-check modules/alarm-topic-key examples/complete; do
    [ "$dir" = modules/pilotlight ] || rm -f "$providers"
    say "terraform validate $dir"
    tf "validate-${dir//\//-}" -chdir="$copy/$dir" init -backend=false -input=false -no-color \
      -plugin-dir="$PLUGIN_DIR" >"$WORK/init-${dir//\//-}.log" ||
      { cat "$WORK/init-${dir//\//-}.log" >&2; return 1; }
    tf "validate-${dir//\//-}" -chdir="$copy/$dir" validate -no-color
  done
}

# -------------------------------------------------------------------------------------------------
# The Terraform example against the local emulator
# -------------------------------------------------------------------------------------------------
make_placeholder_artifacts() {
  local f
  for f in "${FUNCTIONS[@]}"; do
    mkdir -p "$WORK/artifacts/$f"
    "$PYTHON" - "$WORK/artifacts/$f/bootstrap.zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    info = zipfile.ZipInfo("bootstrap")
    info.external_attr = 0o755 << 16
    z.writestr(info, "#!/bin/sh\necho 'placeholder artifact of scripts/check-infra.sh' >&2\nexit 1\n")
PY
  done
}

start_emulator() {
  .venv/bin/python emulator/pilotlight_emulator.py --port 0 --parent-pid $$ \
    >"$WORK/emulator.out" 2>"$WORK/emulator.log" &
  EMULATOR_PID=$!
  local _
  for _ in $(seq 1 300); do
    if grep -q '^READY ' "$WORK/emulator.out" 2>/dev/null; then
      ENDPOINT=$(sed -n 's/^READY //p' "$WORK/emulator.out" | head -n 1)
      say "emulator $ENDPOINT (pid $EMULATOR_PID)"
      return 0
    fi
    kill -0 "$EMULATOR_PID" 2>/dev/null || break
    sleep 0.2
  done
  say "the emulator did not start:" >&2
  tail -n 20 "$WORK/emulator.log" >&2
  return 1
}

# aws_local REGION ARGS...: the AWS CLI of .venv against the emulator.
aws_local() {
  local region=$1
  shift
  .venv/bin/aws --endpoint-url "$ENDPOINT" --region "$region" --output text "$@"
}

expect() {
  # expect WHAT ACTUAL EXPECTED
  if [ "$2" = "$3" ]; then
    say "  ok: $1 = $3"
  else
    say "  wrong: $1 = '$2', expected '$3'" >&2
    return 1
  fi
}

# Seconds one terraform apply against the emulator may take (it takes about 30).
APPLY_TIMEOUT=${PILOTLIGHT_APPLY_TIMEOUT:-300}

# apply_example DIR VARS...: terraform apply of the example, bounded by APPLY_TIMEOUT.
apply_example() {
  local dir=$1
  shift
  TF_DATA_DIR=$WORK/tf-data/apply timeout "$APPLY_TIMEOUT" terraform -chdir="$dir" apply \
    -auto-approve -input=false -no-color "$@" >"$WORK/apply.log" 2>&1
}

# The example's Aurora global database (databases[] of kind aurora_global): the failover role's
# Aurora statements exist only with one, and scripts/check-iam.py reads the applied role policies.
AURORA_VAR='aurora_global_database={name = "ledger", global_cluster_id = "ledger-global", primary_cluster_id = "ledger-use1", secondary_cluster_id = "ledger-usw2", primary_endpoint = "ledger-use1.example.com"}'

# The emulator's partition and account: moto's, in every ARN it answers.
EMULATOR_PARTITION=aws EMULATOR_ACCOUNT=123456789012
# Encrypted snapshots: the key re-encrypting the copies in the DR region (snapshot_kms_keys, also the
# configuration's snapshots.kms_keys) and the source snapshots' key in the primary region
# (source_kms_key_arns). RDS uses both for a cross-region copy: the snapshot-copy role needs both.
# The DR key is a source key too (as for databases in the DR region): the role names it once.
DR_KMS_KEY=arn:$EMULATOR_PARTITION:kms:us-west-2:$EMULATOR_ACCOUNT:key/0d6c1b2a-3e4f-4a5b-8c7d-9e0f1a2b3c4d
SOURCE_KMS_KEY=arn:$EMULATOR_PARTITION:kms:us-east-1:$EMULATOR_ACCOUNT:key/5e4d3c2b-1a0f-4e9d-8c7b-6a5f4e3d2c1b
KMS_VARS=(-var "snapshot_kms_keys={\"us-west-2\" = \"$DR_KMS_KEY\"}"
  -var "source_kms_key_arns=[\"$SOURCE_KMS_KEY\", \"$DR_KMS_KEY\"]")

# The DR drill's validation function (the configuration's drill.validation_function): the failover
# role's InvokeDrillValidationFunction statement exists only with one, and scripts/check-iam.py
# reads the applied role policies. The drill schedule stays at its default (disabled).
DRILL_VALIDATION_FUNCTION=arn:$EMULATOR_PARTITION:lambda:us-west-2:$EMULATOR_ACCOUNT:function:orders-drill-check
DRILL_VAR="drill_validation_function_arn=$DRILL_VALIDATION_FUNCTION"

# lambda_policies: each function's resource-policy statement ids on the emulator (a Sid listed
# twice is the duplicate described at the destroy below).
lambda_policies() {
  local fn
  for fn in $(aws_local us-west-2 lambda list-functions --query 'Functions[].FunctionName' --output text); do
    echo "  $fn: $(aws_local us-west-2 lambda get-policy --function-name "$fn" --query Policy --output text 2>/dev/null |
      "$PYTHON" -c 'import json,sys; t=sys.stdin.read().strip(); print(sorted(s.get("Sid","") for s in json.loads(t)["Statement"]) if t else [])')"
  done
}

check_emulator_apply() {
  local copy=$WORK/apply/terraform dir=$WORK/apply/terraform/examples/complete
  local vars=(-var "local_endpoint=$ENDPOINT" -var "artifacts_dir=$WORK/artifacts" -var "$AURORA_VAR" -var "$DRILL_VAR" "${KMS_VARS[@]}")
  copy_terraform "$copy"
  make_placeholder_artifacts
  # Nothing from a developer's AWS configuration may leak into the run.
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-west-2
  export AWS_CONFIG_FILE=$WORK/no-aws-config AWS_SHARED_CREDENTIALS_FILE=$WORK/no-aws-credentials
  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_REGION

  tf apply -chdir="$dir" init -input=false -no-color -plugin-dir="$PLUGIN_DIR" >"$WORK/init-apply.log" ||
    { cat "$WORK/init-apply.log" >&2; return 1; }
  say "terraform apply (examples/complete, local_endpoint=$ENDPOINT)"
  if ! apply_example "$dir" "${vars[@]}"; then
    # moto's server has been seen to lose the answer to a CreateFunction under load; the provider
    # then retries into "Function already exist" (409) until its 10-minute create timeout. Bounded
    # above, and retried once from scratch: a fresh emulator and an empty state, which must pass.
    tail -n 20 "$WORK/apply.log" >&2
    say "terraform apply did not finish in ${APPLY_TIMEOUT}s: once more on a fresh emulator" >&2
    kill "$EMULATOR_PID" 2>/dev/null || true
    rm -f "$dir"/terraform.tfstate "$dir"/terraform.tfstate.backup
    start_emulator || return 1
    vars=(-var "local_endpoint=$ENDPOINT" -var "artifacts_dir=$WORK/artifacts" -var "$AURORA_VAR" -var "$DRILL_VAR" "${KMS_VARS[@]}")
    if ! apply_example "$dir" "${vars[@]}"; then
      tail -n 40 "$WORK/apply.log" >&2
      return 1
    fi
  fi
  grep -E '^Apply complete' "$WORK/apply.log"

  tf apply -chdir="$dir" state list >"$WORK/state.txt"
  say "  $(wc -l <"$WORK/state.txt") objects in the state"
  local address missing=0
  for address in \
    'module.health_check.aws_route53_health_check.primary["orders"]' \
    'module.health_check.aws_cloudwatch_metric_alarm.primary_unhealthy["orders"]' \
    'module.health_check.aws_route53_health_check.primary["ledger"]' \
    'module.health_check.aws_cloudwatch_metric_alarm.primary_unhealthy["ledger"]' \
    'module.health_check.aws_sns_topic.alarms' \
    'module.pilotlight.aws_sns_topic.notifications' \
    'module.pilotlight.aws_sns_topic.alarms' \
    'module.pilotlight.aws_sns_topic_subscription.health_alarm[0]' \
    'module.pilotlight.aws_lambda_permission.health_alarm[0]' \
    'module.pilotlight.aws_cloudwatch_dashboard.main' \
    'module.pilotlight.aws_cloudwatch_event_rule.router["alarm-state-change"]' \
    'module.pilotlight.aws_cloudwatch_event_rule.router["snapshot-copy-schedule"]' \
    'module.pilotlight.aws_cloudwatch_event_rule.router["retention-schedule"]' \
    'module.pilotlight.aws_cloudwatch_event_rule.router["reconcile-schedule"]' \
    'module.pilotlight.aws_cloudwatch_event_rule.router["drill-schedule"]' \
    'module.pilotlight.aws_cloudwatch_event_rule.router["snapshot-events"]' \
    'module.pilotlight.aws_dynamodb_table.ledger'; do
    grep -qxF "$address" "$WORK/state.txt" || { say "  missing: $address" >&2; missing=1; }
  done
  local f
  for f in "${FUNCTIONS[@]}"; do
    for address in "aws_lambda_function.function" "aws_lambda_function_event_invoke_config.function" \
      "aws_iam_role.function" "aws_iam_role_policy.function" "aws_sqs_queue.dlq" \
      "aws_cloudwatch_log_group.function" "aws_cloudwatch_metric_alarm.errors"; do
      grep -qxF "module.pilotlight.$address[\"$f\"]" "$WORK/state.txt" ||
        { say "  missing: module.pilotlight.$address[\"$f\"]" >&2; missing=1; }
    done
  done
  [ "$missing" = 0 ]

  # A few resources read back through the AWS API, as a user would see them.
  local account=$EMULATOR_ACCOUNT partition=$EMULATOR_PARTITION region=us-west-2 retention_role failover_role snapshot_copy_role
  # No reservation: failover's runs for one database are serialised by a lease in the ledger.
  expect "failover reserved concurrency (none)" \
    "$(aws_local $region lambda get-function-concurrency --function-name pilotlight-failover --query ReservedConcurrentExecutions)" None
  expect "failover runtime/arch/timeout/memory" \
    "$(aws_local $region lambda get-function-configuration --function-name pilotlight-failover \
      --query '[Runtime, Architectures[0], Timeout, MemorySize]')" "provided.al2023${TAB}arm64${TAB}900${TAB}128"
  expect "router on-failure destination" \
    "$(aws_local $region lambda get-function-event-invoke-config --function-name pilotlight-router \
      --query DestinationConfig.OnFailure.Destination)" "arn:$partition:sqs:$region:$account:pilotlight-router-dlq"
  expect "health alarm topic (us-east-1) -> router" \
    "$(aws_local us-east-1 sns list-subscriptions-by-topic \
      --topic-arn "arn:$partition:sns:us-east-1:$account:pilotlight-health-alarms" --query 'Subscriptions[0].[Protocol, Endpoint]')" \
    "lambda${TAB}arn:$partition:lambda:$region:$account:function:pilotlight-router"
  expect "snapshot-copy schedule input" \
    "$(aws_local $region events list-targets-by-rule --rule pilotlight-snapshot-copy-schedule --query 'Targets[0].Input')" \
    '{"command":"snapshot-copy","invoke":"async"}'
  expect "reconcile schedule" \
    "$(aws_local $region events describe-rule --name pilotlight-reconcile-schedule --query ScheduleExpression)" 'rate(1 minute)'
  expect "reconcile schedule input" \
    "$(aws_local $region events list-targets-by-rule --rule pilotlight-reconcile-schedule --query 'Targets[0].[Arn, Input]')" \
    "arn:$partition:lambda:$region:$account:function:pilotlight-router${TAB}"'{"command":"reconcile","invoke":"async"}'
  # The monthly DR drill restores (and bills) an instance per database: off unless enabled.
  expect "drill schedule (disabled by default)" \
    "$(aws_local $region events describe-rule --name pilotlight-drill-schedule --query '[ScheduleExpression, State]')" \
    "cron(0 6 1 * ? *)${TAB}DISABLED"
  expect "drill schedule input" \
    "$(aws_local $region events list-targets-by-rule --rule pilotlight-drill-schedule --query 'Targets[0].[Arn, Input]')" \
    "arn:$partition:lambda:$region:$account:function:pilotlight-router${TAB}"'{"command":"drill","invoke":"async"}'
  expect "alarm-state-change rule matches only the configured alarms" \
    "$(aws_local $region events describe-rule --name pilotlight-alarm-state-change --query EventPattern |
      "$PYTHON" -c 'import json,sys; print(sorted(json.load(sys.stdin)["resources"]))')" \
    "['arn:$partition:cloudwatch:us-east-1:$account:alarm:pilotlight-ledger-primary-unhealthy', 'arn:$partition:cloudwatch:us-east-1:$account:alarm:pilotlight-orders-primary-unhealthy']"
  # Only the RDS events that can start work (created, copy finished; never RDS-EVENT-0041, a
  # deletion), and the same pattern as the SAM template's SnapshotEventRule.
  expect "snapshot-events rule pattern (the same as SAM's SnapshotEventRule)" \
    "$(aws_local $region events describe-rule --name pilotlight-snapshot-events --query EventPattern |
      .venv/bin/python -B -c 'import json, sys, yaml
sys.path.insert(0, "emulator")
from iam_enforcement import _CfnLoader
applied = json.load(sys.stdin)
with open("infra/sam/template.yaml") as f:
    sam = yaml.load(f, Loader=_CfnLoader)["Resources"]["SnapshotEventRule"]["Properties"]["EventPattern"]
print(json.dumps(applied, sort_keys=True) if applied == sam else f"Terraform {applied} != SAM {sam}")')" \
    '{"detail": {"EventID": ["RDS-EVENT-0042", "RDS-EVENT-0060", "RDS-EVENT-0197", "RDS-EVENT-0075"], "SourceIdentifier": [{"prefix": "pilotlight-"}]}, "detail-type": ["RDS DB Snapshot Event", "RDS DB Cluster Snapshot Event"], "source": ["aws.rds"]}'
  expect "ledger table" \
    "$(aws_local $region dynamodb describe-table --table-name pilotlight-ledger --query \
      'Table.[BillingModeSummary.BillingMode, KeySchema[0].AttributeName, KeySchema[0].KeyType, KeySchema[1].AttributeName, KeySchema[1].KeyType, SSEDescription.Status, DeletionProtectionEnabled]')" \
    "PAY_PER_REQUEST${TAB}pk${TAB}HASH${TAB}sk${TAB}RANGE${TAB}ENABLED${TAB}True"
  expect "ledger point-in-time recovery" \
    "$(aws_local $region dynamodb describe-continuous-backups --table-name pilotlight-ledger \
      --query ContinuousBackupsDescription.PointInTimeRecoveryDescription.PointInTimeRecoveryStatus)" ENABLED
  expect "dead-letter queue encryption" \
    "$(aws_local $region sqs get-queue-attributes --attribute-names SqsManagedSseEnabled \
      --queue-url "$ENDPOINT/$account/pilotlight-failover-dlq" --query Attributes.SqsManagedSseEnabled)" true
  failover_role=$(tf apply -chdir="$dir" output -json role_arns | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["failover"].split("/")[-1])')
  expect "failover's Aurora statements name the configured global cluster and clusters" \
    "$(aws_local $region iam get-role-policy --role-name "$failover_role" --policy-name failover --output json |
      "$PYTHON" -c 'import json,sys
doc = json.load(sys.stdin)["PolicyDocument"]
doc = json.loads(doc) if isinstance(doc, str) else doc
res = lambda r: sorted(r if isinstance(r, list) else [r])
by_sid = {s["Sid"]: res(s["Resource"]) for s in doc["Statement"] if s.get("Sid") and "Resource" in s}
print(by_sid["DescribeProtectedGlobalClusters"], by_sid["SwitchOverOrFailOverConfiguredGlobalClusters"], by_sid["FenceConfiguredClusters"], sep="\n")')" \
    "['arn:$partition:rds::$account:global-cluster:ledger-global']
['arn:$partition:rds::$account:global-cluster:ledger-global', 'arn:$partition:rds:us-east-1:$account:cluster:ledger-use1', 'arn:$partition:rds:us-west-2:$account:cluster:ledger-usw2']
['arn:$partition:rds:us-east-1:$account:cluster:ledger-use1', 'arn:$partition:rds:us-west-2:$account:cluster:ledger-usw2']"
  # The drill deletes only its own instances: every Allow of rds:DeleteDBInstance is limited to
  # db:pilotlight-drill-* and conditioned on the pilotlight:drill tag, and two Denies refuse any
  # other instance whatever policy is attached later; the validation function is the one configured.
  expect "failover deletes only drill instances (rds:db-tag/pilotlight:drill)" \
    "$(aws_local $region iam get-role-policy --role-name "$failover_role" --policy-name failover --output json |
      DRILL_VALIDATION_FUNCTION=$DRILL_VALIDATION_FUNCTION "$PYTHON" -c 'import json, os, sys
doc = json.load(sys.stdin)["PolicyDocument"]
doc = json.loads(doc) if isinstance(doc, str) else doc
acts = lambda s: s.get("Action") if isinstance(s.get("Action"), list) else [s.get("Action")]
res = lambda r: sorted(r if isinstance(r, list) else [r])
deletes = [s for s in doc["Statement"] if "rds:DeleteDBInstance" in acts(s) or "rds:*" in acts(s)]
allow = [s for s in deletes if s["Effect"] == "Allow"]
deny = [s for s in deletes if s["Effect"] == "Deny"]
tagged = lambda s: "*" in str(s.get("Condition", {}).get("StringLike", {}).get("rds:db-tag/pilotlight:drill"))
named = lambda s: all(r.endswith(":db:pilotlight-drill-*") for r in res(s.get("Resource", "*")))
by_sid = {s["Sid"]: res(s["Resource"]) for s in doc["Statement"] if s.get("Sid") and "Resource" in s}
print(len(allow) == 1 and all(tagged(s) and named(s) for s in allow),
      sorted(s["Sid"] for s in deny),
      by_sid.get("InvokeDrillValidationFunction") == [os.environ["DRILL_VALIDATION_FUNCTION"]])')" \
    "True ['NeverDeleteInstancesNotNamedAsDrills', 'NeverDeleteInstancesNotTaggedAsDrills'] True"
  # The failback: the new instance only as db:*-fb-* (its identifier is <primary id, possibly cut
  # and hashed>-fb-<stamp>), created only with the pilotlight:failback and pilotlight:managed-by
  # request tags and only from the configured replica, promoted only when tagged pilotlight:failback;
  # the DR writer's fence only on the configured replica. The configured instances' statements are
  # grouped by resource (each ARN list once per statement kind: the role's policy size).
  expect "failover's statements on the configured instances and the failback's (new instance db:*-fb-*)" \
    "$(aws_local $region iam get-role-policy --role-name "$failover_role" --policy-name failover --output json |
      "$PYTHON" -c 'import json,sys
doc = json.load(sys.stdin)["PolicyDocument"]
doc = json.loads(doc) if isinstance(doc, str) else doc
res = lambda r: sorted(r if isinstance(r, list) else [r])
by_sid = {s["Sid"]: s for s in doc["Statement"] if s.get("Sid")}
cond = lambda sid: json.dumps(by_sid[sid].get("Condition"), sort_keys=True)
print(sorted(sid for sid in by_sid if sid.startswith("Failback")))
for sid in ("ReadAndFenceConfiguredPrimaries", "ReadPromoteFenceAndReplicateConfiguredReplicas", "FailbackCreateReplica",
            "FailbackTagNewInstance", "FailbackDescribeNewInstance", "FailbackPromoteNewPrimary"):
    print(sid, res(by_sid[sid]["Action"]), res(by_sid[sid]["Resource"]), cond(sid))')" \
    "['FailbackCreateReplica', 'FailbackDescribeNewInstance', 'FailbackPromoteNewPrimary', 'FailbackTagNewInstance']
ReadAndFenceConfiguredPrimaries ['rds:DescribeDBInstances', 'rds:ModifyDBInstance', 'rds:RebootDBInstance', 'rds:StopDBInstance'] ['arn:$partition:rds:us-east-1:$account:db:orders-primary'] null
ReadPromoteFenceAndReplicateConfiguredReplicas ['rds:CreateDBInstanceReadReplica', 'rds:DescribeDBInstances', 'rds:ModifyDBInstance', 'rds:PromoteReadReplica', 'rds:RebootDBInstance'] ['arn:$partition:rds:us-west-2:$account:db:orders-replica'] null
FailbackCreateReplica ['rds:CreateDBInstanceReadReplica'] ['arn:$partition:rds:*:$account:db:*-fb-*', 'arn:$partition:rds:*:$account:og:*', 'arn:$partition:rds:*:$account:pg:*', 'arn:$partition:rds:*:$account:subgrp:*'] {\"StringEquals\": {\"aws:RequestTag/pilotlight:managed-by\": \"pilotlight\"}, \"StringLike\": {\"aws:RequestTag/pilotlight:failback\": \"*\"}}
FailbackTagNewInstance ['rds:AddTagsToResource'] ['arn:$partition:rds:*:$account:db:*-fb-*'] {\"ForAllValues:StringLike\": {\"aws:TagKeys\": \"pilotlight:*\"}}
FailbackDescribeNewInstance ['rds:DescribeDBInstances'] ['arn:$partition:rds:*:$account:db:*-fb-*'] null
FailbackPromoteNewPrimary ['rds:PromoteReadReplica'] ['arn:$partition:rds:*:$account:db:*-fb-*'] {\"StringLike\": {\"rds:db-tag/pilotlight:failback\": \"*\"}}"
  snapshot_copy_role=$(tf apply -chdir="$dir" output -json role_arns | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["snapshot-copy"].split("/")[-1])')
  # Both ends of a cross-region copy of an encrypted snapshot, each once (the example passes
  # snapshot_kms_keys and source_kms_key_arns together, without duplicates, as kms_key_arns).
  expect "snapshot-copy's KMS statements name the source and the DR snapshot keys" \
    "$(aws_local $region iam get-role-policy --role-name "$snapshot_copy_role" --policy-name snapshot-copy --output json |
      "$PYTHON" -c 'import json,sys
doc = json.load(sys.stdin)["PolicyDocument"]
doc = json.loads(doc) if isinstance(doc, str) else doc
res = lambda r: sorted(r if isinstance(r, list) else [r])
by_sid = {s["Sid"]: res(s["Resource"]) for s in doc["Statement"] if s.get("Sid") and "Resource" in s}
print(by_sid["UseSnapshotKeysThroughRds"], by_sid["GrantSnapshotKeysToRds"], by_sid["DescribeSnapshotKeys"], sep="\n")')" \
    "$(printf "['%s', '%s']\n" "$SOURCE_KMS_KEY" "$DR_KMS_KEY" "$SOURCE_KMS_KEY" "$DR_KMS_KEY" "$SOURCE_KMS_KEY" "$DR_KMS_KEY")"
  retention_role=$(tf apply -chdir="$dir" output -json role_arns | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["retention"].split("/")[-1])')
  expect "retention deletes only tagged snapshots" \
    "$(aws_local $region iam get-role-policy --role-name "$retention_role" --policy-name retention --output json |
      "$PYTHON" -c 'import json,sys
doc = json.load(sys.stdin)["PolicyDocument"]
doc = json.loads(doc) if isinstance(doc, str) else doc
allow = [s for s in doc["Statement"] if s["Effect"] == "Allow" and "Delete" in str(s["Action"])]
print(all("pilotlight:managed-by" in str(s.get("Condition")) for s in allow) and len(allow) == 2)')" True

  # The role policies as Terraform rendered them, for scripts/check-iam.py (make test).
  if [ -n "${PILOTLIGHT_TERRAFORM_POLICIES:-}" ]; then
    tf apply -chdir="$dir" output -json role_arns >"$WORK/role_arns.json"
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test .venv/bin/python - "$ENDPOINT" "$WORK/role_arns.json" \
      "$PILOTLIGHT_TERRAFORM_POLICIES" <<'PY' || return 1
import json, sys, boto3
endpoint, arns, out = sys.argv[1:4]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
policies = {}
for function, arn in json.load(open(arns)).items():
    role = arn.split("/")[-1]
    docs = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        docs.append(json.loads(doc) if isinstance(doc, str) else doc)
    policies[function] = docs
json.dump(policies, open(out, "w"), indent=1)
print(f"  role policies of {sorted(policies)} written to {out}")
PY
  fi

  # The ledger's deletion protection refuses terraform destroy (the emulator enforces it, as AWS
  # does): lift it first, as an operator removing a deployment would (or ledger_deletion_protection = false).
  aws_local $region dynamodb update-table --table-name pilotlight-ledger --no-deletion-protection-enabled >/dev/null
  say "terraform destroy"
  if ! tf apply -chdir="$dir" destroy -auto-approve -input=false -no-color "${vars[@]}" >"$WORK/destroy.log" 2>&1; then
    tail -n 40 "$WORK/destroy.log" >&2
    # Seen once in CI, after a slow apply: "waiting for Lambda Permission (pilotlight-router/...)
    # delete: found resource". RemovePermission removes one statement per Sid; when an
    # AddPermission was sent twice (the SDK retrying a request whose answer the loaded emulator
    # lost), moto keeps both statements, where Lambda would have refused the second
    # (ResourceConflictException). The policies as they are now, then one more destroy (it
    # removes the second copy); a second failure fails the step.
    lambda_policies >&2 || true
    say "terraform destroy failed: once more (see the policies above)" >&2
    if ! tf apply -chdir="$dir" destroy -auto-approve -input=false -no-color "${vars[@]}" >"$WORK/destroy.log" 2>&1; then
      tail -n 40 "$WORK/destroy.log" >&2
      return 1
    fi
  fi
  grep -E '^Destroy complete' "$WORK/destroy.log"
  expect "objects left in the state" "$(tf apply -chdir="$dir" state list | wc -l | tr -d ' ')" 0
}

# -------------------------------------------------------------------------------------------------
step "install tools ($REQUIREMENTS)" install_tools
if [ ! -x "$TOOLS/cfn-lint/bin/cfn-lint" ] || [ ! -x "$TOOLS/checkov/bin/checkov" ]; then
  say "FAILED: cfn-lint and checkov are required; see the pip output above"
  exit 1
fi
SAM_SKIP=$(cat "$WORK/sam-skip" 2>/dev/null || true)
[ -n "$SAM_SKIP" ] || [ -x "$TOOLS/aws-sam-cli/bin/sam" ] || SAM_SKIP="aws-sam-cli is not installed"

step "cfn-lint" check_cfn_lint
if [ -z "$SAM_SKIP" ]; then
  step "sam validate --lint" check_sam_validate
else
  skip "sam validate --lint" "$SAM_SKIP"
fi
if .venv/bin/python -c 'import yaml' 2>/dev/null; then
  step "failover role policy size, SAM (1, 5, $SIZE_DATABASES databases; quota $ROLE_POLICY_QUOTA)" check_policy_size_sam
else
  skip "failover role policy size, SAM" "PyYAML is not in .venv (emulator/iam_enforcement.py resolves the template): run make setup"
fi

# A TF_CLI_CONFIG_FILE naming a missing file only adds a warning to every terraform command.
if [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -f "$TF_CLI_CONFIG_FILE" ]; then
  unset TF_CLI_CONFIG_FILE
fi
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
PLUGIN_DIR=""
if ! command -v terraform >/dev/null; then
  skip "terraform fmt" "terraform is not installed"
  skip "terraform validate" "terraform is not installed"
else
  step "terraform fmt -check" check_terraform_fmt
  if PLUGIN_DIR=$(find_plugin_dir); then
    say "terraform provider plugins: $PLUGIN_DIR"
    step "terraform validate (modules/pilotlight, modules/health-check, modules/alarm-topic-key, examples/complete)" check_terraform_validate
    if .venv/bin/python -c 'import yaml' 2>/dev/null; then
      step "failover role policy size, Terraform (1, 5, $SIZE_DATABASES databases; quota $ROLE_POLICY_QUOTA)" check_policy_size_terraform
    else
      skip "failover role policy size, Terraform" "PyYAML is not in .venv: run make setup"
    fi
  else
    skip "terraform validate" "no local plugin directory with registry.terraform.io/hashicorp/aws (set TF_PLUGIN_DIR)"
  fi
fi

step "checkov (infra/sam)" check_checkov_sam
step "checkov (infra/terraform)" check_checkov_terraform

ENDPOINT=""
if [ -z "$PLUGIN_DIR" ]; then
  skip "terraform apply/destroy on the emulator" "terraform or its local plugin directory is missing"
elif ! .venv/bin/python -c 'import moto' 2>/dev/null || [ ! -x .venv/bin/aws ]; then
  skip "terraform apply/destroy on the emulator" "moto and the AWS CLI are not in .venv: run make setup"
else
  # Started from this shell (not a step's subshell) so that the EXIT trap can stop it.
  say "== start the emulator"
  if start_emulator; then
    step "terraform apply/check/destroy on the emulator (examples/complete)" check_emulator_apply
  else
    RESULTS+=("FAIL  start the emulator")
    FAILED=$((FAILED + 1))
  fi
fi

echo
say "results:"
printf '  %s\n' "${RESULTS[@]}"
ELAPSED=$((SECONDS - START))
if [ "$FAILED" = 0 ]; then
  say "OK: $PASSED passed, $SKIPPED skipped, 0 failed in ${ELAPSED}s"
else
  say "FAILED: $PASSED passed, $SKIPPED skipped, $FAILED failed in ${ELAPSED}s"
  exit 1
fi
