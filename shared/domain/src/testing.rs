//! Test support shared by every crate's tests: one builder of ASFF findings (and EventBridge
//! envelopes around them), so that a test states only what matters to it.
//!
//! Compiled for this crate's own tests and, with the `test-util` feature, for other crates'
//! tests. Never part of a function's build.
//!
//! ```
//! use vigil_domain::testing::Asff;
//! let f = Asff::guardduty("f1").severity("CRITICAL").instance("i-0abc").json();
//! assert_eq!(f["Severity"]["Label"], "CRITICAL");
//! ```

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

/// The account of every finding unless a test says otherwise.
pub const ACCOUNT: &str = "111111111111";
/// The default time of every finding (created, updated, first and last observed).
pub const T0: &str = "2026-11-20T10:00:00Z";
/// GuardDuty's product ARN in Security Hub (us-east-1).
pub const GUARDDUTY_PRODUCT: &str = "arn:aws:securityhub:us-east-1::product/aws/guardduty";
/// Security Hub's own product ARN (control findings).
pub const SECURITYHUB_PRODUCT: &str = "arn:aws:securityhub:us-east-1::product/aws/securityhub";

/// RFC 3339 with milliseconds, as Security Hub writes timestamps.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `T0` plus `minutes`.
pub fn at_minutes(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(T0)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
        + Duration::minutes(minutes)
}

/// An ASFF finding under construction.
#[derive(Debug, Clone, PartialEq)]
pub struct Asff(Value);

impl Asff {
    /// A GuardDuty SSH brute-force finding `id` (the last segment of its ARN) on EC2 instance
    /// `i-1` of [`ACCOUNT`], `HIGH`, created and updated at [`T0`].
    pub fn guardduty(id: &str) -> Self {
        let id = if id.starts_with("arn:") {
            id.to_owned()
        } else {
            format!("arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/d/finding/{id}")
        };
        Self(json!({
            "SchemaVersion": "2018-10-08",
            "Id": id,
            "ProductArn": GUARDDUTY_PRODUCT,
            "GeneratorId": format!("arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/d"),
            "AwsAccountId": ACCOUNT,
            "Types": ["TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce"],
            "CreatedAt": T0,
            "UpdatedAt": T0,
            "Severity": {"Label": "HIGH"},
            "Title": "t",
            "Description": "d",
            "Resources": [{"Type": "AwsEc2Instance",
                "Id": format!("arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-1")}]
        }))
    }

