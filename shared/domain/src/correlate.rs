//! Correlation: which findings belong to the same incident.
//!
//! The default key is the account plus the primary affected entity: an EC2 instance id, an IAM
//! principal (or access key when there is no principal), an S3 bucket, an EKS cluster, and so on;
//! otherwise the resource id. Findings with the same key are grouped when their event times fall
//! within the runbook's window of the incident's findings (see [`crate::incident`]).

use serde_json::Value;

use crate::asff::{Finding, Resource};

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

fn detail_str<'a>(r: &'a Resource, path: &[&str]) -> Option<&'a str> {
    let mut v: &Value = r.details.as_ref()?;
    for p in path {
        v = v.get(p)?;
    }
    v.as_str().filter(|s| !s.is_empty())
}

fn resource_entity(r: &Resource) -> Entity {
    let id = r.id.as_str();
    match r.resource_type.as_str() {
        "AwsEc2Instance" => entity("ec2-instance", "EC2 instance", tail(id)),
        "AwsIamAccessKey" => {
            let principal = detail_str(r, &["AwsIamAccessKey", "PrincipalName"])
                .or_else(|| detail_str(r, &["AwsIamAccessKey", "UserName"]));
            match principal {
                Some(p) => entity("iam-principal", "IAM principal", p),
                None => {
                    let key = detail_str(r, &["AwsIamAccessKey", "AccessKeyId"])
                        .unwrap_or_else(|| id.rsplit(':').next().unwrap_or(id));
                    entity("iam-access-key", "IAM access key", key)
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
            let repo = detail_str(r, &["AwsEcrContainerImage", "RepositoryName"]).unwrap_or(id);
            entity("ecr-repository", "ECR repository", repo)
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
pub fn primary_entity(f: &Finding) -> Entity {
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

/// The correlation key of a finding, and the entity it names.
pub fn correlation_key(f: &Finding) -> (String, Entity) {
    let e = primary_entity(f);
    (format!("{}|{}:{}", f.aws_account_id, e.kind, e.id), e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asff::parse_finding;
    use serde_json::json;

    fn with_resources(resources: serde_json::Value) -> Finding {
        parse_finding(&json!({
            "SchemaVersion": "2018-10-08", "Id": "x", "ProductArn": "p", "GeneratorId": "g",
            "AwsAccountId": "111111111111", "CreatedAt": "2026-11-20T10:00:00Z",
            "UpdatedAt": "2026-11-20T10:00:00Z", "Severity": {"Label": "LOW"},
            "Title": "t", "Description": "d", "Resources": resources
        }))
        .unwrap()
    }

    #[test]
    fn ec2_findings_are_keyed_by_account_and_instance_id() {
        let f = with_resources(
            json!([{"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:us-east-1:111111111111:instance/i-0abc"}]),
        );
        assert_eq!(correlation_key(&f).0, "111111111111|ec2-instance:i-0abc");
    }

    #[test]
    fn access_keys_are_keyed_by_principal_when_known() {
        let f = with_resources(
            json!([{"Type": "AwsIamAccessKey", "Id": "AWS::IAM::AccessKey:ASIA1",
            "Details": {"AwsIamAccessKey": {"PrincipalName": "deploy-role", "AccessKeyId": "ASIA1"}}}]),
        );
        assert_eq!(
            correlation_key(&f).0,
            "111111111111|iam-principal:deploy-role"
        );
        let f =
            with_resources(json!([{"Type": "AwsIamAccessKey", "Id": "AWS::IAM::AccessKey:ASIA2"}]));
        assert_eq!(correlation_key(&f).0, "111111111111|iam-access-key:ASIA2");
    }

    #[test]
    fn buckets_clusters_and_other_resources_have_their_own_keys() {
        let f = with_resources(json!([{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::my-bucket"}]));
        assert_eq!(correlation_key(&f).0, "111111111111|s3-bucket:my-bucket");
        let f = with_resources(
            json!([{"Type": "AwsS3Object", "Id": "arn:aws:s3:::my-bucket/a/b.txt"}]),
        );
        assert_eq!(correlation_key(&f).0, "111111111111|s3-bucket:my-bucket");
        let f = with_resources(json!([
            {"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:us-east-1:111111111111:instance/i-1"},
            {"Type": "AwsEksCluster", "Id": "arn:aws:eks:us-east-1:111111111111:cluster/prod"}]));
        assert_eq!(correlation_key(&f).0, "111111111111|eks-cluster:prod");
        let f = with_resources(
            json!([{"Type": "AwsLambdaFunction", "Id": "arn:aws:lambda:us-east-1:111111111111:function:billing:7"}]),
        );
        assert_eq!(
            correlation_key(&f).0,
            "111111111111|lambda-function:billing"
        );
        let f = with_resources(json!([{"Type": "Other", "Id": "thing-1"}]));
        assert_eq!(correlation_key(&f).0, "111111111111|resource:thing-1");
        let f =
            with_resources(json!([{"Type": "AwsAccount", "Id": "AWS::::Account:111111111111"}]));
        assert_eq!(correlation_key(&f).0, "111111111111|account:root");
    }
}
