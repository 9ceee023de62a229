//! Vigil's AWS GuardDuty adapter: the domain's [`GuardDutyAdmin`] port for managed GuardDuty in
//! the delegated administrator account, one client per Region.
//!
//! Reads: `ListDetectors`, `GetDetector`, `DescribeOrganizationConfiguration`, `ListFilters` +
//! `GetFilter`, `ListIPSets` + `GetIPSet`, `ListThreatIntelSets` + `GetThreatIntelSet`,
//! `ListMembers` (every page; GuardDuty pages are at most 50). Writes: `CreateDetector`,
//! `UpdateDetector`, `UpdateOrganizationConfiguration`, `Create/Update/DeleteFilter`,
//! `Create/Update/DeleteIPSet`, `Create/Update/DeleteThreatIntelSet`, `CreateMembers` (at most
//! 50 accounts a call; unprocessed accounts come back with GuardDuty's reason). Throttling and
//! 5xx are retried by the SDK's standard strategy, then reported as retryable.

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_sdk_guardduty::types::{
    AccountDetail, AutoEnableMembers, DetectorFeature, DetectorFeatureConfiguration, FeatureStatus,
    FilterAction, FindingCriteria, FindingPublishingFrequency, IpSetFormat, OrgFeature,
    OrgFeatureStatus, OrganizationFeatureConfiguration, ThreatIntelSetFormat,
};
use aws_sdk_guardduty::Client;
use futures::future::BoxFuture;
use vigil_domain::manage::plan::{Change, FilterWant, ListKind};
use vigil_domain::manage::spec::Condition;
use vigil_domain::manage::state::{Detector, Filter, GdOrgConfig, GdState, ListState};
use vigil_domain::manage::{GuardDutyAdmin, ManageError};

/// GuardDuty clients by Region.
#[derive(Debug)]
pub struct GuardDuty {
    clients: BTreeMap<String, Client>,
    /// Detector id per Region, once read or created.
    detectors: Mutex<BTreeMap<String, String>>,
}

fn err(e: vigil_aws::AwsError) -> ManageError {
    let code = e.code.clone();
    ManageError::classified(
        e.op,
        code.as_deref(),
        e.to_string(),
        e.is_retryable(),
        Box::new(e),
    )
}

macro_rules! call {
    ($op:literal, $fut:expr) => {
        $fut.await
            .map_err(|e| err(vigil_aws::classify($op, e, &[])))
    };
}

impl GuardDuty {
    /// One client per Region, each from the standard configuration
    /// (`AWS_ENDPOINT_URL_GUARDDUTY` points them at a fake in tests).
    pub fn new(conf: &vigil_aws::SdkConfig, regions: &[String]) -> Self {
        let clients = regions
            .iter()
            .map(|r| {
                let c = aws_sdk_guardduty::config::Builder::from(conf)
                    .region(aws_sdk_guardduty::config::Region::new(r.clone()))
                    .build();
                (r.clone(), Client::from_conf(c))
            })
            .collect();
        Self {
            clients,
            detectors: Mutex::new(BTreeMap::new()),
        }
    }

    /// From prebuilt clients (tests).
    pub fn from_clients(clients: BTreeMap<String, Client>) -> Self {
        Self {
            clients,
            detectors: Mutex::new(BTreeMap::new()),
        }
    }

    fn client(&self, region: &str) -> Result<&Client, ManageError> {
        self.clients.get(region).ok_or_else(|| ManageError::Config {
            what: "guardduty".into(),
            message: format!("no client for Region {region} (not in manage.regions)"),
            source: None,
        })
    }

    fn cached_detector(&self, region: &str) -> Option<String> {
        self.detectors
            .lock()
            .ok()
            .and_then(|d| d.get(region).cloned())
    }

    fn remember(&self, region: &str, id: &str) {
        if let Ok(mut d) = self.detectors.lock() {
            d.insert(region.to_owned(), id.to_owned());
        }
    }

