//! Correlation: which findings belong to the same incident.
//!
//! The default key is the account plus the primary affected entity: an EC2 instance id, an IAM
//! principal (or access key when there is no principal), an S3 bucket, an EKS cluster, and so on;
//! otherwise the resource id. Findings with the same key are grouped when their event times fall
//! within the runbook's window of the incident's findings (see [`crate::incident`]).
//!
//! Per key, a [`CorrelationHead`] remembers the time windows of the key's most recent
//! incidents, so that a new finding can find the incident it joins.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::asff::{Finding, Resource};
use crate::bounds::{clip, key_part, MAX_KEY_PART_BYTES, MAX_LABEL_CHARS};

/// The primary affected entity of a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// Short machine kind: `ec2-instance`, `iam-principal`, `s3-bucket`, ...
    pub kind: &'static str,
    pub id: String,
    /// Human wording: "EC2 instance i-0abc".
    pub label: String,
}

fn entity(kind: &'static str, human: &str, id: &str) -> Entity {
    Entity {
        kind,
        id: id.to_owned(),
        label: format!("{human} {id}"),
    }
}

/// The last segment of an ARN-like id after `/` (or `:` when there is no `/`).
fn tail(id: &str) -> &str {
    let after_slash = id.rsplit('/').next().unwrap_or(id);
    if after_slash.len() < id.len() {
        return after_slash;
    }
    id.rsplit(':').next().unwrap_or(id)
}

fn resource_entity(r: &Resource<'_>) -> Entity {
    let id: &str = &r.id;
    let detail_str = |r: &Resource<'_>, path: &[&str]| r.detail_str(path);
    match r.resource_type.as_ref() {
        "AwsEc2Instance" => entity("ec2-instance", "EC2 instance", tail(id)),
        "AwsIamAccessKey" => {
            let principal = detail_str(r, &["AwsIamAccessKey", "PrincipalName"])
                .or_else(|| detail_str(r, &["AwsIamAccessKey", "UserName"]));
            match principal {
                Some(p) => entity("iam-principal", "IAM principal", &p),
                None => {
                    let key = detail_str(r, &["AwsIamAccessKey", "AccessKeyId"])
                        .unwrap_or_else(|| id.rsplit(':').next().unwrap_or(id).to_owned());
                    entity("iam-access-key", "IAM access key", &key)
                }
            }
        }
        "AwsIamUser" => entity("iam-principal", "IAM principal", tail(id)),
        "AwsIamRole" => entity("iam-principal", "IAM principal", tail(id)),
        "AwsS3Bucket" => entity(
            "s3-bucket",
            "S3 bucket",
            id.trim_start_matches("arn:aws:s3:::"),
        ),
        "AwsS3Object" => {
            let bucket = id.trim_start_matches("arn:aws:s3:::");
            let bucket = bucket.split('/').next().unwrap_or(bucket);
            entity("s3-bucket", "S3 bucket", bucket)
        }
        "AwsEksCluster" => entity("eks-cluster", "EKS cluster", tail(id)),
        "AwsEcsCluster" => entity("ecs-cluster", "ECS cluster", tail(id)),
        "AwsRdsDbInstance" | "AwsRdsDbCluster" => entity("rds-database", "RDS database", tail(id)),
        "AwsLambdaFunction" => {
            // arn:aws:lambda:region:account:function:name[:version-or-alias]
            let name = id
                .split_once(":function:")
                .map(|(_, rest)| rest.split(':').next().unwrap_or(rest))
                .unwrap_or_else(|| tail(id));
            entity("lambda-function", "Lambda function", name)
        }
        "AwsEcrContainerImage" => {
            let repo = detail_str(r, &["AwsEcrContainerImage", "RepositoryName"])
                .unwrap_or_else(|| id.to_owned());
            entity("ecr-repository", "ECR repository", &repo)
        }
        "AwsEc2SecurityGroup" => entity("security-group", "security group", tail(id)),
        "AwsAccount" => entity("account", "account", "root"),
        other => Entity {
            kind: "resource",
            id: id.to_owned(),
            label: format!("{other} {id}"),
        },
    }
}

/// The primary entity: for findings about a cluster the cluster; else the first resource.
pub fn primary_entity(f: &Finding<'_>) -> Entity {
    // GuardDuty EKS and ECS runtime findings list the cluster among several resources; the
    // cluster is the unit an analyst contains.
    if let Some(r) = f
        .resources
        .iter()
        .find(|r| r.resource_type == "AwsEksCluster" || r.resource_type == "AwsEcsCluster")
    {
        return resource_entity(r);
    }
    match f.resources.first() {
        Some(r) => resource_entity(r),
        None => entity("account", "account", "root"),
    }
}

