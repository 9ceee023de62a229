//! Managed GuardDuty and Security Hub end to end, with the real SDK clients: Organizations,
//! S3 and SNS/SQS on moto's server, GuardDuty and Security Hub on the protocol-level fakes in
//! `tests/src/fakes`, two Regions. Declared state -> plan -> apply -> an empty plan -> drift made
//! out of band -> the scheduled run reports it (operations topic, nothing changed) -> apply
//! corrects it; a new account's creation event -> a member in every Region of both services.

use std::collections::BTreeMap;

use serde_json::json;
use vigil_domain::manage::{run, Context, Mode, Op};
use vigil_e2e::fakes::guardduty::{GdFault, GuardDutyFake};
use vigil_e2e::fakes::securityhub::SecurityHubFake;

const ADMIN: &str = "111111111111";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

fn runbook(ou: &str, bucket: &str) -> String {
    format!(
        r#"
manage:
  regions: [us-east-1, eu-west-1]
  scope: {{ organizational_units: ["{ou}"] }}
  guardduty:
    finding_publishing_frequency: FIFTEEN_MINUTES
    features: {{ S3_DATA_EVENTS: ENABLED, RUNTIME_MONITORING: ENABLED }}
    auto_enable: {{ members: ALL, features: {{ S3_DATA_EVENTS: ALL }} }}
    filters:
      - name: vigil-archive-scanner-probes
        description: The vulnerability scanner probes every instance nightly
        action: ARCHIVE
        rank: 1
        criteria:
          type: {{ equals: ["Recon:EC2/PortProbeUnprotectedPort", "Recon:EC2/Portscan"] }}
          service.action.networkConnectionAction.remoteIpDetails.ipAddressV4: {{ equals: ["198.51.100.7"] }}
      - name: vigil-high-and-above
        action: NOOP
        criteria:
          severity: {{ greaterThanOrEqual: 7 }}
    trusted_ip_list: {{ name: vigil-trusted, entries: [203.0.113.0/24, 198.51.100.7] }}
    threat_intel_sets:
      - {{ name: vigil-partner-feed, format: STIX, location: "s3://{bucket}/partner/feed.stix" }}
  securityhub:
    auto_enable: true
    auto_enable_standards: DEFAULT
    insights:
      - name: vigil-critical-by-account
        group_by: AwsAccountId
        filters:
          SeverityLabel: [{{ Value: CRITICAL, Comparison: EQUALS }}]
          RecordState: [{{ Value: ACTIVE, Comparison: EQUALS }}]
      - name: vigil-guardduty-by-resource
        group_by: ResourceId
        filters:
          ProductName: [{{ Value: GuardDuty, Comparison: EQUALS }}]
          UpdatedAt: [{{ DateRange: {{ Value: 7, Unit: DAYS }} }}]
"#
    )
}

