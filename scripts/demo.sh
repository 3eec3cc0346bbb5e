#!/usr/bin/env bash
# pilotlight's main job on this machine, no AWS account: an alarm on a primary database becomes a
# promoted cross-region replica, a repointed DNS record and an SNS notification.
#
# Starts the local AWS emulator and `cargo lambda watch` on free loopback ports, builds the world
# with the real AWS CLI, triggers the router exactly as SNS would, prints what happened, and stops
# everything it started (also on Ctrl-C or failure).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv
PY=$VENV/bin/python
AWS=$VENV/bin/aws
export PATH="$VENV/bin:$PATH"

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-west-2 AWS_PAGER=""
PRIMARY_REGION=us-east-1
DR_REGION=us-west-2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pilotlight-demo.XXXXXX")   # logs live outside the crates
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "== stopped the emulator and the functions; logs were in $WORK"
}
trap cleanup EXIT INT TERM

say() { printf '\n== %s\n' "$*"; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

say "building the functions (debug)"
cargo build --quiet --bin router --bin failover --bin snapshot-copy --bin retention

say "starting the AWS emulator (moto + pilotlight's patches)"
set -m
# Promotions finish at once here: under cargo lambda watch a failover invocation reaches its Lambda
# deadline at once, and the demo shows the failover path, not the wait (tests cover the wait).
"$PY" emulator/pilotlight_emulator.py --port 0 --promotion-seconds 0 --parent-pid $$ >"$WORK/emulator.out" 2>"$WORK/emulator.log" &
PIDS+=($!)
set +m
for _ in $(seq 100); do grep -q READY "$WORK/emulator.out" 2>/dev/null && break; sleep 0.1; done
EMU=$(awk '/READY/{print $2}' "$WORK/emulator.out")
[ -n "$EMU" ] || { echo "the emulator did not start:"; cat "$WORK/emulator.log"; exit 1; }
echo "emulator at $EMU"
aws_() { "$AWS" --endpoint-url "$EMU" "$@"; }

say "creating the primary in $PRIMARY_REGION and its read replica in $DR_REGION"
PRIMARY_ARN=$(aws_ rds create-db-instance --region $PRIMARY_REGION --db-instance-identifier orders-primary \
  --engine postgres --db-instance-class db.t3.micro --allocated-storage 20 \
  --master-username pilotlight --master-user-password not-a-secret-1 --query DBInstance.DBInstanceArn --output text)
PRIMARY_ENDPOINT=$(aws_ rds describe-db-instances --region $PRIMARY_REGION --db-instance-identifier orders-primary \
  --query 'DBInstances[0].Endpoint.Address' --output text)
aws_ rds create-db-instance-read-replica --region $DR_REGION --db-instance-identifier orders-replica \
  --source-db-instance-identifier "$PRIMARY_ARN" --query 'DBInstance.[DBInstanceIdentifier,ReadReplicaSourceDBInstanceIdentifier]' --output text

say "creating the hosted zone, the CNAME to the primary, the health check and its alarm"
ZONE_ID=$(aws_ route53 create-hosted-zone --name example.internal --caller-reference demo-zone \
  --query HostedZone.Id --output text | sed 's#/hostedzone/##')
aws_ route53 change-resource-record-sets --hosted-zone-id "$ZONE_ID" --change-batch \
  "{\"Changes\":[{\"Action\":\"CREATE\",\"ResourceRecordSet\":{\"Name\":\"orders-db.example.internal\",\"Type\":\"CNAME\",\"TTL\":60,\"ResourceRecords\":[{\"Value\":\"$PRIMARY_ENDPOINT\"}]}}]}" >/dev/null
HC_ID=$(aws_ route53 create-health-check --caller-reference demo-hc \
  --health-check-config "Type=TCP,FullyQualifiedDomainName=$PRIMARY_ENDPOINT,Port=5432" --query HealthCheck.Id --output text)
aws_ cloudwatch put-metric-alarm --region $PRIMARY_REGION --alarm-name orders-primary-unhealthy \
  --namespace AWS/Route53 --metric-name HealthCheckStatus --dimensions "Name=HealthCheckId,Value=$HC_ID" \
  --statistic Minimum --period 60 --evaluation-periods 1 --threshold 1 --comparison-operator LessThanThreshold
aws_ cloudwatch set-alarm-state --region $PRIMARY_REGION --alarm-name orders-primary-unhealthy --state-value OK --state-reason "primary healthy"
aws_ cloudwatch put-metric-data --region $DR_REGION --namespace AWS/RDS --metric-name ReplicaLag \
  --dimensions DBInstanceIdentifier=orders-replica --value 3

say "creating the notification topic with a queue subscribed"
TOPIC_ARN=$(aws_ sns create-topic --region $DR_REGION --name pilotlight-notifications --query TopicArn --output text)
QUEUE_URL=$(aws_ sqs create-queue --region $DR_REGION --queue-name pilotlight-notifications --query QueueUrl --output text)
aws_ sns subscribe --region $DR_REGION --topic-arn "$TOPIC_ARN" --protocol sqs \
  --notification-endpoint "arn:aws:sqs:$DR_REGION:123456789012:pilotlight-notifications" \
  --attributes RawMessageDelivery=true >/dev/null

say "creating the operations ledger (DynamoDB: the audit trail and the per-database lease)"
aws_ dynamodb create-table --region $DR_REGION --table-name pilotlight-ledger \
  --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S \
  --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
  --billing-mode PAY_PER_REQUEST >/dev/null

export PILOTLIGHT_CONFIG=$(cat <<EOF
{"databases":[{"name":"orders",
  "primary":{"region":"$PRIMARY_REGION","instance_id":"orders-primary"},
  "replica":{"region":"$DR_REGION","instance_id":"orders-replica"},
  "records":[{"hosted_zone_id":"$ZONE_ID","name":"orders-db.example.internal","type":"CNAME","ttl":60}],
  "alarms":[{"name":"orders-primary-unhealthy","region":"$PRIMARY_REGION"}],
  "health_check_id":"$HC_ID","rpo_budget_seconds":300,
  "failback":{"security_group_ids":["sg-0fb0fb0fb0fb0fb0f"],"max_lag_seconds":30}}],
 "notifications":{"topic_arn":"$TOPIC_ARN"},
 "ledger":{"table_name":"pilotlight-ledger"},
 "functions":{"failover":"failover","snapshot_copy":"snapshot-copy","retention":"retention"},
 "snapshots":{"dr_regions":["$DR_REGION"]},
 "failover":{"deadline_seconds":120,"poll_interval_ms":200,"max_poll_interval_ms":2000}}
EOF
)

say "starting the functions under cargo lambda watch"
WATCH_PORT=$(free_port)
set -m
AWS_ENDPOINT_URL=$EMU AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:$WATCH_PORT RUST_LOG=info \
  cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$WATCH_PORT" --ignore-changes \
  >"$WORK/functions.log" 2>&1 &
PIDS+=($!)
set +m
for _ in $(seq 300); do
  (echo >/dev/tcp/127.0.0.1/"$WATCH_PORT") 2>/dev/null && break; sleep 0.2
done
invoke() { # invoke FUNCTION PAYLOAD_FILE OUT_FILE
  "$AWS" lambda invoke --cli-read-timeout 0 --endpoint-url "http://127.0.0.1:$WATCH_PORT" --region $DR_REGION \
    --function-name "$1" --payload "file://$2" "$3" >"$WORK/invoke-meta.json"
}

say "status, through the router (aws lambda invoke)"
echo '{"command": "status"}' >"$WORK/status.json"
invoke router "$WORK/status.json" "$WORK/status-out.json"
"$PY" - "$WORK/status-out.json" <<'EOF'
import json, sys
status = json.load(open(sys.argv[1]))
if "databases" not in status:
    sys.exit(f"status failed: {status}")
for d in status["databases"]:
    r, p = d["replica"], d["primary"].get("Ok") or {}
    print(f"database {d['database']}: primary {p.get('instance_id')} is {p.get('status')}; "
          f"replica {r['instance_id']} is {r['status']}, replica of {r['replica_source']}; lag {d['replica_lag_seconds']} s")
    for rec in d["records"]:
        print(f"  record {rec['record']['name']} -> {rec['values']}")
    for a in d["alarms"]:
        print(f"  alarm {a['name']}: {a['state']}")
EOF

say "the primary fails: RDS reports it failed, health check failing, the replica loses its source (read replication: error), alarm to ALARM"
curl -s -X PUT -H 'content-type: application/json' -d '{"status":"failed"}' \
  "$EMU/_pilotlight/instances/$PRIMARY_REGION/orders-primary/status" >/dev/null
curl -s -X PUT -H 'content-type: application/json' -d '{"status":"Failure"}' "$EMU/_pilotlight/health-checks/$HC_ID" >/dev/null
curl -s -X PUT -H 'content-type: application/json' \
  -d '{"status":"error","message":"Replication has stopped: the source is unreachable."}' \
  "$EMU/_pilotlight/instances/$DR_REGION/orders-replica/replication" >/dev/null
aws_ cloudwatch set-alarm-state --region $PRIMARY_REGION --alarm-name orders-primary-unhealthy --state-value ALARM \
  --state-reason "Threshold Crossed: 1 out of the last 1 datapoints [0.0] was less than the threshold (1.0)."
# CloudWatch alarm actions never fire in the emulator: deliver the SNS notification ourselves,
# in the exact envelope SNS gives Lambda, with the current time.
"$PY" - "$ROOT/events/sns-alarm-orders-alarm.json" "$WORK/alarm.json" <<'EOF'
import json, sys, datetime
event = json.load(open(sys.argv[1]))
now = datetime.datetime.now(datetime.timezone.utc)
msg = json.loads(event["Records"][0]["Sns"]["Message"])
msg["StateChangeTime"] = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"
event["Records"][0]["Sns"]["Message"] = json.dumps(msg)
event["Records"][0]["Sns"]["Timestamp"] = now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
json.dump(event, open(sys.argv[2], "w"))
EOF

say "SNS delivers the alarm to the router (aws lambda invoke)"
invoke router "$WORK/alarm.json" "$WORK/alarm-out.json"
cat "$WORK/alarm-out.json"; echo

say "waiting for the failover's result notification"
"$PY" - "$AWS" "$EMU" "$QUEUE_URL" "$DR_REGION" <<'EOF'
import json, subprocess, sys, time
aws, emu, queue, region = sys.argv[1:]
deadline = time.time() + 120
seen = []
while time.time() < deadline:
    out = subprocess.run([aws, "--endpoint-url", emu, "sqs", "receive-message", "--region", region, "--queue-url", queue,
                          "--max-number-of-messages", "10", "--wait-time-seconds", "1"], capture_output=True, text=True, check=True).stdout
    for m in json.loads(out or "{}").get("Messages", []):
        body = json.loads(m["Body"]); seen.append(body)
        r = body["report"]
        print(f"SNS message received: event={body['event']} outcome={r['outcome']} database={r['database']}")
        if body["event"] in ("result", "failed", "refused"):
            print("\nfailover report:")
            print(json.dumps(r, indent=2))
            sys.exit(0 if r["outcome"] == "failed_over" else 1)
    time.sleep(0.5)
print("no result notification within 120 s"); sys.exit(1)
EOF

say "the DNS record now"
aws_ route53 list-resource-record-sets --hosted-zone-id "$ZONE_ID" \
  --query "ResourceRecordSets[?Name=='orders-db.example.internal.']" --output json
say "the promoted replica now"
aws_ rds describe-db-instances --region $DR_REGION --db-instance-identifier orders-replica \
  --query 'DBInstances[0].{id:DBInstanceIdentifier,status:DBInstanceStatus,replica_of:ReadReplicaSourceDBInstanceIdentifier,endpoint:Endpoint.Address}'
say "the old primary comes back (available): a failover run fences it (stopped and tagged), so clients with a cached DNS answer cannot write to it"
curl -s -X DELETE "$EMU/_pilotlight/instances/$PRIMARY_REGION/orders-primary/status" >/dev/null
echo '{"command": "failover", "database": "orders", "reason": "the old primary is back"}' >"$WORK/fence-in.json"
invoke router "$WORK/fence-in.json" "$WORK/fence.json"
"$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print("outcome", r["outcome"] + ":", r.get("fencing"))' "$WORK/fence.json"
aws_ rds describe-db-instances --region $PRIMARY_REGION --db-instance-identifier orders-primary \
  --query 'DBInstances[0].{id:DBInstanceIdentifier,status:DBInstanceStatus,fenced_at:TagList[?Key==`pilotlight:fenced-at`]|[0].Value}'
say "history, through the router: the operations ledger (newest first)"
echo '{"command": "history", "database": "orders", "limit": 5}' >"$WORK/history-in.json"
invoke router "$WORK/history-in.json" "$WORK/history.json"
"$PY" - "$WORK/history.json" <<'EOF'
import json, sys
h = json.load(open(sys.argv[1]))
if "operations" not in h:
    sys.exit(f"history failed: {h}")
for op in h["operations"]:
    print(f"{op['opened_at']} {op['operation_id']}: {op['state']} ({op['outcome']}), {len(op['steps'])} steps, "
          f"{op['runs']} run(s), RTO {op.get('rto_seconds')} s, RPO {op.get('rpo_seconds')} s")
EOF
say "snapshot-copy, through the router: a snapshot of orders-primary, its copy in $DR_REGION, then the RPO exposure it reports"
echo '{"command": "snapshot-copy"}' >"$WORK/copy-in.json"
for pass in 1 2 3; do
  invoke router "$WORK/copy-in.json" "$WORK/copy-$pass.json"
  "$PY" - "$WORK/copy-$pass.json" "$pass" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
if "databases" not in r:
    sys.exit(f"snapshot-copy failed: {r}")
print(f"run {sys.argv[2]}:")
for d in r["databases"]:
    print(f"  {d['database']} ({d['region']}): snapshot {d['snapshot_created'] or '-'} {d['snapshot_status']}")
    for g in d["regions"]:
        exposure = g.get("rpo_exposure_seconds")
        print(f"    {g['region']}: copies started {g['copies_started']}, present {g['copies_present']}, "
              f"RPO exposure {'none yet' if exposure is None else str(exposure) + ' s'} (target {g['rpo_target_seconds']} s)")
for q in r.get("quotas", []):
    days = q.get("days_to_full")
    print(f"  quota {q['region']} {q['kind']}: {q['used']} of {q['max']} used, reserve {q['reserve']}, "
          f"{'no growth' if days is None else f'full in {days:.0f} days'}")
EOF
done
say "retention dry-run, through the router: what the policy keeps and would delete (nothing is deleted)"
echo '{"command": "retention", "dry_run": true}' >"$WORK/retention-in.json"
invoke router "$WORK/retention-in.json" "$WORK/retention.json"
"$PY" - "$WORK/retention.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
if "results" not in r:
    sys.exit(f"retention failed: {r}")
for g in r["results"]:
    kept = ", ".join(f"{k['id']} ({'/'.join(k['rules'])})" for k in g.get("kept", []))
    print(f"  {g['database']} in {g['region']} ({g['role']}): keep {kept or '-'}; delete {g.get('deleted') or '-'}")
EOF
say "DR drill, through the router: restore the newest copy in $DR_REGION into a temporary instance, then delete it (each run advances it; the reconcile pass does the same every minute)"
echo '{"command": "drill", "database": "orders"}' >"$WORK/drill-in.json"
for pass in $(seq 1 20); do
  invoke router "$WORK/drill-in.json" "$WORK/drill-$pass.json"
  outcome=$("$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(r["drills"][0]["outcome"] if "drills" in r else "error: " + json.dumps(r))' "$WORK/drill-$pass.json")
  echo "run $pass: $outcome"
  case "$outcome" in passed|failed) break ;; error*) exit 1 ;; esac
  sleep 1