/// The correlation key of a finding, and the entity it names. A long entity id (a resource id
/// or principal name of any length a product sends) is hashed in the key and clipped in the
/// label, so keys and items stay within DynamoDB's limits.
pub fn correlation_key(f: &Finding<'_>) -> (String, Entity) {
    let mut e = primary_entity(f);
    let key = format!("{}|{}:{}", f.aws_account_id, e.kind, key_part(&e.id));
    e.label = clip(&e.label, MAX_LABEL_CHARS);
    if e.id.len() > MAX_KEY_PART_BYTES {
        e.id = clip(&e.id, MAX_LABEL_CHARS);
    }
    (key, e)
}

/// The time span of one incident of a correlation key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentWindow {
    pub incident_id: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

impl IncidentWindow {
    pub fn admits(&self, t: DateTime<Utc>, window: Duration) -> bool {
        let lo = self
            .first_seen
            .checked_sub_signed(window)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let hi = self
            .last_seen
            .checked_add_signed(window)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        t >= lo && t <= hi
    }

    /// The window widened outward to whole UTC days, as a head records it: a head changes
    /// only when one of its incidents grows into a new day, not with every finding, and still
    /// admits every finding its incident's exact window admits. The exact choice is made on
    /// the incidents themselves.
    pub fn coarse(&self) -> IncidentWindow {
        let floor = |t: DateTime<Utc>| {
            let s = t.timestamp().div_euclid(HEAD_GRANULARITY_SECS) * HEAD_GRANULARITY_SECS;
            DateTime::from_timestamp(s, 0).unwrap_or(t)
        };
        let ceil = |t: DateTime<Utc>| {
            let f = floor(t);
            if f == t {
                t
            } else {
                f.checked_add_signed(Duration::seconds(HEAD_GRANULARITY_SECS))
                    .unwrap_or(t)
            }
        };
        IncidentWindow {
            incident_id: self.incident_id.clone(),
            first_seen: floor(self.first_seen),
            last_seen: ceil(self.last_seen),
        }
    }
}

/// Granularity of the windows a head records (see [`IncidentWindow::coarse`]).
pub const HEAD_GRANULARITY_SECS: i64 = 86_400;

/// Among incidents whose (exact) windows admit `t`, the one a finding at `t` joins: the
/// latest (greatest last seen), then the smallest id.
pub fn choose<'a>(
    windows: impl Iterator<Item = &'a IncidentWindow>,
    t: DateTime<Utc>,
    window: Duration,
) -> Option<&'a IncidentWindow> {
    windows.filter(|w| w.admits(t, window)).max_by(|a, b| {
        a.last_seen
            .cmp(&b.last_seen)
            .then_with(|| b.incident_id.cmp(&a.incident_id))
    })
}

/// How many incident windows a head remembers per correlation key.
pub const HEAD_WINDOWS: usize = 32;

/// Per correlation key: the windows of its most recent incidents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrelationHead {
    pub key: String,
    pub windows: Vec<IncidentWindow>,
    pub version: u64,
    pub expires_at: DateTime<Utc>,
    /// Wall-clock time of its last change: a window naming an incident that is not stored yet
    /// is an ingest still in flight while this is recent, an interrupted one after.
    #[serde(default = "epoch")]
    pub changed_at: DateTime<Utc>,
}

fn epoch() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