pub(crate) async fn new_account(
    c: &aws_sdk_organizations::Client,
    name: &str,
    root: &str,
    ou: &str,
) -> String {
    let id = c
        .create_account()
        .account_name(name)
        .email(format!("{name}@example.com"))
        .send()
        .await
        .unwrap()
        .create_account_status()
        .and_then(|s| s.account_id())
        .unwrap()
        .to_owned();
    c.move_account()
        .account_id(&id)
        .source_parent_id(root)
        .destination_parent_id(ou)
        .send()
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn declared_state_is_planned_applied_watched_for_drift_and_new_accounts_are_enrolled() {
    let Some(ep) = vigil_e2e::moto_endpoint() else {
        return;
    };
    let tag = format!("{:06x}", rand::random::<u32>() & 0xffffff);
    // The organisation: an OU of our own (other tests share moto's one organisation).
    let org = vigil_e2e::organizations_client(&ep);
    let _ = org.create_organization().send().await;
    let root = org.list_roots().send().await.unwrap().roots()[0]
        .id()
        .unwrap()
        .to_owned();
    let ou_name = format!("Managed-{tag}");
    let ou = org
        .create_organizational_unit()
        .parent_id(&root)
        .name(&ou_name)
        .send()
        .await
        .unwrap()
        .organizational_unit()
        .unwrap()
        .id()
        .unwrap()
        .to_owned();
    let mut members = Vec::new();
    for i in 0..3 {
        members.push(new_account(&org, &format!("wl{i}-{tag}"), &root, &ou).await);
    }
    // The lists bucket, and an operations topic with an SQS subscriber.
    let s3 = vigil_e2e::s3_client(&ep);
    let bucket = format!("vigil-manage-{tag}");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let sns = vigil_e2e::sns_client(&ep);
    let sqs = vigil_e2e::sqs_client(&ep);
    let topic = sns
        .create_topic()
        .name(format!("vigil-ops-{tag}"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue = sqs
        .create_queue()
        .queue_name(format!("vigil-ops-sub-{tag}"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .unwrap();

    // GuardDuty has a detector in us-east-1 only; Security Hub is on in us-east-1 only.
    let gd = GuardDutyFake::start(ADMIN).await;
    let sh = SecurityHubFake::start().await;
    let org_emails: BTreeMap<String, String> = members
        .iter()
        .map(|m| (m.clone(), format!("{m}@example.com")))
        .collect();
    gd.with(|w| w.org_accounts = org_emails.clone());
    sh.admin(|a| a.org_accounts = org_emails.keys().cloned().collect());
    gd.client("us-east-1")
        .create_detector()
        .enable(true)
        .send()
        .await
        .unwrap();
    sh.admin(|a| {
        let r = a.regions.entry("us-east-1".into()).or_default();
        r.enabled = true;
        r.configuration_type = "LOCAL".into();
        r.auto_enable_standards = "DEFAULT".into();
    });

    let rb = vigil_domain::Runbook::from_yaml(&runbook(&ou_name, &bucket), "manage-e2e").unwrap();
    let spec = rb.manage.clone().unwrap();
    let deps = manage::Deps {
        guardduty: Box::new(vigil_aws_guardduty::GuardDuty::from_clients(
            REGIONS
                .iter()
                .map(|r| (r.to_string(), gd.client(r)))
                .collect(),
        )),
        securityhub: Box::new(vigil_aws_securityhub::ManagedSecurityHub::from_clients(
            REGIONS
                .iter()
                .map(|r| {
                    let c = sh.client();
                    let conf = c
                        .config()
                        .to_builder()
                        .region(aws_sdk_securityhub::config::Region::new(r.to_string()))
                        .build();
                    (r.to_string(), aws_sdk_securityhub::Client::from_conf(conf))
                })
                .collect(),
        )),
        lists: Box::new(vigil_aws_s3::S3ListStore::new(s3.clone())),
        accounts: Box::new(vigil_aws_organizations::OrganizationsDirectory::new(
            org.clone(),
        )),
        topic: Some((
            Box::new(vigil_aws_sns::Sns::new(sns.clone())),
            topic.clone(),
        )),
        ctx: Context {
            bucket: Some(bucket.clone()),
        },
        admin_account: Some(ADMIN.into()),
        emit_metrics: false,
        spec: spec.clone(),
    };
    let plan_now = || async {
        run(
            &spec,
            &deps.ctx,
            Some(ADMIN.into()),
            Mode::Plan,
            deps.services(),
        )
        .await
        .unwrap()
    };

    // 1. The plan from an almost empty start.
    let p = plan_now().await;
    let text = p.plan.render();
    for want in [
        "guardduty us-east-1:",
        "~ detector",
        "finding publishing frequency SIX_HOURS -> FIFTEEN_MINUTES",
        "feature RUNTIME_MONITORING DISABLED -> ENABLED",
        "~ organization configuration",
        "+ filter vigil-archive-scanner-probes",
        "+ trusted IP list vigil-trusted",
        "+ threat intel set vigil-partner-feed",
        "guardduty eu-west-1:",
        "+ detector",
        "securityhub eu-west-1:",
        "+ hub",
        "+ insight vigil-critical-by-account",
        "+ action target VigilAcknowledge",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let enrol: Vec<_> = p
        .plan
        .changes
        .iter()
        .filter(|c| c.op == Op::Enrol)
        .collect();
    assert_eq!(enrol.len(), 4, "{text}");
    for c in &enrol {
        for m in &members {
            assert!(c.resource.contains(m.as_str()), "{text}");
        }
    }

    // 2. Apply, through throttling (the SDK retries).
    gd.fault(GdFault::Throttle);
    gd.fault(GdFault::Throttle);
    let r = run(
        &spec,
        &deps.ctx,
        Some(ADMIN.into()),
        Mode::Apply,
        deps.services(),
    )
    .await
    .unwrap();
    assert_eq!(r.failed(), 0, "{}", r.render_results());
    for region in REGIONS {
        let d = gd.detector(region);
        assert_eq!(d.frequency, "FIFTEEN_MINUTES");
        assert_eq!(d.features["RUNTIME_MONITORING"], "ENABLED");
        assert_eq!(d.org_members, "ALL");
        assert_eq!(
            d.filters["vigil-archive-scanner-probes"]["action"],
            "ARCHIVE"
        );
        assert_eq!(
            d.filters["vigil-archive-scanner-probes"]["findingCriteria"]["criterion"]["type"]
                ["equals"],
            json!(["Recon:EC2/PortProbeUnprotectedPort", "Recon:EC2/Portscan"])
        );
        assert_eq!(d.ip_sets.len(), 1);
        assert_eq!(d.threat_sets.len(), 1);
        for m in &members {
            assert_eq!(d.members[m]["relationshipStatus"], "Enabled");
        }
        sh.admin(|a| {
            let s = &a.regions[region];
            assert!(s.enabled && s.auto_enable);
            assert_eq!(s.insights.len(), 2);
            assert_eq!(s.action_targets.len(), 4);
            for m in &members {
                assert_eq!(s.members[m]["MemberStatus"], "Enabled");
            }
        });
    }
    // The inline list was uploaded to the bucket, and GuardDuty points at it.
    let location = gd.detector("us-east-1").ip_sets.values().next().unwrap()["location"]
        .as_str()
        .unwrap()
        .to_owned();
    let (b, key) = vigil_aws_s3::parse_uri(&location).unwrap();
    assert_eq!(b, bucket);
    let body = s3.get_object().bucket(&b).key(&key).send().await.unwrap();
    assert_eq!(
        body.server_side_encryption().map(|e| e.as_str()),
        Some("AES256")
    );
    let text = String::from_utf8(body.body.collect().await.unwrap().to_vec()).unwrap();
    assert_eq!(text, "198.51.100.7\n203.0.113.0/24\n");

    // 3. Planning again: nothing.
    let p = plan_now().await;
    assert!(p.plan.is_empty(), "{}", p.plan.render());

    // 4. Drift, out of band: the suppression rule made a saved filter, the frequency lowered,
    //    an insight deleted, the trusted list deactivated.
    gd.with(|w| {
        let d = w.detectors.get_mut("eu-west-1").unwrap();
        d.filters.get_mut("vigil-archive-scanner-probes").unwrap()["action"] = json!("NOOP");
        d.frequency = "SIX_HOURS".into();
        let set = d.ip_sets.values_mut().next().unwrap();
        set["status"] = json!("INACTIVE");
    });
    sh.admin(|a| {
        let s = a.regions.get_mut("us-east-1").unwrap();
        let arn = s
            .insights
            .iter()
            .find(|(_, v)| v["Name"] == "vigil-critical-by-account")
            .map(|(k, _)| k.clone())
            .unwrap();
        s.insights.remove(&arn);
    });
    let out = manage::handle(&deps, &json!({"vigil": "manage"}))
        .await
        .unwrap();
    assert_eq!(out["drift"], 4, "{out}");
    assert_eq!(out["drift_unapplied"], 4, "{out}");
    assert_eq!(out["applied"], 0, "{out}");
    // Report only: still drifted.
    assert_eq!(gd.detector("eu-west-1").frequency, "SIX_HOURS");
    // The operations topic heard of it.
    let mut got = Vec::new();
    for _ in 0..5 {
        let m = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        got.extend(m.messages.unwrap_or_default());
        if !got.is_empty() {
            break;
        }
    }
    assert_eq!(got.len(), 1);
    let env: serde_json::Value = serde_json::from_str(got[0].body().unwrap()).unwrap();
    assert_eq!(env["Subject"], "Vigil manage: 4 drift change(s) found");
    let msg = env["Message"].as_str().unwrap();
    assert!(msg.contains("action NOOP -> ARCHIVE"), "{msg}");
    assert!(msg.contains("+ insight vigil-critical-by-account"), "{msg}");

    // 5. Apply corrects it.
    let r = run(
        &spec,
        &deps.ctx,
        Some(ADMIN.into()),
        Mode::Apply,
        deps.services(),
    )
    .await
    .unwrap();
    assert_eq!((r.applied(), r.failed()), (4, 0), "{}", r.render_results());
    assert!(plan_now().await.plan.is_empty());

    // 6. A new account in the OU, announced by Organizations: a member everywhere at once.
    let fresh = new_account(&org, &format!("wl-new-{tag}"), &root, &ou).await;
    gd.with(|w| {
        w.org_accounts
            .insert(fresh.clone(), format!("{fresh}@example.com"))
    });
    sh.admin(|a| a.org_accounts.insert(fresh.clone()));
    let event = json!({
        "version": "0", "id": "e1", "source": "aws.organizations",
        "detail-type": "AWS Service Event via CloudTrail", "account": "123456789012", "region": "us-east-1",
        "detail": {"eventName": "CreateAccountResult", "eventSource": "organizations.amazonaws.com",
            "serviceEventDetails": {"createAccountStatus": {"id": "car-1", "state": "SUCCEEDED",
                "accountName": "wl-new", "accountId": fresh}}}
    });
    let out = manage::handle(&deps, &event).await.unwrap();
    assert_eq!(out["applied"], 4, "{out}");
    for region in REGIONS {
        assert_eq!(
            gd.detector(region).members[&fresh]["relationshipStatus"],
            "Enabled"
        );
        sh.admin(|a| assert_eq!(a.regions[region].members[&fresh]["MemberStatus"], "Enabled"));
    }
    // Delivered again (at least once): nothing to do, still fine.
    let out = manage::handle(&deps, &event).await.unwrap();
    assert_eq!(out["applied"], 0, "{out}");
    // An account Organizations does not list (yet): the invocation fails, so Lambda retries.
    let mut unknown = event.clone();
    unknown["detail"]["serviceEventDetails"]["createAccountStatus"]["accountId"] =
        json!("999999999999");
    let e = manage::handle(&deps, &unknown).await.unwrap_err();
    assert!(e.retryable(), "{e}");
    assert!(e.to_string().contains("does not list it yet"), "{e}");
    // A Control Tower enrolment of an account already enrolled: nothing to do.
    let ct = json!({"source": "aws.controltower", "detail": {"eventName": "CreateManagedAccount",
        "serviceEventDetails": {"createManagedAccountStatus": {"state": "SUCCEEDED",
            "account": {"accountName": "x", "accountId": members[0]}}}}});
    assert_eq!(manage::handle(&deps, &ct).await.unwrap()["applied"], 0);
}

#[tokio::test]
async fn the_fakes_enforce_the_services_limits_through_the_real_clients() {
    let gd = GuardDutyFake::start(ADMIN).await;
    let c = gd.client("us-east-1");
    let det = c
        .create_detector()
        .enable(true)
        .send()
        .await
        .unwrap()
        .detector_id
        .unwrap();
    // A second detector is refused.
    let e = c.create_detector().enable(true).send().await.unwrap_err();
    assert!(format!("{:?}", e).contains("BadRequestException"));
    // One trusted list per Region.
    let mk = |n: &str| {
        c.create_ip_set()
            .detector_id(&det)
            .name(n)
            .format(aws_sdk_guardduty::types::IpSetFormat::Txt)
            .location("s3://b/k.txt")
            .activate(true)
            .send()
    };
    mk("one").await.unwrap();
    assert!(mk("two").await.is_err());
    // Filter names and pages of at most 50.
    let crit = aws_sdk_guardduty::types::FindingCriteria::builder()
        .criterion(
            "severity",
            aws_sdk_guardduty::types::Condition::builder()
                .greater_than(4)
                .build(),
        )
        .build();
    assert!(c
        .create_filter()
        .detector_id(&det)
        .name("no")
        .finding_criteria(crit.clone())
        .send()
        .await
        .is_err());
    for i in 0..60 {
        c.create_filter()
            .detector_id(&det)
            .name(format!("vigil-f{i:02}"))
            .finding_criteria(crit.clone())
            .send()
            .await
            .unwrap();
    }
    let a = vigil_aws_guardduty::GuardDuty::from_clients(BTreeMap::from([(
        "us-east-1".into(),
        c.clone(),
    )]));
    let st = vigil_domain::manage::GuardDutyAdmin::read(&a, "us-east-1")
        .await
        .unwrap();
    assert_eq!(st.filters.len(), 60, "every page read");
    assert!(c
        .list_filters()
        .detector_id(&det)
        .max_results(51)
        .send()
        .await
        .is_err());
    // CreateMembers needs an e-mail, and refuses accounts outside the organisation per account.
    let out = c
        .create_members()
        .detector_id(&det)
        .account_details(
            aws_sdk_guardduty::types::AccountDetail::builder()
                .account_id("222222222222")
                .email("x@example.com")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.unprocessed_accounts().len(), 1);
    // Throttling past the SDK's retries is reported as retryable.
    for _ in 0..4 {
        gd.fault(GdFault::Throttle);
    }
    let e = vigil_domain::manage::GuardDutyAdmin::read(&a, "us-east-1")
        .await
        .unwrap_err();
    assert!(e.retryable(), "{e}");
    // Security Hub: action target names of at most 20 characters, 100 insights.
    let sh = SecurityHubFake::start().await;
    sh.admin(|a| a.regions.entry("us-east-1".into()).or_default().enabled = true);
    let s = sh.client();
    assert!(s
        .create_action_target()
        .id("VigilX")
        .name("a name longer than twenty")
        .description("d")
        .send()
        .await
        .is_err());
    let e = s.describe_hub().send().await;
    assert!(e.is_ok());
    let off = {
        let conf = s
            .config()
            .to_builder()
            .region(aws_sdk_securityhub::config::Region::new("ap-south-1"))
            .build();
        aws_sdk_securityhub::Client::from_conf(conf)
    };
    let st = vigil_domain::manage::SecurityHubAdmin::read(
        &vigil_aws_securityhub::ManagedSecurityHub::from_clients(BTreeMap::from([(
            "ap-south-1".into(),
            off,
        )])),
        "ap-south-1",
    )
    .await
    .unwrap();
    assert!(!st.enabled, "InvalidAccessException reads as not enabled");
}
