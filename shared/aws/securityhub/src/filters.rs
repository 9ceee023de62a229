//! Security Hub finding filters (`AwsSecurityFindingFilters`) to and from the domain's
//! attribute -> filters map. Generated from the service model's member list (106 attributes of
//! `aws-sdk-securityhub` 1.137, the same table as `vigil_domain::manage::attrs::SH_FILTERS`).

// Deprecated attributes (SeverityNormalized, Keyword, ...) are still accepted by the service and
// may be in insights customers made: they are read and written like the others.
#![allow(deprecated)]

use std::collections::BTreeMap;

use aws_sdk_securityhub::types::{
    AwsSecurityFindingFilters, BooleanFilter, DateFilter, DateRange, DateRangeUnit, IpFilter,
    KeywordFilter, MapFilter, MapFilterComparison, NumberFilter, StringFilter,
    StringFilterComparison,
};
use vigil_domain::manage::spec::{DateRange as DomainRange, ShFilter};

fn text(v: &Option<serde_json::Value>) -> Option<String> {
    v.as_ref().and_then(|v| v.as_str()).map(str::to_owned)
}

fn to_string(f: &ShFilter) -> StringFilter {
    StringFilter::builder()
        .set_value(text(&f.value))
        .set_comparison(f.comparison.as_deref().map(StringFilterComparison::from))
        .build()
}
fn from_string(f: &StringFilter) -> ShFilter {
    ShFilter {
        value: f.value().map(|v| serde_json::Value::String(v.to_owned())),
        comparison: f.comparison().map(|c| c.as_str().to_owned()),
        ..ShFilter::default()
    }
}
fn to_number(f: &ShFilter) -> NumberFilter {
    NumberFilter::builder()
        .set_gte(f.gte)
        .set_lte(f.lte)
        .set_eq(f.eq)
        .set_gt(f.gt)
        .set_lt(f.lt)
        .build()
}
fn from_number(f: &NumberFilter) -> ShFilter {
    ShFilter {
        gte: f.gte(),
        lte: f.lte(),
        eq: f.eq(),
        gt: f.gt(),
        lt: f.lt(),
        ..ShFilter::default()
    }
}
fn to_date(f: &ShFilter) -> DateFilter {
    DateFilter::builder()
        .set_start(f.start.clone())
        .set_end(f.end.clone())
        .set_date_range(f.date_range.as_ref().map(|r| {
            DateRange::builder()
                .value(r.value)
                .unit(DateRangeUnit::from(r.unit.as_str()))
                .build()
        }))
        .build()
}
fn from_date(f: &DateFilter) -> ShFilter {
    ShFilter {
        start: f.start().map(str::to_owned),
        end: f.end().map(str::to_owned),
        date_range: f.date_range().map(|r| DomainRange {
            value: r.value().unwrap_or_default(),
            unit: r.unit().map_or("DAYS", |u| u.as_str()).to_owned(),
        }),
        ..ShFilter::default()
    }
}
fn to_map(f: &ShFilter) -> MapFilter {
    MapFilter::builder()
        .set_key(f.key.clone())
        .set_value(text(&f.value))
        .set_comparison(f.comparison.as_deref().map(MapFilterComparison::from))
        .build()
}
fn from_map(f: &MapFilter) -> ShFilter {
    ShFilter {
        key: f.key().map(str::to_owned),
        value: f.value().map(|v| serde_json::Value::String(v.to_owned())),
        comparison: f.comparison().map(|c| c.as_str().to_owned()),
        ..ShFilter::default()
    }
}
fn to_ip(f: &ShFilter) -> IpFilter {
    IpFilter::builder().set_cidr(f.cidr.clone()).build()
}
fn from_ip(f: &IpFilter) -> ShFilter {
    ShFilter {
        cidr: f.cidr().map(str::to_owned),
        ..ShFilter::default()
    }
}
fn to_keyword(f: &ShFilter) -> KeywordFilter {
    KeywordFilter::builder().set_value(text(&f.value)).build()
}
fn from_keyword(f: &KeywordFilter) -> ShFilter {
    ShFilter {
        value: f.value().map(|v| serde_json::Value::String(v.to_owned())),
        ..ShFilter::default()
    }
}
fn to_boolean(f: &ShFilter) -> BooleanFilter {
    BooleanFilter::builder()
        .set_value(f.value.as_ref().and_then(|v| v.as_bool()))
        .build()
}
fn from_boolean(f: &BooleanFilter) -> ShFilter {
    ShFilter {
        value: f.value().map(serde_json::Value::Bool),
        ..ShFilter::default()
    }
}

