#!/usr/bin/env bash
# make demo: sample findings -> the real ingest pipeline -> DynamoDB Local -> a table of incidents
# -> the table's stream -> the real forward code -> a local SIEM sink (JSON lines file).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
started=0
moto_started=0
FAKE_PID=""
cleanup() { [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null; [ "$started" = 1 ] && ddb_stop; [ "$moto_started" = 1 ] && moto_stop; return 0; }
trap cleanup EXIT
pidfile="$LOCAL/ddb.pid"
if ! { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }; then started=1; fi
ddb_start
log "building the vigil CLI (debug)"
cargo build --quiet -p vigil -p vigil-e2e --bin vigil --bin fake_aws --bin sim_org
export TABLE_NAME="vigil-demo-$(date +%s)"
export VIGIL_RUNBOOK="$ROOT/examples/runbook.yaml"
VIGIL="$ROOT/target/debug/vigil"
"$VIGIL" init-table
log "replaying tests/fixtures/events (EventBridge events, in file order) through the ingest handler"
"$VIGIL" replay tests/fixtures/events
echo
log "incidents in $TABLE_NAME:"
"$VIGIL" incidents
echo
log "the same incidents with their findings: $VIGIL incidents --findings   (JSON: --json)"
"$VIGIL" incidents --open --findings | sed -n '/^$/,$p' | sed -n 1,40p
echo
log "runbook triage: the example runbook's own tests (what a customer's CI runs)"
"$VIGIL" runbook check examples/runbook.yaml
"$VIGIL" runbook test examples/runbook.yaml
echo
log "replaying examples/findings: a scanner's port probe, a probe from an unknown address, root credential use in production"
"$VIGIL" replay examples/findings
echo
log "the scanner's probe is stored with its rule and reason, in no incident:"
"$VIGIL" explain arn:aws:guardduty:us-east-1:111111111111:detector/f00d9075f804ca0d4adbc07314f5f385/finding/demo0scanner0portprobe0web2
echo
ROOT_INCIDENT=$("$VIGIL" incidents --json | python3 -c 'import json,sys
for l in sys.stdin:
    i=json.loads(l)
    if "root-credential-production" in i.get("triage",{}).get("rules",[]): print(i["id"]); break')
log "root credential use in production, raised to HIGH by the runbook: vigil explain $ROOT_INCIDENT"
"$VIGIL" explain "$ROOT_INCIDENT"
echo
log "an analyst acknowledges it (acknowledging is what meets a response deadline; the sample findings are days old, so this one is late); the history says who, when and why"
"$VIGIL" incident ack "$ROOT_INCIDENT" --by analyst@example.com --note "calling the payments account owner"
"$VIGIL" incident ack "$ROOT_INCIDENT" --by other@example.com
"$VIGIL" explain "$ROOT_INCIDENT" | grep -E "^  (state|acknowledged|history)"
echo
log "escalation (the ingest function runs it every minute): the sample findings are days old, so every step of the production policy is due; each happens once"
"$VIGIL" escalate
"$VIGIL" escalate
ESCALATED=$("$VIGIL" incidents --json | python3 -c 'import json,sys
for l in sys.stdin:
    i=json.loads(l)
    if i.get("escalation",{}).get("done"): print(i["id"]); break')
log "what happened to one of them (the acknowledged root-credential incident had none): vigil explain $ESCALATED"
"$VIGIL" explain "$ESCALATED" | grep -E "^  (state|respond by|escalation|history)" || true
echo
mkdir -p "$ROOT/target/demo"
NEXT="$ROOT/target/demo/runbook-next.yaml"
python3 - "$ROOT/examples/runbook.yaml" "$NEXT" <<'PY'
import sys
text = open(sys.argv[1]).read()
rule = '''  - id: analytics-access-logging-accepted
    description: S3 server access logging is not required on data-staging's analytics bucket
    owner: data-platform@example.com
    created: 2026-12-01
    expires: 2027-06-30
    match: { control_id: S3.9, account_id: "222222222222" }
    actions: { suppress: true }
    reason: Accepted risk RISK-112 (signed off by the data platform lead)

'''
marker = "# The runbook's own tests"
open(sys.argv[2], "w").write(text.replace(marker, rule + marker, 1))
PY
log "a new runbook version accepts a risk (S3.9 on data-staging): what it would change on the stored findings"
"$VIGIL" runbook impact "$NEXT"
echo
log "re-evaluating the open incidents under it, on request: first a dry run, then for real"
"$VIGIL" runbook apply "$NEXT" --retroactive --dry-run
"$VIGIL" runbook apply "$NEXT" --retroactive
REEVALUATED=$("$VIGIL" incidents --json | python3 -c 'import json,sys
for l in sys.stdin:
    i=json.loads(l)
    if i.get("triage",{}).get("reevaluated"): print(i["id"]); break')
log "the analytics bucket's incident now holds two findings, and says why: vigil explain $REEVALUATED"
"$VIGIL" explain "$REEVALUATED" | sed -n 1,12p
echo
log "running it again changes nothing"
"$VIGIL" runbook apply "$NEXT" --retroactive
echo
SIEM_FILE="$ROOT/target/demo/siem-$TABLE_NAME.jsonl"
mkdir -p "$(dirname "$SIEM_FILE")"
export VIGIL_SINKS="sinks: [{type: file, name: local-siem, path: '$SIEM_FILE'}]"
log "forwarding: reading the table's stream like Lambda's event source mapping, running the forward code"
"$VIGIL" forward
echo
log "what the SIEM received ($SIEM_FILE), one JSON object per incident version:"
python3 - "$SIEM_FILE" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    p = json.loads(line)
    print(f"  {p['idempotency_key']:<32} {p['change']['kind']:<14} {p['severity']:<9} {p['finding_count']:>2} findings  {p['title'][:60]}")
PY
echo
log "forwarding again sends nothing: every sink already has every version (per-sink delivery state)"
"$VIGIL" forward
echo "  lines in the sink file: $(wc -l < "$SIEM_FILE")"
echo
log "first payload in full:"
head -1 "$SIEM_FILE" | python3 -m json.tool | sed -n 1,60p
echo
log "notifications: an SNS topic (moto) with an SQS subscriber whose filter policy takes escalations and acknowledgements of HIGH and CRITICAL incidents"
if ! { [ -f "$LOCAL/moto.pid" ] && kill -0 "$(cat "$LOCAL/moto.pid")" 2>/dev/null; }; then moto_started=1; fi
moto_start
export AWS_ENDPOINT_URL_SNS="$VIGIL_MOTO_ENDPOINT" AWS_ENDPOINT_URL_SQS="$VIGIL_MOTO_ENDPOINT"
TOPIC_QUEUE=$("$LOCAL/venv-moto/bin/python" - "$VIGIL_MOTO_ENDPOINT" "$TABLE_NAME" <<'PY'
import json, sys, boto3
ep, name = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=ep, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
sns, sqs = boto3.client("sns", **kw), boto3.client("sqs", **kw)
topic = sns.create_topic(Name=f"{name}-incidents")["TopicArn"]
queue = sqs.create_queue(QueueName=f"{name}-soc-chatbot")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={
    "FilterPolicy": json.dumps({"notice": ["escalated", "acknowledged"], "severity": ["HIGH", "CRITICAL"]})})
print(topic, queue)
PY
)
read -r TOPIC QUEUE <<<"$TOPIC_QUEUE"
export VIGIL_SINKS="sinks: [{type: file, name: local-siem, path: '$SIEM_FILE'}, {type: sns, name: soc-topic, topic_arn: '$TOPIC'}]"
log "forwarding with the SNS sink added: the file sink has every version already; the topic gets a notice per version that is news to a person"
"$VIGIL" forward
"$LOCAL/venv-moto/bin/python" - "$VIGIL_MOTO_ENDPOINT" "$QUEUE" <<'PY'
import json, sys, boto3
ep, queue = sys.argv[1], sys.argv[2]
sqs = boto3.client("sqs", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
got = []
for _ in range(5):
    got += sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
print(f"  the subscriber received {len(got)} notifications:")
for m in got:
    env = json.loads(m["Body"])
    attrs = {k: v["Value"] for k, v in env.get("MessageAttributes", {}).items()}
    print(f"    {env['Subject']}   [notice={attrs.get('notice')} severity={attrs.get('severity')} environment={attrs.get('environment')}]")
if got:
    print("  the first one, as an e-mail subscriber reads it:")
    for line in json.loads(got[0]["Body"])["Message"].splitlines()[:16]:
        print("    " + line)
PY
echo
log "the SLA report over the sample period (the fixtures are days old, so most deadlines were breached; the acknowledged root-credential incident was late): vigil report --since 30d"
"$VIGIL" report --since 30d

echo
log "the analyst's queue (runbook queue:, docs/queue.md): a simulated organisation's day, 40 accounts of port probes and brute force, four attacks across entities (one a GuardDuty attack sequence), into its own table"
SIM_DIR="$LOCAL/sim-org"
rm -rf "$SIM_DIR"
"$ROOT/target/debug/sim_org" "$SIM_DIR"
DEMO_TABLE="$TABLE_NAME"
export TABLE_NAME="$DEMO_TABLE-sim"
"$VIGIL" init-table
"$VIGIL" replay "$SIM_DIR" | tail -n 3
log "vigil queue: campaigns, digests and the incidents in neither, most urgent first"
QUEUE_TABLE=$("$VIGIL" queue)
sed -n '1,12p' <<<"$QUEUE_TABLE"
tail -n 1 <<<"$QUEUE_TABLE"
QUEUE_JSON=$("$VIGIL" queue --json)
CAMPAIGN=$(python3 -c 'import json,sys
for l in sys.stdin:
    i=json.loads(l)
    if i["kind"]=="campaign" and i["reason"].startswith("GuardDuty attack sequence"): print(i["id"]); break' <<<"$QUEUE_JSON")
DIGEST=$(python3 -c 'import json,sys
for l in sys.stdin:
    i=json.loads(l)
    if i["kind"]=="digest": print(i["id"]); break' <<<"$QUEUE_JSON")
[ -n "$CAMPAIGN" ] && [ -n "$DIGEST" ] || { log "expected a campaign and a digest in the queue"; exit 1; }
log "a campaign led by an attack sequence, each link explained: vigil explain $CAMPAIGN"
"$VIGIL" explain "$CAMPAIGN"
log "a digest of low-severity noise (never paged; its incidents are still listed): vigil explain $DIGEST"
DIGEST_TEXT=$("$VIGIL" explain "$DIGEST")
sed -n '1,14p' <<<"$DIGEST_TEXT"
log "the minute schedule (vigil escalate): the queue run stores each campaign and digest, then the escalation run, which acts once per campaign (this day is old: its deadlines are only marked breached; logs hidden)"
"$VIGIL" escalate 2>/dev/null
log "running it again writes nothing"
"$VIGIL" escalate 2>/dev/null
SIM_SIEM="$ROOT/target/demo/siem-$TABLE_NAME.jsonl"
rm -f "$SIM_SIEM"
VIGIL_SINKS="sinks: [{type: file, name: sim-siem, path: '$SIM_SIEM'}]" "$VIGIL" forward >/dev/null 2>"$LOCAL/sim-forward.log" \
  || { tail -n 20 "$LOCAL/sim-forward.log"; exit 1; }
log "what the SIEM received from this table, by kind (the payloads carry kind, and campaign_id or digest_id on incidents):"
python3 - "$SIM_SIEM" <<'PY'
import collections, json, sys
kinds = collections.Counter()
rolled = grouped = 0
example = None
for line in open(sys.argv[1]):
    p = json.loads(line)
    kinds[p.get("kind", "incident")] += 1
    rolled += "digest_id" in p
    grouped += "campaign_id" in p
    if p.get("kind") == "campaign" and example is None:
        example = p
print(f"  {kinds['campaign']} campaign, {kinds['digest']} digest and {kinds['incident']} incident payloads ({rolled} of rolled-up incidents, never paged; {grouped} naming their campaign)")
if example:
    print(f"  {example['idempotency_key']}: {example['severity']} {example['incident_count']} incidents in {len(example['accounts'])} account(s): {example['correlation_reason'][:110]}")
PY
log "acknowledging the campaign acknowledges its members: vigil incident ack $CAMPAIGN"
"$VIGIL" incident ack "$CAMPAIGN" --by demo-analyst | tail -n 1
export TABLE_NAME="$DEMO_TABLE"
echo
log "managed GuardDuty and Security Hub (runbook manage:, docs/manage.md): an organisation in moto with a Workloads OU of three accounts, and the GuardDuty and Security Hub fakes (no local AWS implementation exists), two Regions"
ORG=$("$LOCAL/venv-moto/bin/python" - "$VIGIL_MOTO_ENDPOINT" "$TABLE_NAME" <<'PY'
import sys, boto3
ep, name = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=ep, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
org, s3 = boto3.client("organizations", **kw), boto3.client("s3", **kw)
try:
    org.create_organization(FeatureSet="ALL")
except org.exceptions.AlreadyInOrganizationException:
    pass
root = org.list_roots()["Roots"][0]["Id"]
ous = [o["Id"] for o in org.list_organizational_units_for_parent(ParentId=root)["OrganizationalUnits"] if o["Name"] == "Workloads"]
ou = ous[0] if ous else org.create_organizational_unit(ParentId=root, Name="Workloads")["OrganizationalUnit"]["Id"]
for n in ["payments", "analytics", "web"]:
    a = org.create_account(Email=f"{n}-{name}@example.com", AccountName=f"{n}-{name}")["CreateAccountStatus"]["AccountId"]
    org.move_account(AccountId=a, SourceParentId=root, DestinationParentId=ou)
# Every account in the OU (a moto server kept from an earlier run has more).
ids = [a["Id"] for a in org.list_accounts_for_parent(ParentId=ou)["Accounts"]]
bucket = f"{name}-lists"
s3.create_bucket(Bucket=bucket)
print(",".join(ids), bucket)
PY
)
read -r ORG_ACCOUNTS LISTS_BUCKET <<<"$ORG"
# GuardDuty has a detector in us-east-1 only; Security Hub is enabled in us-east-1 only.
coproc FAKE { exec "$ROOT/target/debug/fake_aws" --admin 999999999999 --org-accounts "$ORG_ACCOUNTS" --detector us-east-1 --hub us-east-1; }
FAKE_PID=$FAKE_PID
read -r GD_URL SH_URL <&"${FAKE[0]}"
export AWS_ENDPOINT_URL_GUARDDUTY="$GD_URL" AWS_ENDPOINT_URL_SECURITYHUB="$SH_URL"
export AWS_ENDPOINT_URL_ORGANIZATIONS="$VIGIL_MOTO_ENDPOINT" AWS_ENDPOINT_URL_S3="$VIGIL_MOTO_ENDPOINT" VIGIL_S3_FORCE_PATH_STYLE=1
export VIGIL_MANAGE_BUCKET="$LISTS_BUCKET" VIGIL_ADMIN_ACCOUNT=999999999999
log "the plan: vigil manage plan examples/runbook.yaml (exit 2: there are changes)"
rc=0; "$VIGIL" manage plan "$ROOT/examples/runbook.yaml" || rc=$?
[ "$rc" = 2 ] || { log "expected exit 2 from the plan, got $rc"; exit 1; }
log "applying it: vigil manage apply examples/runbook.yaml"
"$VIGIL" manage apply "$ROOT/examples/runbook.yaml"
log "planning again: nothing to do"
"$VIGIL" manage plan "$ROOT/examples/runbook.yaml"
log "drift, out of band (someone edits GuardDuty by hand): the scanner suppression rule becomes a saved filter, updates are published every 6 hours again"
DETECTOR=$(curl -sf "$GD_URL/detector" | python3 -c 'import json,sys; print(json.load(sys.stdin)["detectorIds"][0])')
curl -sf -X POST "$GD_URL/detector/$DETECTOR/filter/vigil-archive-scanner-probes" -d '{"action": "NOOP"}' >/dev/null
curl -sf -X POST "$GD_URL/detector/$DETECTOR" -d '{"findingPublishingFrequency": "SIX_HOURS"}' >/dev/null
log "the hourly run (what the manage function does): vigil manage run (reports drift, applies only enrolment; exit 2: drift left)"
rc=0; "$VIGIL" manage run "$ROOT/examples/runbook.yaml" || rc=$?
[ "$rc" = 2 ] || { log "expected exit 2 from the drift report, got $rc"; exit 1; }
log "correcting it: vigil manage apply, then the plan is empty again"
"$VIGIL" manage apply "$ROOT/examples/runbook.yaml"
"$VIGIL" manage plan "$ROOT/examples/runbook.yaml"
