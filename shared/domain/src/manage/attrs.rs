//! The attributes the services accept: GuardDuty's finding criterion attributes (from the
//! service model's CreateFilter documentation, `guardduty_attributes.txt`) and Security Hub's
//! `AwsSecurityFindingFilters` members with their filter kinds (from the service model, as
//! `aws-sdk-securityhub` 1.137 serialises them).

/// Whether GuardDuty accepts this attribute in finding criteria.
pub fn gd_attribute_known(name: &str) -> bool {
    static LIST: &str = include_str!("guardduty_attributes.txt");
    LIST.lines()
        .filter(|l| !l.starts_with('#'))
        .any(|l| l == name)
}

/// The kind of a Security Hub finding filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShFilterKind {
    String,
    Number,
    Date,
    Map,
    Ip,
    Keyword,
    Boolean,
}

impl ShFilterKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Date => "date",
            Self::Map => "map",
            Self::Ip => "IP",
            Self::Keyword => "keyword",
            Self::Boolean => "boolean",
        }
    }
    /// What a filter of this kind holds.
    pub fn shape(self) -> &'static str {
        match self {
            Self::String => "give Value (a string) and Comparison (EQUALS, PREFIX, NOT_EQUALS, PREFIX_NOT_EQUALS, CONTAINS, NOT_CONTAINS)",
            Self::Number => "give one or more of Gte, Lte, Eq, Gt, Lt",
            Self::Date => "give Start and End, or DateRange {Value, Unit: DAYS}",
            Self::Map => "give Key, Value and Comparison (EQUALS, NOT_EQUALS, CONTAINS, NOT_CONTAINS)",
            Self::Ip => "give Cidr",
            Self::Keyword => "give Value",
            Self::Boolean => "give Value (true or false)",
        }
    }
}