/// The SDK filters for the domain's map; an attribute the model lacks is returned as an error.
pub fn to_sdk(m: &BTreeMap<String, Vec<ShFilter>>) -> Result<AwsSecurityFindingFilters, String> {
    let mut b = AwsSecurityFindingFilters::builder();
    for (name, v) in m {
        b = match name.as_str() {
            "ProductArn" => b.set_product_arn(Some(v.iter().map(to_string).collect())),
            "AwsAccountId" => b.set_aws_account_id(Some(v.iter().map(to_string).collect())),
            "Id" => b.set_id(Some(v.iter().map(to_string).collect())),
            "GeneratorId" => b.set_generator_id(Some(v.iter().map(to_string).collect())),
            "Region" => b.set_region(Some(v.iter().map(to_string).collect())),
            "FirstObservedAt" => b.set_first_observed_at(Some(v.iter().map(to_date).collect())),
            "LastObservedAt" => b.set_last_observed_at(Some(v.iter().map(to_date).collect())),
            "CreatedAt" => b.set_created_at(Some(v.iter().map(to_date).collect())),
            "UpdatedAt" => b.set_updated_at(Some(v.iter().map(to_date).collect())),
            "SeverityProduct" => b.set_severity_product(Some(v.iter().map(to_number).collect())),
            "SeverityNormalized" => {
                b.set_severity_normalized(Some(v.iter().map(to_number).collect()))
            }
            "SeverityLabel" => b.set_severity_label(Some(v.iter().map(to_string).collect())),
            "Confidence" => b.set_confidence(Some(v.iter().map(to_number).collect())),
            "Criticality" => b.set_criticality(Some(v.iter().map(to_number).collect())),
            "Title" => b.set_title(Some(v.iter().map(to_string).collect())),
            "Description" => b.set_description(Some(v.iter().map(to_string).collect())),
            "RecommendationText" => {
                b.set_recommendation_text(Some(v.iter().map(to_string).collect()))
            }
            "SourceUrl" => b.set_source_url(Some(v.iter().map(to_string).collect())),
            "ProductFields" => b.set_product_fields(Some(v.iter().map(to_map).collect())),
            "ProductName" => b.set_product_name(Some(v.iter().map(to_string).collect())),
            "CompanyName" => b.set_company_name(Some(v.iter().map(to_string).collect())),
            "UserDefinedFields" => b.set_user_defined_fields(Some(v.iter().map(to_map).collect())),
            "MalwareName" => b.set_malware_name(Some(v.iter().map(to_string).collect())),
            "MalwareType" => b.set_malware_type(Some(v.iter().map(to_string).collect())),
            "MalwarePath" => b.set_malware_path(Some(v.iter().map(to_string).collect())),
            "MalwareState" => b.set_malware_state(Some(v.iter().map(to_string).collect())),
            "NetworkDirection" => b.set_network_direction(Some(v.iter().map(to_string).collect())),
            "NetworkProtocol" => b.set_network_protocol(Some(v.iter().map(to_string).collect())),
            "NetworkSourceIpV4" => b.set_network_source_ipv4(Some(v.iter().map(to_ip).collect())),
            "NetworkSourceIpV6" => b.set_network_source_ipv6(Some(v.iter().map(to_ip).collect())),
            "NetworkSourcePort" => {
                b.set_network_source_port(Some(v.iter().map(to_number).collect()))
            }
            "NetworkSourceDomain" => {
                b.set_network_source_domain(Some(v.iter().map(to_string).collect()))
            }
            "NetworkSourceMac" => b.set_network_source_mac(Some(v.iter().map(to_string).collect())),
            "NetworkDestinationIpV4" => {
                b.set_network_destination_ipv4(Some(v.iter().map(to_ip).collect()))
            }
            "NetworkDestinationIpV6" => {
                b.set_network_destination_ipv6(Some(v.iter().map(to_ip).collect()))
            }
            "NetworkDestinationPort" => {
                b.set_network_destination_port(Some(v.iter().map(to_number).collect()))
            }
            "NetworkDestinationDomain" => {
                b.set_network_destination_domain(Some(v.iter().map(to_string).collect()))
            }
            "ProcessName" => b.set_process_name(Some(v.iter().map(to_string).collect())),
            "ProcessPath" => b.set_process_path(Some(v.iter().map(to_string).collect())),
            "ProcessPid" => b.set_process_pid(Some(v.iter().map(to_number).collect())),
            "ProcessParentPid" => b.set_process_parent_pid(Some(v.iter().map(to_number).collect())),
            "ProcessLaunchedAt" => b.set_process_launched_at(Some(v.iter().map(to_date).collect())),
            "ProcessTerminatedAt" => {
                b.set_process_terminated_at(Some(v.iter().map(to_date).collect()))
            }
            "ThreatIntelIndicatorType" => {
                b.set_threat_intel_indicator_type(Some(v.iter().map(to_string).collect()))
            }
            "ThreatIntelIndicatorValue" => {
                b.set_threat_intel_indicator_value(Some(v.iter().map(to_string).collect()))
            }
            "ThreatIntelIndicatorCategory" => {
                b.set_threat_intel_indicator_category(Some(v.iter().map(to_string).collect()))
            }
            "ThreatIntelIndicatorLastObservedAt" => {
                b.set_threat_intel_indicator_last_observed_at(Some(v.iter().map(to_date).collect()))
            }
            "ThreatIntelIndicatorSource" => {
                b.set_threat_intel_indicator_source(Some(v.iter().map(to_string).collect()))
            }
            "ThreatIntelIndicatorSourceUrl" => {
                b.set_threat_intel_indicator_source_url(Some(v.iter().map(to_string).collect()))
            }
            "ResourceType" => b.set_resource_type(Some(v.iter().map(to_string).collect())),
            "ResourceId" => b.set_resource_id(Some(v.iter().map(to_string).collect())),
            "ResourcePartition" => {
                b.set_resource_partition(Some(v.iter().map(to_string).collect()))
            }
            "ResourceRegion" => b.set_resource_region(Some(v.iter().map(to_string).collect())),
            "ResourceTags" => b.set_resource_tags(Some(v.iter().map(to_map).collect())),
            "ResourceAwsEc2InstanceType" => {
                b.set_resource_aws_ec2_instance_type(Some(v.iter().map(to_string).collect()))
            }
            "ResourceAwsEc2InstanceImageId" => {
                b.set_resource_aws_ec2_instance_image_id(Some(v.iter().map(to_string).collect()))
            }
            "ResourceAwsEc2InstanceIpV4Addresses" => {
                b.set_resource_aws_ec2_instance_ipv4_addresses(Some(v.iter().map(to_ip).collect()))
            }
            "ResourceAwsEc2InstanceIpV6Addresses" => {
                b.set_resource_aws_ec2_instance_ipv6_addresses(Some(v.iter().map(to_ip).collect()))
            }
            "ResourceAwsEc2InstanceKeyName" => {
                b.set_resource_aws_ec2_instance_key_name(Some(v.iter().map(to_string).collect()))
            }
            "ResourceAwsEc2InstanceIamInstanceProfileArn" => b
                .set_resource_aws_ec2_instance_iam_instance_profile_arn(Some(
                    v.iter().map(to_string).collect(),
                )),
            "ResourceAwsEc2InstanceVpcId" => {
                b.set_resource_aws_ec2_instance_vpc_id(Some(v.iter().map(to_string).collect()))
            }
            "ResourceAwsEc2InstanceSubnetId" => {
                b.set_resource_aws_ec2_instance_subnet_id(Some(v.iter().map(to_string).collect()))
            }
            "ResourceAwsEc2InstanceLaunchedAt" => {
                b.set_resource_aws_ec2_instance_launched_at(Some(v.iter().map(to_date).collect()))
            }
            "ResourceAwsS3BucketOwnerId" => {
                b.set_resource_aws_s3_bucket_owner_id(Some(v.iter().map(to_string).collect()))
            }
            "ResourceAwsS3BucketOwnerName" => {
                b.set_resource_aws_s3_bucket_owner_name(Some(v.iter().map(to_string).collect()))
            }
            "ResourceAwsIamAccessKeyUserName" => {
                b.set_resource_aws_iam_access_key_user_name(Some(v.iter().map(to_string).collect()))
            }
            "ResourceAwsIamAccessKeyPrincipalName" => b
                .set_resource_aws_iam_access_key_principal_name(Some(
                    v.iter().map(to_string).collect(),
                )),
            "ResourceAwsIamAccessKeyStatus" => {
                b.set_resource_aws_iam_access_key_status(Some(v.iter().map(to_string).collect()))
            }
            "ResourceAwsIamAccessKeyCreatedAt" => {
                b.set_resource_aws_iam_access_key_created_at(Some(v.iter().map(to_date).collect()))
            }
            "ResourceAwsIamUserUserName" => {
                b.set_resource_aws_iam_user_user_name(Some(v.iter().map(to_string).collect()))
            }
            "ResourceContainerName" => {
                b.set_resource_container_name(Some(v.iter().map(to_string).collect()))
            }
            "ResourceContainerImageId" => {
                b.set_resource_container_image_id(Some(v.iter().map(to_string).collect()))
            }
            "ResourceContainerImageName" => {
                b.set_resource_container_image_name(Some(v.iter().map(to_string).collect()))
            }
            "ResourceContainerLaunchedAt" => {
                b.set_resource_container_launched_at(Some(v.iter().map(to_date).collect()))
            }
            "ResourceDetailsOther" => {
                b.set_resource_details_other(Some(v.iter().map(to_map).collect()))
            }
            "ComplianceStatus" => b.set_compliance_status(Some(v.iter().map(to_string).collect())),
            "VerificationState" => {
                b.set_verification_state(Some(v.iter().map(to_string).collect()))
            }
            "WorkflowState" => b.set_workflow_state(Some(v.iter().map(to_string).collect())),
            "WorkflowStatus" => b.set_workflow_status(Some(v.iter().map(to_string).collect())),
            "RecordState" => b.set_record_state(Some(v.iter().map(to_string).collect())),
            "RelatedFindingsProductArn" => {
                b.set_related_findings_product_arn(Some(v.iter().map(to_string).collect()))
            }
            "RelatedFindingsId" => {
                b.set_related_findings_id(Some(v.iter().map(to_string).collect()))
            }
            "NoteText" => b.set_note_text(Some(v.iter().map(to_string).collect())),
            "NoteUpdatedAt" => b.set_note_updated_at(Some(v.iter().map(to_date).collect())),
            "NoteUpdatedBy" => b.set_note_updated_by(Some(v.iter().map(to_string).collect())),
            "Keyword" => b.set_keyword(Some(v.iter().map(to_keyword).collect())),
            "FindingProviderFieldsConfidence" => {
                b.set_finding_provider_fields_confidence(Some(v.iter().map(to_number).collect()))
            }
            "FindingProviderFieldsCriticality" => {
                b.set_finding_provider_fields_criticality(Some(v.iter().map(to_number).collect()))
            }
            "FindingProviderFieldsRelatedFindingsId" => b
                .set_finding_provider_fields_related_findings_id(Some(
                    v.iter().map(to_string).collect(),
                )),
            "FindingProviderFieldsRelatedFindingsProductArn" => b
                .set_finding_provider_fields_related_findings_product_arn(Some(
                    v.iter().map(to_string).collect(),
                )),
            "FindingProviderFieldsSeverityLabel" => b.set_finding_provider_fields_severity_label(
                Some(v.iter().map(to_string).collect()),
            ),
            "FindingProviderFieldsSeverityOriginal" => b
                .set_finding_provider_fields_severity_original(Some(
                    v.iter().map(to_string).collect(),
                )),
            "FindingProviderFieldsTypes" => {
                b.set_finding_provider_fields_types(Some(v.iter().map(to_string).collect()))
            }
            "Sample" => b.set_sample(Some(v.iter().map(to_boolean).collect())),
            "ComplianceSecurityControlId" => {
                b.set_compliance_security_control_id(Some(v.iter().map(to_string).collect()))
            }
            "ComplianceAssociatedStandardsId" => {
                b.set_compliance_associated_standards_id(Some(v.iter().map(to_string).collect()))
            }
            "VulnerabilitiesExploitAvailable" => {
                b.set_vulnerabilities_exploit_available(Some(v.iter().map(to_string).collect()))
            }
            "VulnerabilitiesFixAvailable" => {
                b.set_vulnerabilities_fix_available(Some(v.iter().map(to_string).collect()))
            }
            "ComplianceSecurityControlParametersName" => b
                .set_compliance_security_control_parameters_name(Some(
                    v.iter().map(to_string).collect(),
                )),
            "ComplianceSecurityControlParametersValue" => b
                .set_compliance_security_control_parameters_value(Some(
                    v.iter().map(to_string).collect(),
                )),
            "AwsAccountName" => b.set_aws_account_name(Some(v.iter().map(to_string).collect())),
            "ResourceApplicationName" => {
                b.set_resource_application_name(Some(v.iter().map(to_string).collect()))
            }
            "ResourceApplicationArn" => {
                b.set_resource_application_arn(Some(v.iter().map(to_string).collect()))
            }
            "ResourceOwnerAccountId" => {
                b.set_resource_owner_account_id(Some(v.iter().map(to_string).collect()))
            }
            "ResourceOwnerOrgId" => {
                b.set_resource_owner_org_id(Some(v.iter().map(to_string).collect()))
            }
            "ResourceProvider" => b.set_resource_provider(Some(v.iter().map(to_string).collect())),
            other => {
                return Err(format!(
                    "{other} is not a Security Hub finding filter attribute"
                ))
            }
        };
    }
    Ok(b.build())
}