    /// A Security Hub control finding (`control` like `S3.8`) on an S3 bucket, `MEDIUM`, FAILED.
    pub fn control(id: &str, control: &str) -> Self {
        Self(json!({
            "SchemaVersion": "2018-10-08",
            "Id": format!("arn:aws:securityhub:us-east-1:{ACCOUNT}:security-control/{control}/finding/{id}"),
            "ProductArn": SECURITYHUB_PRODUCT,
            "GeneratorId": format!("security-control/{control}"),
            "AwsAccountId": ACCOUNT,
            "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
            "CreatedAt": T0,
            "UpdatedAt": T0,
            "Severity": {"Label": "MEDIUM"},
            "Title": format!("{control} control failed"),
            "Description": "d",
            "Compliance": {"Status": "FAILED", "SecurityControlId": control},
            "Resources": [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::bucket-1"}]
        }))
    }

    /// Sets a top-level field.
    pub fn set(mut self, field: &str, value: Value) -> Self {
        self.0[field] = value;
        self
    }

    /// Removes a top-level field.
    pub fn remove(mut self, field: &str) -> Self {
        if let Some(o) = self.0.as_object_mut() {
            o.remove(field);
        }
        self
    }

    /// `AwsAccountId`, and the account in the `Id`, `GeneratorId` and instance ARNs.
    pub fn account(mut self, account: &str) -> Self {
        let text = self.0.to_string().replace(ACCOUNT, account);
        if let Ok(v) = serde_json::from_str(&text) {
            self.0 = v;
        }
        self.0["AwsAccountId"] = json!(account);
        self
    }

    /// The only resource: EC2 instance `instance` (an id like `i-0abc`) of the finding's account.
    pub fn instance(self, instance: &str) -> Self {
        let account = self.0["AwsAccountId"]
            .as_str()
            .unwrap_or(ACCOUNT)
            .to_owned();
        self.resources(json!([{"Type": "AwsEc2Instance",
            "Id": format!("arn:aws:ec2:us-east-1:{account}:instance/{instance}")}]))
    }

    pub fn resources(self, resources: Value) -> Self {
        self.set("Resources", resources)
    }

    pub fn types(self, types: &[&str]) -> Self {
        self.set("Types", json!(types))
    }

    /// `Severity: {Label}`.
    pub fn severity(self, label: &str) -> Self {
        self.set("Severity", json!({ "Label": label }))
    }

    pub fn title(self, title: &str) -> Self {
        self.set("Title", json!(title))
    }

    pub fn created(self, t: &str) -> Self {
        self.set("CreatedAt", json!(t))
    }

    pub fn updated(self, t: &str) -> Self {
        self.set("UpdatedAt", json!(t))
    }

    pub fn processed(self, t: &str) -> Self {
        self.set("ProcessedAt", json!(t))
    }

    /// `FirstObservedAt` and `LastObservedAt`.
    pub fn observed(self, first: &str, last: &str) -> Self {
        self.set("FirstObservedAt", json!(first))
            .set("LastObservedAt", json!(last))
    }

    /// Created, first observed at `first`; updated and last observed at `last`.
    pub fn times(self, first: DateTime<Utc>, last: DateTime<Utc>) -> Self {
        let (f, l) = (ts(first), ts(last));
        self.created(&f).observed(&f, &l).updated(&l)
    }

    pub fn workflow(self, status: &str) -> Self {
        self.set("Workflow", json!({ "Status": status }))
    }

    pub fn archived(self) -> Self {
        self.set("RecordState", json!("ARCHIVED"))
    }

    pub fn json(self) -> Value {
        self.0
    }
}

impl From<Asff> for Value {
    fn from(a: Asff) -> Value {
        a.0
    }
}

/// A `Security Hub Findings - Imported` EventBridge event carrying `findings`.
pub fn imported_event(id: &str, findings: Vec<Value>) -> Value {
    event(id, "Security Hub Findings - Imported", findings)
}

/// An EventBridge event of `detail_type` from `aws.securityhub` carrying `findings`.
pub fn event(id: &str, detail_type: &str, findings: Vec<Value>) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": detail_type,
        "source": "aws.securityhub", "account": "999999999999",
        "time": T0, "region": "us-east-1", "resources": [],
        "detail": {"findings": findings}
    })
}

/// An incident at `version`, opened by the HIGH GuardDuty finding `finding` (see
/// [`Asff::guardduty`]) titled `title`, on instance `i-1`.
pub fn incident(finding: &str, title: &str, version: u64) -> crate::incident::Incident {
    let rb = crate::runbook::Runbook::default();
    let f = normalized(&Asff::guardduty(finding).title(title).json());
    let mut inc = crate::incident::Incident::open(&f, &rb, Utc::now(), Duration::days(1));
    inc.apply(None, &f, &rb);
    inc.version = version;
    inc
}

/// A finding's JSON text that lives as long as the test (parsed findings borrow from their
/// text; leaking a test's few kilobytes keeps test code simple).
pub fn text(v: &Value) -> &'static str {
    Box::leak(v.to_string().into_boxed_str())
}

/// The parsed and enriched finding `v`, with the default runbook.
pub fn normalized(v: &Value) -> crate::finding::NormalizedFinding<'static> {
    crate::finding::NormalizedFinding::new(
        crate::asff::parse_finding(text(v)).expect("the builder's findings are valid"),
        &crate::runbook::Runbook::default(),
    )
}