done
"$PY" - "$WORK/drill-$pass.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))["drills"][0]
rec = d.get("drill") or {}
print(f"drill of {d['database']}: {d['outcome']}; restored {rec.get('snapshot_id')} into {rec.get('instance_id')} in {rec.get('region')}")
print(f"  restore time (the snapshot path's RTO): {d.get('restore_seconds')} s; data age at the snapshot (its RPO): {d.get('data_age_seconds')} s")
print(f"  differences from the primary: {d.get('differences') or 'none'}; deleted at {rec.get('deleted_at')}")
if d["outcome"] != "passed":
    sys.exit(f"the drill did not pass: {d.get('reasons')}")
EOF
aws_ rds describe-db-instances --region $DR_REGION \
  --query 'DBInstances[?starts_with(DBInstanceIdentifier, `pilotlight-drill-`)].[DBInstanceIdentifier,DBInstanceStatus]' \
  --output text | sed 's/^/  drill instance now: /'

say "failback, phase prepare, through the router: a new replica of the DR writer back in $PRIMARY_REGION"
echo '{"command": "failback", "database": "orders", "phase": "prepare", "reason": "demo: back home"}' >"$WORK/prepare-in.json"
invoke router "$WORK/prepare-in.json" "$WORK/prepare.json"
NEW_ID=$("$PY" - "$WORK/prepare.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
if r.get("outcome") != "prepared":
    sys.exit(f"prepare did not finish: {json.dumps(r)[:2000]}")
rec = r["record"]
print(f"prepared: {rec['new_instance_id']} in {rec['new_region']} replicates from {rec['writer_id']}", file=sys.stderr)
print(rec["new_instance_id"])
EOF
)
aws_ rds describe-db-instances --region $PRIMARY_REGION --db-instance-identifier orders-primary \
  --query 'DBInstances[0].{old_primary:DBInstanceIdentifier,status:DBInstanceStatus,replaced_by:TagList[?Key==`pilotlight:replaced-by`]|[0].Value}'