impl CorrelationHead {
    pub fn new(key: &str) -> Self {
        Self {
            key: key.to_owned(),
            windows: Vec::new(),
            version: 0,
            expires_at: DateTime::<Utc>::UNIX_EPOCH,
            changed_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    /// The incident a finding seen at `t` joins: among windows admitting `t`, the latest one.
    pub fn find(&self, t: DateTime<Utc>, window: Duration) -> Option<&IncidentWindow> {
        choose(self.windows.iter(), t, window)
    }

    /// The incidents a finding seen at `t` may join: every window admitting `t`.
    pub fn candidates(
        &self,
        t: DateTime<Utc>,
        window: Duration,
    ) -> impl Iterator<Item = &IncidentWindow> {
        self.windows.iter().filter(move |w| w.admits(t, window))
    }

    /// Records an incident's span; keeps the most recent [`HEAD_WINDOWS`].
    pub fn upsert(&mut self, w: IncidentWindow) {
        match self
            .windows
            .iter_mut()
            .find(|x| x.incident_id == w.incident_id)
        {
            Some(x) => *x = w,
            None => self.windows.push(w),
        }
        self.windows.sort_by(|a, b| {
            b.last_seen
                .cmp(&a.last_seen)
                .then(a.incident_id.cmp(&b.incident_id))
        });
        self.windows.truncate(HEAD_WINDOWS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asff::parse_finding;
    use crate::testing::Asff;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn key_of(resources: serde_json::Value) -> String {
        let text = Asff::guardduty("x").resources(resources).json().to_string();
        correlation_key(&parse_finding(&text).unwrap()).0
    }

    #[test]
    fn ec2_findings_are_keyed_by_account_and_instance_id() {
        assert_eq!(
            key_of(
                json!([{"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:us-east-1:111111111111:instance/i-0abc"}])
            ),
            "111111111111|ec2-instance:i-0abc"
        );
    }

    #[test]
    fn access_keys_are_keyed_by_principal_when_known() {
        assert_eq!(
            key_of(
                json!([{"Type": "AwsIamAccessKey", "Id": "AWS::IAM::AccessKey:ASIA1",
            "Details": {"AwsIamAccessKey": {"PrincipalName": "deploy-role", "AccessKeyId": "ASIA1"}}}])
            ),
            "111111111111|iam-principal:deploy-role"
        );
        assert_eq!(
            key_of(json!([{"Type": "AwsIamAccessKey", "Id": "AWS::IAM::AccessKey:ASIA2"}])),
            "111111111111|iam-access-key:ASIA2"
        );
    }

    #[test]
    fn buckets_clusters_and_other_resources_have_their_own_keys() {
        assert_eq!(
            key_of(json!([{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::my-bucket"}])),
            "111111111111|s3-bucket:my-bucket"
        );
        assert_eq!(
            key_of(json!([{"Type": "AwsS3Object", "Id": "arn:aws:s3:::my-bucket/a/b.txt"}])),
            "111111111111|s3-bucket:my-bucket"
        );
        assert_eq!(
            key_of(json!([
            {"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:us-east-1:111111111111:instance/i-1"},
            {"Type": "AwsEksCluster", "Id": "arn:aws:eks:us-east-1:111111111111:cluster/prod"}])),
            "111111111111|eks-cluster:prod"
        );
        assert_eq!(
            key_of(
                json!([{"Type": "AwsLambdaFunction", "Id": "arn:aws:lambda:us-east-1:111111111111:function:billing:7"}])
            ),
            "111111111111|lambda-function:billing"
        );
        assert_eq!(
            key_of(json!([{"Type": "Other", "Id": "thing-1"}])),
            "111111111111|resource:thing-1"
        );
        assert_eq!(
            key_of(json!([{"Type": "AwsAccount", "Id": "AWS::::Account:111111111111"}])),
            "111111111111|account:root"
        );
    }

    #[test]
    fn head_windows_admit_findings_within_the_window_either_side() {
        let w = IncidentWindow {
            incident_id: "i".into(),
            first_seen: t("2026-11-20T10:00:00Z"),
            last_seen: t("2026-11-20T12:00:00Z"),
        };
        let win = Duration::hours(24);
        assert!(w.admits(t("2026-11-21T12:00:00Z"), win));
        assert!(!w.admits(t("2026-11-21T12:00:01Z"), win));
        assert!(w.admits(t("2026-11-19T10:00:00Z"), win));
        assert!(!w.admits(t("2026-11-19T09:59:59Z"), win));
    }

    #[test]
    fn coarse_windows_cover_whole_days_and_contain_the_exact_window() {
        let w = IncidentWindow {
            incident_id: "i".into(),
            first_seen: t("2026-11-20T10:00:00Z"),
            last_seen: t("2026-11-20T12:00:01Z"),
        };
        let c = w.coarse();
        assert_eq!(c.first_seen, t("2026-11-20T00:00:00Z"));
        assert_eq!(c.last_seen, t("2026-11-21T00:00:00Z"));
        let mut later = w.clone();
        later.last_seen = t("2026-11-20T23:00:00Z");
        assert_eq!(later.coarse(), c, "growing within the day changes nothing");
        let win = Duration::hours(1);
        for m in (0..72 * 60).step_by(7) {
            let at = t("2026-11-19T00:00:00Z") + Duration::minutes(m);
            assert!(!w.admits(at, win) || c.admits(at, win), "{at}");
        }
    }

    #[test]
    fn heads_keep_only_the_most_recent_windows() {
        let mut h = CorrelationHead::new("k");
        for i in 0..(HEAD_WINDOWS as i64 + 5) {
            h.upsert(IncidentWindow {
                incident_id: format!("i{i}"),
                first_seen: t("2026-01-01T00:00:00Z") + Duration::days(i * 3),
                last_seen: t("2026-01-01T00:00:00Z") + Duration::days(i * 3),
            });
        }
        assert_eq!(h.windows.len(), HEAD_WINDOWS);
        assert!(h.windows.iter().all(|w| w.incident_id != "i0"));
    }
}