/// Security Hub's finding filter attributes and their kinds.
pub const SH_FILTERS: &[(&str, ShFilterKind)] = &[
    ("ProductArn", ShFilterKind::String),
    ("AwsAccountId", ShFilterKind::String),
    ("Id", ShFilterKind::String),
    ("GeneratorId", ShFilterKind::String),
    ("Region", ShFilterKind::String),
    ("FirstObservedAt", ShFilterKind::Date),
    ("LastObservedAt", ShFilterKind::Date),
    ("CreatedAt", ShFilterKind::Date),
    ("UpdatedAt", ShFilterKind::Date),
    ("SeverityProduct", ShFilterKind::Number),
    ("SeverityNormalized", ShFilterKind::Number),
    ("SeverityLabel", ShFilterKind::String),
    ("Confidence", ShFilterKind::Number),
    ("Criticality", ShFilterKind::Number),
    ("Title", ShFilterKind::String),
    ("Description", ShFilterKind::String),
    ("RecommendationText", ShFilterKind::String),
    ("SourceUrl", ShFilterKind::String),
    ("ProductFields", ShFilterKind::Map),
    ("ProductName", ShFilterKind::String),
    ("CompanyName", ShFilterKind::String),
    ("UserDefinedFields", ShFilterKind::Map),
    ("MalwareName", ShFilterKind::String),
    ("MalwareType", ShFilterKind::String),
    ("MalwarePath", ShFilterKind::String),
    ("MalwareState", ShFilterKind::String),
    ("NetworkDirection", ShFilterKind::String),
    ("NetworkProtocol", ShFilterKind::String),
    ("NetworkSourceIpV4", ShFilterKind::Ip),
    ("NetworkSourceIpV6", ShFilterKind::Ip),
    ("NetworkSourcePort", ShFilterKind::Number),
    ("NetworkSourceDomain", ShFilterKind::String),
    ("NetworkSourceMac", ShFilterKind::String),
    ("NetworkDestinationIpV4", ShFilterKind::Ip),
    ("NetworkDestinationIpV6", ShFilterKind::Ip),
    ("NetworkDestinationPort", ShFilterKind::Number),
    ("NetworkDestinationDomain", ShFilterKind::String),
    ("ProcessName", ShFilterKind::String),
    ("ProcessPath", ShFilterKind::String),
    ("ProcessPid", ShFilterKind::Number),
    ("ProcessParentPid", ShFilterKind::Number),
    ("ProcessLaunchedAt", ShFilterKind::Date),
    ("ProcessTerminatedAt", ShFilterKind::Date),
    ("ThreatIntelIndicatorType", ShFilterKind::String),
    ("ThreatIntelIndicatorValue", ShFilterKind::String),
    ("ThreatIntelIndicatorCategory", ShFilterKind::String),
    ("ThreatIntelIndicatorLastObservedAt", ShFilterKind::Date),
    ("ThreatIntelIndicatorSource", ShFilterKind::String),
    ("ThreatIntelIndicatorSourceUrl", ShFilterKind::String),
    ("ResourceType", ShFilterKind::String),
    ("ResourceId", ShFilterKind::String),
    ("ResourcePartition", ShFilterKind::String),
    ("ResourceRegion", ShFilterKind::String),
    ("ResourceTags", ShFilterKind::Map),
    ("ResourceAwsEc2InstanceType", ShFilterKind::String),
    ("ResourceAwsEc2InstanceImageId", ShFilterKind::String),
    ("ResourceAwsEc2InstanceIpV4Addresses", ShFilterKind::Ip),
    ("ResourceAwsEc2InstanceIpV6Addresses", ShFilterKind::Ip),
    ("ResourceAwsEc2InstanceKeyName", ShFilterKind::String),
    (
        "ResourceAwsEc2InstanceIamInstanceProfileArn",
        ShFilterKind::String,
    ),
    ("ResourceAwsEc2InstanceVpcId", ShFilterKind::String),
    ("ResourceAwsEc2InstanceSubnetId", ShFilterKind::String),
    ("ResourceAwsEc2InstanceLaunchedAt", ShFilterKind::Date),
    ("ResourceAwsS3BucketOwnerId", ShFilterKind::String),
    ("ResourceAwsS3BucketOwnerName", ShFilterKind::String),
    ("ResourceAwsIamAccessKeyUserName", ShFilterKind::String),
    ("ResourceAwsIamAccessKeyPrincipalName", ShFilterKind::String),
    ("ResourceAwsIamAccessKeyStatus", ShFilterKind::String),
    ("ResourceAwsIamAccessKeyCreatedAt", ShFilterKind::Date),
    ("ResourceAwsIamUserUserName", ShFilterKind::String),
    ("ResourceContainerName", ShFilterKind::String),
    ("ResourceContainerImageId", ShFilterKind::String),
    ("ResourceContainerImageName", ShFilterKind::String),
    ("ResourceContainerLaunchedAt", ShFilterKind::Date),
    ("ResourceDetailsOther", ShFilterKind::Map),
    ("ComplianceStatus", ShFilterKind::String),
    ("VerificationState", ShFilterKind::String),
    ("WorkflowState", ShFilterKind::String),
    ("WorkflowStatus", ShFilterKind::String),
    ("RecordState", ShFilterKind::String),
    ("RelatedFindingsProductArn", ShFilterKind::String),
    ("RelatedFindingsId", ShFilterKind::String),
    ("NoteText", ShFilterKind::String),
    ("NoteUpdatedAt", ShFilterKind::Date),
    ("NoteUpdatedBy", ShFilterKind::String),
    ("Keyword", ShFilterKind::Keyword),
    ("FindingProviderFieldsConfidence", ShFilterKind::Number),
    ("FindingProviderFieldsCriticality", ShFilterKind::Number),
    (
        "FindingProviderFieldsRelatedFindingsId",
        ShFilterKind::String,
    ),
    (
        "FindingProviderFieldsRelatedFindingsProductArn",
        ShFilterKind::String,
    ),
    ("FindingProviderFieldsSeverityLabel", ShFilterKind::String),
    (
        "FindingProviderFieldsSeverityOriginal",
        ShFilterKind::String,
    ),
    ("FindingProviderFieldsTypes", ShFilterKind::String),
    ("Sample", ShFilterKind::Boolean),
    ("ComplianceSecurityControlId", ShFilterKind::String),
    ("ComplianceAssociatedStandardsId", ShFilterKind::String),
    ("VulnerabilitiesExploitAvailable", ShFilterKind::String),
    ("VulnerabilitiesFixAvailable", ShFilterKind::String),
    (
        "ComplianceSecurityControlParametersName",
        ShFilterKind::String,
    ),
    (
        "ComplianceSecurityControlParametersValue",
        ShFilterKind::String,
    ),
    ("AwsAccountName", ShFilterKind::String),
    ("ResourceApplicationName", ShFilterKind::String),
    ("ResourceApplicationArn", ShFilterKind::String),
    ("ResourceOwnerAccountId", ShFilterKind::String),
    ("ResourceOwnerOrgId", ShFilterKind::String),
    ("ResourceProvider", ShFilterKind::String),
];

/// The kind of a Security Hub filter attribute, if it is one.
pub fn sh_filter_kind(name: &str) -> Option<ShFilterKind> {
    SH_FILTERS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}