say "failback, phase switch: fence the DR writer, wait for a zero replica lag after the fence, promote $NEW_ID, repoint the record"
# RDS publishes ReplicaLag every minute; the emulator does not replicate: the datapoints of the
# coming minutes say the new replica is caught up once the writer is fenced.
for ahead in 0 60 120; do
  aws_ cloudwatch put-metric-data --region $PRIMARY_REGION --namespace AWS/RDS --metric-name ReplicaLag \
    --dimensions DBInstanceIdentifier="$NEW_ID" --value 0 --timestamp "$(date -u -d "+$ahead seconds" +%Y-%m-%dT%H:%M:%SZ)"
done
echo '{"command": "failback", "database": "orders", "phase": "switch", "reason": "demo: back home"}' >"$WORK/switch-in.json"
invoke router "$WORK/switch-in.json" "$WORK/switch.json"
"$PY" - "$WORK/switch.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
if r.get("outcome") != "switched":
    sys.exit(f"switch did not finish: {json.dumps(r)[:3000]}")
print(f"switched: writes were unavailable for {r['write_unavailable_seconds']:.1f} s (fence request to DNS in sync)")
for s in r["steps"]:
    print(f"  {s['step']}: {s['detail']}")
print("next:")
for n in r["next"]:
    print(f"  - {n}")
EOF
aws_ route53 list-resource-record-sets --hosted-zone-id "$ZONE_ID" \
  --query "ResourceRecordSets[?Name=='orders-db.example.internal.'].ResourceRecords[0].Value" --output text | sed 's/^/  the record now: /'

say "done: the alarm became a promoted replica, a repointed record, a fenced old primary and notifications; the snapshot is copied to the DR region with its RPO exposure, retention says what it keeps, the drill restored and deleted the newest copy, and the failback brought the database home"