/// The domain's map for the SDK filters.
pub fn from_sdk(f: &AwsSecurityFindingFilters) -> BTreeMap<String, Vec<ShFilter>> {
    let mut m = BTreeMap::new();
    if !f.product_arn().is_empty() {
        m.insert(
            "ProductArn".to_owned(),
            f.product_arn().iter().map(from_string).collect(),
        );
    }
    if !f.aws_account_id().is_empty() {
        m.insert(
            "AwsAccountId".to_owned(),
            f.aws_account_id().iter().map(from_string).collect(),
        );
    }
    if !f.id().is_empty() {
        m.insert("Id".to_owned(), f.id().iter().map(from_string).collect());
    }
    if !f.generator_id().is_empty() {
        m.insert(
            "GeneratorId".to_owned(),
            f.generator_id().iter().map(from_string).collect(),
        );
    }
    if !f.region().is_empty() {
        m.insert(
            "Region".to_owned(),
            f.region().iter().map(from_string).collect(),
        );
    }
    if !f.first_observed_at().is_empty() {
        m.insert(
            "FirstObservedAt".to_owned(),
            f.first_observed_at().iter().map(from_date).collect(),
        );
    }
    if !f.last_observed_at().is_empty() {
        m.insert(
            "LastObservedAt".to_owned(),
            f.last_observed_at().iter().map(from_date).collect(),
        );
    }
    if !f.created_at().is_empty() {
        m.insert(
            "CreatedAt".to_owned(),
            f.created_at().iter().map(from_date).collect(),
        );
    }
    if !f.updated_at().is_empty() {
        m.insert(
            "UpdatedAt".to_owned(),
            f.updated_at().iter().map(from_date).collect(),
        );
    }
    if !f.severity_product().is_empty() {
        m.insert(
            "SeverityProduct".to_owned(),
            f.severity_product().iter().map(from_number).collect(),
        );
    }
    if !f.severity_normalized().is_empty() {
        m.insert(
            "SeverityNormalized".to_owned(),
            f.severity_normalized().iter().map(from_number).collect(),
        );
    }
    if !f.severity_label().is_empty() {
        m.insert(
            "SeverityLabel".to_owned(),
            f.severity_label().iter().map(from_string).collect(),
        );
    }
    if !f.confidence().is_empty() {
        m.insert(
            "Confidence".to_owned(),
            f.confidence().iter().map(from_number).collect(),
        );
    }
    if !f.criticality().is_empty() {
        m.insert(
            "Criticality".to_owned(),
            f.criticality().iter().map(from_number).collect(),
        );
    }
    if !f.title().is_empty() {
        m.insert(
            "Title".to_owned(),
            f.title().iter().map(from_string).collect(),
        );
    }
    if !f.description().is_empty() {
        m.insert(
            "Description".to_owned(),
            f.description().iter().map(from_string).collect(),
        );
    }
    if !f.recommendation_text().is_empty() {
        m.insert(
            "RecommendationText".to_owned(),
            f.recommendation_text().iter().map(from_string).collect(),
        );
    }
    if !f.source_url().is_empty() {
        m.insert(
            "SourceUrl".to_owned(),
            f.source_url().iter().map(from_string).collect(),
        );
    }
    if !f.product_fields().is_empty() {
        m.insert(
            "ProductFields".to_owned(),
            f.product_fields().iter().map(from_map).collect(),
        );
    }
    if !f.product_name().is_empty() {
        m.insert(
            "ProductName".to_owned(),
            f.product_name().iter().map(from_string).collect(),
        );
    }
    if !f.company_name().is_empty() {
        m.insert(
            "CompanyName".to_owned(),
            f.company_name().iter().map(from_string).collect(),
        );
    }
    if !f.user_defined_fields().is_empty() {
        m.insert(
            "UserDefinedFields".to_owned(),
            f.user_defined_fields().iter().map(from_map).collect(),
        );
    }
    if !f.malware_name().is_empty() {
        m.insert(
            "MalwareName".to_owned(),
            f.malware_name().iter().map(from_string).collect(),
        );
    }
    if !f.malware_type().is_empty() {
        m.insert(
            "MalwareType".to_owned(),
            f.malware_type().iter().map(from_string).collect(),
        );
    }
    if !f.malware_path().is_empty() {
        m.insert(
            "MalwarePath".to_owned(),
            f.malware_path().iter().map(from_string).collect(),
        );
    }
    if !f.malware_state().is_empty() {
        m.insert(
            "MalwareState".to_owned(),
            f.malware_state().iter().map(from_string).collect(),
        );
    }
    if !f.network_direction().is_empty() {
        m.insert(
            "NetworkDirection".to_owned(),
            f.network_direction().iter().map(from_string).collect(),
        );
    }
    if !f.network_protocol().is_empty() {
        m.insert(
            "NetworkProtocol".to_owned(),
            f.network_protocol().iter().map(from_string).collect(),
        );
    }
    if !f.network_source_ipv4().is_empty() {
        m.insert(
            "NetworkSourceIpV4".to_owned(),
            f.network_source_ipv4().iter().map(from_ip).collect(),
        );
    }
    if !f.network_source_ipv6().is_empty() {
        m.insert(
            "NetworkSourceIpV6".to_owned(),
            f.network_source_ipv6().iter().map(from_ip).collect(),
        );
    }
    if !f.network_source_port().is_empty() {
        m.insert(
            "NetworkSourcePort".to_owned(),
            f.network_source_port().iter().map(from_number).collect(),
        );
    }
    if !f.network_source_domain().is_empty() {
        m.insert(
            "NetworkSourceDomain".to_owned(),
            f.network_source_domain().iter().map(from_string).collect(),
        );
    }
    if !f.network_source_mac().is_empty() {
        m.insert(
            "NetworkSourceMac".to_owned(),
            f.network_source_mac().iter().map(from_string).collect(),
        );
    }
    if !f.network_destination_ipv4().is_empty() {
        m.insert(
            "NetworkDestinationIpV4".to_owned(),
            f.network_destination_ipv4().iter().map(from_ip).collect(),
        );
    }
    if !f.network_destination_ipv6().is_empty() {
        m.insert(
            "NetworkDestinationIpV6".to_owned(),
            f.network_destination_ipv6().iter().map(from_ip).collect(),
        );
    }
    if !f.network_destination_port().is_empty() {
        m.insert(
            "NetworkDestinationPort".to_owned(),
            f.network_destination_port()
                .iter()
                .map(from_number)
                .collect(),
        );
    }
    if !f.network_destination_domain().is_empty() {
        m.insert(
            "NetworkDestinationDomain".to_owned(),
            f.network_destination_domain()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.process_name().is_empty() {
        m.insert(
            "ProcessName".to_owned(),
            f.process_name().iter().map(from_string).collect(),
        );
    }
    if !f.process_path().is_empty() {
        m.insert(
            "ProcessPath".to_owned(),
            f.process_path().iter().map(from_string).collect(),
        );
    }
    if !f.process_pid().is_empty() {
        m.insert(
            "ProcessPid".to_owned(),
            f.process_pid().iter().map(from_number).collect(),
        );
    }
    if !f.process_parent_pid().is_empty() {
        m.insert(
            "ProcessParentPid".to_owned(),
            f.process_parent_pid().iter().map(from_number).collect(),
        );
    }
    if !f.process_launched_at().is_empty() {
        m.insert(
            "ProcessLaunchedAt".to_owned(),
            f.process_launched_at().iter().map(from_date).collect(),
        );
    }
    if !f.process_terminated_at().is_empty() {
        m.insert(
            "ProcessTerminatedAt".to_owned(),
            f.process_terminated_at().iter().map(from_date).collect(),
        );
    }
    if !f.threat_intel_indicator_type().is_empty() {
        m.insert(
            "ThreatIntelIndicatorType".to_owned(),
            f.threat_intel_indicator_type()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.threat_intel_indicator_value().is_empty() {
        m.insert(
            "ThreatIntelIndicatorValue".to_owned(),
            f.threat_intel_indicator_value()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.threat_intel_indicator_category().is_empty() {
        m.insert(
            "ThreatIntelIndicatorCategory".to_owned(),
            f.threat_intel_indicator_category()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.threat_intel_indicator_last_observed_at().is_empty() {
        m.insert(
            "ThreatIntelIndicatorLastObservedAt".to_owned(),
            f.threat_intel_indicator_last_observed_at()
                .iter()
                .map(from_date)
                .collect(),
        );
    }
    if !f.threat_intel_indicator_source().is_empty() {
        m.insert(
            "ThreatIntelIndicatorSource".to_owned(),
            f.threat_intel_indicator_source()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.threat_intel_indicator_source_url().is_empty() {
        m.insert(
            "ThreatIntelIndicatorSourceUrl".to_owned(),
            f.threat_intel_indicator_source_url()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_type().is_empty() {
        m.insert(
            "ResourceType".to_owned(),
            f.resource_type().iter().map(from_string).collect(),
        );
    }
    if !f.resource_id().is_empty() {
        m.insert(
            "ResourceId".to_owned(),
            f.resource_id().iter().map(from_string).collect(),
        );
    }
    if !f.resource_partition().is_empty() {
        m.insert(
            "ResourcePartition".to_owned(),
            f.resource_partition().iter().map(from_string).collect(),
        );
    }
    if !f.resource_region().is_empty() {
        m.insert(
            "ResourceRegion".to_owned(),
            f.resource_region().iter().map(from_string).collect(),
        );
    }
    if !f.resource_tags().is_empty() {
        m.insert(
            "ResourceTags".to_owned(),
            f.resource_tags().iter().map(from_map).collect(),
        );
    }
    if !f.resource_aws_ec2_instance_type().is_empty() {
        m.insert(
            "ResourceAwsEc2InstanceType".to_owned(),
            f.resource_aws_ec2_instance_type()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_aws_ec2_instance_image_id().is_empty() {
        m.insert(
            "ResourceAwsEc2InstanceImageId".to_owned(),
            f.resource_aws_ec2_instance_image_id()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_aws_ec2_instance_ipv4_addresses().is_empty() {
        m.insert(
            "ResourceAwsEc2InstanceIpV4Addresses".to_owned(),
            f.resource_aws_ec2_instance_ipv4_addresses()
                .iter()
                .map(from_ip)
                .collect(),
        );
    }
    if !f.resource_aws_ec2_instance_ipv6_addresses().is_empty() {
        m.insert(
            "ResourceAwsEc2InstanceIpV6Addresses".to_owned(),
            f.resource_aws_ec2_instance_ipv6_addresses()
                .iter()
                .map(from_ip)
                .collect(),
        );
    }
    if !f.resource_aws_ec2_instance_key_name().is_empty() {
        m.insert(
            "ResourceAwsEc2InstanceKeyName".to_owned(),
            f.resource_aws_ec2_instance_key_name()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f
        .resource_aws_ec2_instance_iam_instance_profile_arn()
        .is_empty()
    {
        m.insert(
            "ResourceAwsEc2InstanceIamInstanceProfileArn".to_owned(),
            f.resource_aws_ec2_instance_iam_instance_profile_arn()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_aws_ec2_instance_vpc_id().is_empty() {
        m.insert(
            "ResourceAwsEc2InstanceVpcId".to_owned(),
            f.resource_aws_ec2_instance_vpc_id()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_aws_ec2_instance_subnet_id().is_empty() {
        m.insert(
            "ResourceAwsEc2InstanceSubnetId".to_owned(),
            f.resource_aws_ec2_instance_subnet_id()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_aws_ec2_instance_launched_at().is_empty() {
        m.insert(
            "ResourceAwsEc2InstanceLaunchedAt".to_owned(),
            f.resource_aws_ec2_instance_launched_at()
                .iter()
                .map(from_date)
                .collect(),
        );
    }
    if !f.resource_aws_s3_bucket_owner_id().is_empty() {
        m.insert(
            "ResourceAwsS3BucketOwnerId".to_owned(),
            f.resource_aws_s3_bucket_owner_id()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_aws_s3_bucket_owner_name().is_empty() {
        m.insert(
            "ResourceAwsS3BucketOwnerName".to_owned(),
            f.resource_aws_s3_bucket_owner_name()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_aws_iam_access_key_user_name().is_empty() {
        m.insert(
            "ResourceAwsIamAccessKeyUserName".to_owned(),
            f.resource_aws_iam_access_key_user_name()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_aws_iam_access_key_principal_name().is_empty() {
        m.insert(
            "ResourceAwsIamAccessKeyPrincipalName".to_owned(),
            f.resource_aws_iam_access_key_principal_name()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_aws_iam_access_key_status().is_empty() {
        m.insert(
            "ResourceAwsIamAccessKeyStatus".to_owned(),
            f.resource_aws_iam_access_key_status()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_aws_iam_access_key_created_at().is_empty() {
        m.insert(
            "ResourceAwsIamAccessKeyCreatedAt".to_owned(),
            f.resource_aws_iam_access_key_created_at()
                .iter()
                .map(from_date)
                .collect(),
        );
    }
    if !f.resource_aws_iam_user_user_name().is_empty() {
        m.insert(
            "ResourceAwsIamUserUserName".to_owned(),
            f.resource_aws_iam_user_user_name()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_container_name().is_empty() {
        m.insert(
            "ResourceContainerName".to_owned(),
            f.resource_container_name()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_container_image_id().is_empty() {
        m.insert(
            "ResourceContainerImageId".to_owned(),
            f.resource_container_image_id()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_container_image_name().is_empty() {
        m.insert(
            "ResourceContainerImageName".to_owned(),
            f.resource_container_image_name()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_container_launched_at().is_empty() {
        m.insert(
            "ResourceContainerLaunchedAt".to_owned(),
            f.resource_container_launched_at()
                .iter()
                .map(from_date)
                .collect(),
        );
    }
    if !f.resource_details_other().is_empty() {
        m.insert(
            "ResourceDetailsOther".to_owned(),
            f.resource_details_other().iter().map(from_map).collect(),
        );
    }
    if !f.compliance_status().is_empty() {
        m.insert(
            "ComplianceStatus".to_owned(),
            f.compliance_status().iter().map(from_string).collect(),
        );
    }
    if !f.verification_state().is_empty() {
        m.insert(
            "VerificationState".to_owned(),
            f.verification_state().iter().map(from_string).collect(),
        );
    }
    if !f.workflow_state().is_empty() {
        m.insert(
            "WorkflowState".to_owned(),
            f.workflow_state().iter().map(from_string).collect(),
        );
    }
    if !f.workflow_status().is_empty() {
        m.insert(
            "WorkflowStatus".to_owned(),
            f.workflow_status().iter().map(from_string).collect(),
        );
    }
    if !f.record_state().is_empty() {
        m.insert(
            "RecordState".to_owned(),
            f.record_state().iter().map(from_string).collect(),
        );
    }
    if !f.related_findings_product_arn().is_empty() {
        m.insert(
            "RelatedFindingsProductArn".to_owned(),
            f.related_findings_product_arn()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.related_findings_id().is_empty() {
        m.insert(
            "RelatedFindingsId".to_owned(),
            f.related_findings_id().iter().map(from_string).collect(),
        );
    }
    if !f.note_text().is_empty() {
        m.insert(
            "NoteText".to_owned(),
            f.note_text().iter().map(from_string).collect(),
        );
    }
    if !f.note_updated_at().is_empty() {
        m.insert(
            "NoteUpdatedAt".to_owned(),
            f.note_updated_at().iter().map(from_date).collect(),
        );
    }
    if !f.note_updated_by().is_empty() {
        m.insert(
            "NoteUpdatedBy".to_owned(),
            f.note_updated_by().iter().map(from_string).collect(),
        );
    }
    if !f.keyword().is_empty() {
        m.insert(
            "Keyword".to_owned(),
            f.keyword().iter().map(from_keyword).collect(),
        );
    }
    if !f.finding_provider_fields_confidence().is_empty() {
        m.insert(
            "FindingProviderFieldsConfidence".to_owned(),
            f.finding_provider_fields_confidence()
                .iter()
                .map(from_number)
                .collect(),
        );
    }
    if !f.finding_provider_fields_criticality().is_empty() {
        m.insert(
            "FindingProviderFieldsCriticality".to_owned(),
            f.finding_provider_fields_criticality()
                .iter()
                .map(from_number)
                .collect(),
        );
    }
    if !f.finding_provider_fields_related_findings_id().is_empty() {
        m.insert(
            "FindingProviderFieldsRelatedFindingsId".to_owned(),
            f.finding_provider_fields_related_findings_id()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f
        .finding_provider_fields_related_findings_product_arn()
        .is_empty()
    {
        m.insert(
            "FindingProviderFieldsRelatedFindingsProductArn".to_owned(),
            f.finding_provider_fields_related_findings_product_arn()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.finding_provider_fields_severity_label().is_empty() {
        m.insert(
            "FindingProviderFieldsSeverityLabel".to_owned(),
            f.finding_provider_fields_severity_label()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.finding_provider_fields_severity_original().is_empty() {
        m.insert(
            "FindingProviderFieldsSeverityOriginal".to_owned(),
            f.finding_provider_fields_severity_original()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.finding_provider_fields_types().is_empty() {
        m.insert(
            "FindingProviderFieldsTypes".to_owned(),
            f.finding_provider_fields_types()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.sample().is_empty() {
        m.insert(
            "Sample".to_owned(),
            f.sample().iter().map(from_boolean).collect(),
        );
    }
    if !f.compliance_security_control_id().is_empty() {
        m.insert(
            "ComplianceSecurityControlId".to_owned(),
            f.compliance_security_control_id()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.compliance_associated_standards_id().is_empty() {
        m.insert(
            "ComplianceAssociatedStandardsId".to_owned(),
            f.compliance_associated_standards_id()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.vulnerabilities_exploit_available().is_empty() {
        m.insert(
            "VulnerabilitiesExploitAvailable".to_owned(),
            f.vulnerabilities_exploit_available()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.vulnerabilities_fix_available().is_empty() {
        m.insert(
            "VulnerabilitiesFixAvailable".to_owned(),
            f.vulnerabilities_fix_available()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.compliance_security_control_parameters_name().is_empty() {
        m.insert(
            "ComplianceSecurityControlParametersName".to_owned(),
            f.compliance_security_control_parameters_name()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.compliance_security_control_parameters_value().is_empty() {
        m.insert(
            "ComplianceSecurityControlParametersValue".to_owned(),
            f.compliance_security_control_parameters_value()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.aws_account_name().is_empty() {
        m.insert(
            "AwsAccountName".to_owned(),
            f.aws_account_name().iter().map(from_string).collect(),
        );
    }
    if !f.resource_application_name().is_empty() {
        m.insert(
            "ResourceApplicationName".to_owned(),
            f.resource_application_name()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_application_arn().is_empty() {
        m.insert(
            "ResourceApplicationArn".to_owned(),
            f.resource_application_arn()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_owner_account_id().is_empty() {
        m.insert(
            "ResourceOwnerAccountId".to_owned(),
            f.resource_owner_account_id()
                .iter()
                .map(from_string)
                .collect(),
        );
    }
    if !f.resource_owner_org_id().is_empty() {
        m.insert(
            "ResourceOwnerOrgId".to_owned(),
            f.resource_owner_org_id().iter().map(from_string).collect(),
        );
    }
    if !f.resource_provider().is_empty() {
        m.insert(
            "ResourceProvider".to_owned(),
            f.resource_provider().iter().map(from_string).collect(),
        );
    }
    m
}