    async fn detector_id(&self, region: &str) -> Result<Option<String>, ManageError> {
        if let Some(d) = self.cached_detector(region) {
            return Ok(Some(d));
        }
        let c = self.client(region)?;
        let mut token = None;
        loop {
            let out = call!(
                "ListDetectors",
                c.list_detectors().set_next_token(token.take()).send()
            )?;
            if let Some(id) = out.detector_ids().first() {
                self.remember(region, id);
                return Ok(Some(id.clone()));
            }
            token = out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                return Ok(None);
            }
        }
    }

    async fn need_detector(&self, region: &str) -> Result<String, ManageError> {
        self.detector_id(region)
            .await?
            .ok_or_else(|| ManageError::Config {
                what: "guardduty".into(),
                message: format!("no detector in {region}"),
                source: None,
            })
    }

    async fn read_region(&self, region: &str) -> Result<GdState, ManageError> {
        let c = self.client(region)?;
        let Some(id) = self.detector_id(region).await? else {
            return Ok(GdState::default());
        };
        let d = call!("GetDetector", c.get_detector().detector_id(&id).send())?;
        let features = d
            .features()
            .iter()
            .filter_map(|f| {
                Some((
                    f.name()?.as_str().to_owned(),
                    f.status()?.as_str().to_owned(),
                ))
            })
            .collect();
        let org = match c
            .describe_organization_configuration()
            .detector_id(&id)
            .send()
            .await
        {
            Ok(o) => Some(GdOrgConfig {
                members: o
                    .auto_enable_organization_members()
                    .map(|m| m.as_str().to_owned()),
                features: o
                    .features()
                    .iter()
                    .filter_map(|f| {
                        Some((
                            f.name()?.as_str().to_owned(),
                            f.auto_enable()?.as_str().to_owned(),
                        ))
                    })
                    .collect(),
            }),
            Err(e) => {
                let e = vigil_aws::classify("DescribeOrganizationConfiguration", e, &[]);
                if e.is_retryable() {
                    return Err(err(e));
                }
                tracing::warn!(region, error = %e, "GuardDuty organisation configuration not readable");
                None
            }
        };
        let mut state = GdState {
            detector: Some(Detector {
                id: id.clone(),
                frequency: d
                    .finding_publishing_frequency()
                    .map(|f| f.as_str().to_owned()),
                features,
                org,
            }),
            ..GdState::default()
        };
        // Filters.
        let mut token = None;
        loop {
            let out = call!(
                "ListFilters",
                c.list_filters()
                    .detector_id(&id)
                    .max_results(50)
                    .set_next_token(token.take())
                    .send()
            )?;
            for name in out.filter_names() {
                let f = call!(
                    "GetFilter",
                    c.get_filter().detector_id(&id).filter_name(name).send()
                )?;
                let criteria = f
                    .finding_criteria()
                    .and_then(|fc| fc.criterion())
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), condition_of(v)))
                            .collect()
                    })
                    .unwrap_or_default();
                state.filters.insert(
                    name.clone(),
                    Filter {
                        name: name.clone(),
                        description: f.description().unwrap_or_default().to_owned(),
                        action: f.action().map_or("NOOP", |a| a.as_str()).to_owned(),
                        rank: f.rank().and_then(|r| u32::try_from(r).ok()),
                        criteria,
                    },
                );
            }
            token = out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        // Trusted IP lists.
        let mut token = None;
        loop {
            let out = call!(
                "ListIPSets",
                c.list_ip_sets()
                    .detector_id(&id)
                    .max_results(50)
                    .set_next_token(token.take())
                    .send()
            )?;
            for set in out.ip_set_ids() {
                let s = call!(
                    "GetIPSet",
                    c.get_ip_set().detector_id(&id).ip_set_id(set).send()
                )?;
                state.ip_sets.push(ListState {
                    id: set.clone(),
                    name: s.name().unwrap_or_default().to_owned(),
                    format: s.format().map_or("", |f| f.as_str()).to_owned(),
                    location: s.location().unwrap_or_default().to_owned(),
                    status: s.status().map_or("", |f| f.as_str()).to_owned(),
                });
            }
            token = out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        // Threat intel sets.
        let mut token = None;
        loop {
            let out = call!(
                "ListThreatIntelSets",
                c.list_threat_intel_sets()
                    .detector_id(&id)
                    .max_results(50)
                    .set_next_token(token.take())
                    .send()
            )?;
            for set in out.threat_intel_set_ids() {
                let s = call!(
                    "GetThreatIntelSet",
                    c.get_threat_intel_set()
                        .detector_id(&id)
                        .threat_intel_set_id(set)
                        .send()
                )?;
                state.threat_sets.push(ListState {
                    id: set.clone(),
                    name: s.name().unwrap_or_default().to_owned(),
                    format: s.format().map_or("", |f| f.as_str()).to_owned(),
                    location: s.location().unwrap_or_default().to_owned(),
                    status: s.status().map_or("", |f| f.as_str()).to_owned(),
                });
            }
            token = out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        // Members (associated or not: a removed member must be enrolled again).
        let mut token = None;
        loop {
            let out = call!(
                "ListMembers",
                c.list_members()
                    .detector_id(&id)
                    .only_associated("false")
                    .max_results(50)
                    .set_next_token(token.take())
                    .send()
            )?;
            for m in out.members() {
                state.members.insert(
                    m.account_id().unwrap_or_default().to_owned(),
                    m.relationship_status().unwrap_or_default().to_owned(),
                );
            }
            token = out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        Ok(state)
    }

    async fn apply_change(
        &self,
        region: &str,
        change: &Change,
    ) -> Result<Vec<String>, ManageError> {
        let c = self.client(region)?;
        match change {
            Change::GdCreateDetector {
                frequency,
                features,
            } => {
                let out = call!(
                    "CreateDetector",
                    c.create_detector()
                        .enable(true)
                        .set_finding_publishing_frequency(
                            frequency.as_deref().map(FindingPublishingFrequency::from)
                        )
                        .set_features(detector_features(features))
                        .send()
                )?;
                if let Some(id) = out.detector_id() {
                    self.remember(region, id);
                }
            }
            Change::GdUpdateDetector {
                frequency,
                features,
            } => {
                let id = self.need_detector(region).await?;
                call!(
                    "UpdateDetector",
                    c.update_detector()
                        .detector_id(&id)
                        .set_finding_publishing_frequency(
                            frequency.as_deref().map(FindingPublishingFrequency::from)
                        )
                        .set_features(detector_features(features))
                        .send()
                )?;
            }
            Change::GdUpdateOrgConfig { members, features } => {
                let id = self.need_detector(region).await?;
                let feats: Vec<OrganizationFeatureConfiguration> = features
                    .iter()
                    .map(|(n, v)| {
                        OrganizationFeatureConfiguration::builder()
                            .name(OrgFeature::from(n.as_str()))
                            .auto_enable(OrgFeatureStatus::from(v.as_str()))
                            .build()
                    })
                    .collect();
                call!(
                    "UpdateOrganizationConfiguration",
                    c.update_organization_configuration()
                        .detector_id(&id)
                        .set_auto_enable_organization_members(
                            members.as_deref().map(AutoEnableMembers::from)
                        )
                        .set_features((!feats.is_empty()).then_some(feats))
                        .send()
                )?;
            }
            Change::GdCreateFilter(f) => {
                let id = self.need_detector(region).await?;
                call!(
                    "CreateFilter",
                    c.create_filter()
                        .detector_id(&id)
                        .name(&f.name)
                        .description(&f.description)
                        .action(FilterAction::from(f.action.as_str()))
                        .set_rank(rank(f))
                        .finding_criteria(criteria(f))
                        .send()
                )?;
            }
            Change::GdUpdateFilter(f) => {
                let id = self.need_detector(region).await?;
                call!(
                    "UpdateFilter",
                    c.update_filter()
                        .detector_id(&id)
                        .filter_name(&f.name)
                        .description(&f.description)
                        .action(FilterAction::from(f.action.as_str()))
                        .set_rank(rank(f))
                        .finding_criteria(criteria(f))
                        .send()
                )?;
            }
            Change::GdDeleteFilter { name } => {
                let id = self.need_detector(region).await?;
                call!(
                    "DeleteFilter",
                    c.delete_filter().detector_id(&id).filter_name(name).send()
                )?;
            }
            Change::GdCreateList {
                list,
                name,
                format,
                location,
                active,
                ..
            } => {
                let id = self.need_detector(region).await?;
                match list {
                    ListKind::Trusted => {
                        call!(
                            "CreateIPSet",
                            c.create_ip_set()
                                .detector_id(&id)
                                .name(name)
                                .format(IpSetFormat::from(format.as_str()))
                                .location(location)
                                .activate(*active)
                                .send()
                        )?;
                    }
                    ListKind::Threat => {
                        call!(
                            "CreateThreatIntelSet",
                            c.create_threat_intel_set()
                                .detector_id(&id)
                                .name(name)
                                .format(ThreatIntelSetFormat::from(format.as_str()))
                                .location(location)
                                .activate(*active)
                                .send()
                        )?;
                    }
                }
            }
            Change::GdUpdateList {
                list,
                id: set,
                name,
                location,
                active,
                ..
            } => {
                let id = self.need_detector(region).await?;
                match list {
                    ListKind::Trusted => {
                        call!(
                            "UpdateIPSet",
                            c.update_ip_set()
                                .detector_id(&id)
                                .ip_set_id(set)
                                .name(name)
                                .location(location)
                                .activate(*active)
                                .send()
                        )?;
                    }
                    ListKind::Threat => {
                        call!(
                            "UpdateThreatIntelSet",
                            c.update_threat_intel_set()
                                .detector_id(&id)
                                .threat_intel_set_id(set)
                                .name(name)
                                .location(location)
                                .activate(*active)
                                .send()
                        )?;
                    }
                }
            }
            Change::GdDeleteList { list, id: set, .. } => {
                let id = self.need_detector(region).await?;
                match list {
                    ListKind::Trusted => {
                        call!(
                            "DeleteIPSet",
                            c.delete_ip_set().detector_id(&id).ip_set_id(set).send()
                        )?;
                    }
                    ListKind::Threat => {
                        call!(
                            "DeleteThreatIntelSet",
                            c.delete_threat_intel_set()
                                .detector_id(&id)
                                .threat_intel_set_id(set)
                                .send()
                        )?;
                    }
                }
            }
            Change::GdCreateMembers { accounts } => {
                let id = self.need_detector(region).await?;
                let mut problems = Vec::new();
                for batch in accounts.chunks(vigil_domain::manage::plan::MEMBERS_PER_CALL) {
                    let details: Vec<AccountDetail> = batch
                        .iter()
                        .map(|(a, e)| AccountDetail::builder().account_id(a).email(e).build())
                        .collect();
                    let out = call!(
                        "CreateMembers",
                        c.create_members()
                            .detector_id(&id)
                            .set_account_details(Some(details))
                            .send()
                    )?;
                    for u in out.unprocessed_accounts() {
                        problems.push(format!(
                            "{}: {}",
                            u.account_id().unwrap_or_default(),
                            u.result().unwrap_or("not processed")
                        ));
                    }
                }
                return Ok(problems);
            }
            other => {
                return Err(ManageError::Refused {
                    what: "guardduty".into(),
                    message: format!("not a GuardDuty change: {other:?}"),
                    source: None,
                })
            }
        }
        Ok(Vec::new())
    }
}

/// Only a declared rank is sent (GuardDuty puts a new filter last, and keeps an existing
/// filter's rank on update).
fn rank(f: &FilterWant) -> Option<i32> {
    f.rank.and_then(|r| i32::try_from(r).ok())
}

fn detector_features(f: &[(String, String)]) -> Option<Vec<DetectorFeatureConfiguration>> {
    (!f.is_empty()).then(|| {
        f.iter()
            .map(|(n, s)| {
                DetectorFeatureConfiguration::builder()
                    .name(DetectorFeature::from(n.as_str()))
                    .status(FeatureStatus::from(s.as_str()))
                    .build()
            })
            .collect()
    })
}

fn criteria(f: &FilterWant) -> FindingCriteria {
    let mut b = FindingCriteria::builder();
    for (k, c) in &f.criteria {
        b = b.criterion(k, sdk_condition(c));
    }
    b.build()
}

fn sdk_condition(c: &Condition) -> aws_sdk_guardduty::types::Condition {
    let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    aws_sdk_guardduty::types::Condition::builder()
        .set_equals(some(&c.equals))
        .set_not_equals(some(&c.not_equals))
        .set_greater_than(c.greater_than)
        .set_greater_than_or_equal(c.greater_than_or_equal)
        .set_less_than(c.less_than)
        .set_less_than_or_equal(c.less_than_or_equal)
        .set_matches(some(&c.matches))
        .set_not_matches(some(&c.not_matches))
        .build()
}

/// A condition as GuardDuty returns it; the deprecated operators read as their replacements.
#[allow(deprecated)]
pub fn condition_of(c: &aws_sdk_guardduty::types::Condition) -> Condition {
    let list = |new: &[String], old: &[String]| {
        if new.is_empty() {
            old.to_vec()
        } else {
            new.to_vec()
        }
    };
    Condition {
        equals: list(c.equals(), c.eq()),
        not_equals: list(c.not_equals(), c.neq()),
        greater_than: c.greater_than().or(c.gt().map(i64::from)),
        greater_than_or_equal: c.greater_than_or_equal().or(c.gte().map(i64::from)),
        less_than: c.less_than().or(c.lt().map(i64::from)),
        less_than_or_equal: c.less_than_or_equal().or(c.lte().map(i64::from)),
        matches: c.matches().to_vec(),
        not_matches: c.not_matches().to_vec(),
    }
}

impl GuardDutyAdmin for GuardDuty {
    fn read<'a>(&'a self, region: &'a str) -> BoxFuture<'a, Result<GdState, ManageError>> {
        Box::pin(self.read_region(region))
    }

    fn apply<'a>(
        &'a self,
        region: &'a str,
        change: &'a Change,
    ) -> BoxFuture<'a, Result<Vec<String>, ManageError>> {
        Box::pin(self.apply_change(region, change))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_guardduty::config::http::HttpResponse;
    use aws_sdk_guardduty::operation::{
        get_detector::GetDetectorOutput, get_filter::GetFilterOutput,
        list_detectors::ListDetectorsOutput, list_filters::ListFiltersOutput,
        list_ip_sets::ListIpSetsOutput, list_members::ListMembersOutput,
        list_threat_intel_sets::ListThreatIntelSetsOutput,
    };
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn error(status: u16, code: &str) -> HttpResponse {
        let mut r = HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from(format!(r#"{{"message": "m", "__type": "{code}"}}"#)),
        );
        r.headers_mut().insert("x-amzn-errortype", code.to_owned());
        r
    }

    fn adapter(c: Client) -> GuardDuty {
        GuardDuty::from_clients(BTreeMap::from([("us-east-1".to_owned(), c)]))
    }

    #[test]
    fn failures_are_classified_for_the_next_run() {
        for (status, code, retryable, config) in [
            (429, "TooManyRequestsException", true, false),
            (500, "InternalServerErrorException", true, false),
            (403, "AccessDeniedException", false, true),
            (400, "BadRequestException", false, false),
        ] {
            let rule =
                mock!(Client::list_detectors).then_http_response(move || error(status, code));
            let client = mock_client!(aws_sdk_guardduty, RuleMode::Sequential, [&rule], |c| c
                .retry_config(aws_sdk_guardduty::config::retry::RetryConfig::disabled()));
            let e = block(adapter(client).read_region("us-east-1")).unwrap_err();
            assert_eq!(e.retryable(), retryable, "{status} {code}: {e}");
            assert_eq!(matches!(e, ManageError::Config { .. }), config, "{e}");
        }
    }

    #[test]
    fn throttling_is_retried_and_every_page_of_filters_is_read() {
        let detectors = mock!(Client::list_detectors)
            .sequence()
            .http_response(|| error(429, "TooManyRequestsException"))
            .times(2)
            .output(|| ListDetectorsOutput::builder().detector_ids("d1").build())
            .build();
        let detector =
            mock!(Client::get_detector).then_output(|| GetDetectorOutput::builder().build());
        let org = mock!(Client::describe_organization_configuration)
            .then_http_response(|| error(400, "BadRequestException"));
        // Two pages, the first ending with a token (and an empty page in between, as list
        // APIs may return).
        let pages = mock!(Client::list_filters)
            .sequence()
            .output(|| {
                ListFiltersOutput::builder()
                    .filter_names("vigil-a")
                    .next_token("1")
                    .build()
            })
            .output(|| {
                ListFiltersOutput::builder()
                    .set_filter_names(Some(vec![]))
                    .next_token("2")
                    .build()
            })
            .output(|| ListFiltersOutput::builder().filter_names("vigil-b").build())
            .build();
        let filter = mock!(Client::get_filter).then_output(|| {
            GetFilterOutput::builder()
                .name("x")
                .action(FilterAction::Archive)
                .finding_criteria(FindingCriteria::builder().build())
                .build()
        });
        let ip = mock!(Client::list_ip_sets).then_output(|| {
            ListIpSetsOutput::builder()
                .set_ip_set_ids(Some(vec![]))
                .build()
        });
        let threat = mock!(Client::list_threat_intel_sets).then_output(|| {
            ListThreatIntelSetsOutput::builder()
                .set_threat_intel_set_ids(Some(vec![]))
                .build()
        });
        let members =
            mock!(Client::list_members).then_output(|| ListMembersOutput::builder().build());
        let client = mock_client!(
            aws_sdk_guardduty,
            RuleMode::MatchAny,
            [&detectors, &detector, &org, &pages, &filter, &ip, &threat, &members],
            |c| c.retry_config(
                aws_sdk_guardduty::config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(std::time::Duration::from_millis(1))
            )
        );
        let st = block(adapter(client).read_region("us-east-1")).unwrap();
        assert_eq!(detectors.num_calls(), 3);
        assert_eq!(pages.num_calls(), 3);
        assert_eq!(
            st.filters.keys().collect::<Vec<_>>(),
            ["vigil-a", "vigil-b"]
        );
        assert_eq!(st.filters["vigil-a"].action, "ARCHIVE");
        // The organisation configuration could not be read: reported as unknown, not fatal.
        assert!(st.detector.unwrap().org.is_none());
    }

    #[test]
    #[allow(deprecated)]
    fn deprecated_operators_read_as_their_replacements() {
        let c = aws_sdk_guardduty::types::Condition::builder()
            .eq("Recon:EC2/PortProbeUnprotectedPort")
            .gte(7)
            .build();
        let d = condition_of(&c);
        assert_eq!(d.equals, ["Recon:EC2/PortProbeUnprotectedPort"]);
        assert_eq!(d.greater_than_or_equal, Some(7));
        let back = sdk_condition(&d);
        assert!(back.eq().is_empty());
        assert_eq!(back.greater_than_or_equal(), Some(7));
    }
}
