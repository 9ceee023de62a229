//! Managed Security Hub: the domain's [`SecurityHubAdmin`] port, one client per Region.
//!
//! Reads: `DescribeHub` (an `InvalidAccessException` means not enabled),
//! `DescribeOrganizationConfiguration`, `GetInsights` (custom insights only),
//! `DescribeActionTargets`, `ListMembers` (every page). Writes: `EnableSecurityHub`,
//! `UpdateOrganizationConfiguration`, `Create/Update/DeleteInsight`,
//! `Create/Update/DeleteActionTarget`, `CreateMembers` (at most 50 accounts a call; unprocessed
//! accounts come back with Security Hub's reason).

use std::collections::BTreeMap;

use aws_sdk_securityhub::types::{AccountDetails, AutoEnableStandards};
use aws_sdk_securityhub::Client;
use futures::future::BoxFuture;
use vigil_domain::manage::plan::{Change, MEMBERS_PER_CALL};
use vigil_domain::manage::state::{ActionTarget, Insight, ShOrgConfig, ShState};
use vigil_domain::manage::{ManageError, SecurityHubAdmin};

use crate::filters;

/// Security Hub clients by Region.
#[derive(Debug, Clone)]
pub struct ManagedSecurityHub {
    clients: BTreeMap<String, Client>,
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

fn refused(what: &str, message: String) -> ManageError {
    ManageError::Refused {
        what: what.to_owned(),
        message,
        source: None,
    }
}

impl ManagedSecurityHub {
    /// One client per Region from the standard configuration (`AWS_ENDPOINT_URL_SECURITYHUB`
    /// points them at a fake in tests).
    pub fn new(conf: &vigil_aws::SdkConfig, regions: &[String]) -> Self {
        let clients = regions
            .iter()
            .map(|r| {
                let c = aws_sdk_securityhub::config::Builder::from(conf)
                    .region(aws_sdk_securityhub::config::Region::new(r.clone()))
                    .build();
                (r.clone(), Client::from_conf(c))
            })
            .collect();
        Self { clients }
    }

    pub fn from_clients(clients: BTreeMap<String, Client>) -> Self {
        Self { clients }
    }

    fn client(&self, region: &str) -> Result<&Client, ManageError> {
        self.clients.get(region).ok_or_else(|| ManageError::Config {
            what: "securityhub".into(),
            message: format!("no client for Region {region} (not in manage.regions)"),
            source: None,
        })
    }

    async fn read_region(&self, region: &str) -> Result<ShState, ManageError> {
        let c = self.client(region)?;
        let hub = match c.describe_hub().send().await {
            Ok(h) => h,
            Err(e) => {
                let e = vigil_aws::classify("DescribeHub", e, &[]);
                if e.code.as_deref() == Some("InvalidAccessException") {
                    return Ok(ShState::default());
                }
                return Err(err(e));
            }
        };
        let mut st = ShState {
            enabled: true,
            // arn:aws:securityhub:REGION:ACCOUNT:hub/default
            account: hub
                .hub_arn()
                .and_then(|a| a.split(':').nth(4))
                .filter(|a| a.len() == 12)
                .map(str::to_owned),
            ..ShState::default()
        };
        st.org = match c.describe_organization_configuration().send().await {
            Ok(o) => Some(ShOrgConfig {
                auto_enable: o.auto_enable().unwrap_or(false),
                auto_enable_standards: o.auto_enable_standards().map(|s| s.as_str().to_owned()),
                configuration_type: o
                    .organization_configuration()
                    .and_then(|c| c.configuration_type())
                    .map(|t| t.as_str().to_owned()),
            }),
            Err(e) => {
                let e = vigil_aws::classify("DescribeOrganizationConfiguration", e, &[]);
                if e.is_retryable() {
                    return Err(err(e));
                }
                tracing::warn!(region, error = %e, "Security Hub organisation configuration not readable");
                None
            }
        };
        let mut token = None;
        loop {
            let out = call!(
                "GetInsights",
                c.get_insights()
                    .max_results(100)
                    .set_next_token(token.take())
                    .send()
            )?;
            for i in out.insights() {
                st.insights.push(Insight {
                    arn: i.insight_arn().unwrap_or_default().to_owned(),
                    name: i.name().unwrap_or_default().to_owned(),
                    group_by: i.group_by_attribute().unwrap_or_default().to_owned(),
                    filters: i.filters().map(filters::from_sdk).unwrap_or_default(),
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
        let mut token = None;
        loop {
            let out = call!(
                "DescribeActionTargets",
                c.describe_action_targets()
                    .max_results(100)
                    .set_next_token(token.take())
                    .send()
            )?;
            for a in out.action_targets() {
                st.action_targets.push(ActionTarget {
                    arn: a.action_target_arn().unwrap_or_default().to_owned(),
                    name: a.name().unwrap_or_default().to_owned(),
                    description: a.description().unwrap_or_default().to_owned(),
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
        let mut token = None;
        loop {
            let out = call!(
                "ListMembers",
                c.list_members()
                    .only_associated(false)
                    .max_results(50)
                    .set_next_token(token.take())
                    .send()
            )?;
            for m in out.members() {
                st.members.insert(
                    m.account_id().unwrap_or_default().to_owned(),
                    m.member_status().unwrap_or_default().to_owned(),
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
        Ok(st)
    }

    async fn apply_change(
        &self,
        region: &str,
        change: &Change,
    ) -> Result<Vec<String>, ManageError> {
        let c = self.client(region)?;
        match change {
            Change::ShEnable { default_standards } => {
                call!(
                    "EnableSecurityHub",
                    c.enable_security_hub()
                        .enable_default_standards(*default_standards)
                        .send()
                )?;
            }
            Change::ShUpdateOrgConfig {
                auto_enable,
                auto_enable_standards,
            } => {
                call!(
                    "UpdateOrganizationConfiguration",
                    c.update_organization_configuration()
                        .auto_enable(*auto_enable)
                        .set_auto_enable_standards(
                            auto_enable_standards
                                .as_deref()
                                .map(AutoEnableStandards::from)
                        )
                        .send()
                )?;
            }
            Change::ShCreateInsight {
                name,
                group_by,
                filters: f,
            } => {
                let f = filters::to_sdk(f).map_err(|m| refused("CreateInsight", m))?;
                call!(
                    "CreateInsight",
                    c.create_insight()
                        .name(name)
                        .group_by_attribute(group_by)
                        .filters(f)
                        .send()
                )?;
            }
            Change::ShUpdateInsight {
                arn,
                name,
                group_by,
                filters: f,
            } => {
                let f = filters::to_sdk(f).map_err(|m| refused("UpdateInsight", m))?;
                call!(
                    "UpdateInsight",
                    c.update_insight()
                        .insight_arn(arn)
                        .name(name)
                        .group_by_attribute(group_by)
                        .filters(f)
                        .send()
                )?;
            }
            Change::ShDeleteInsight { arn, .. } => {
                call!("DeleteInsight", c.delete_insight().insight_arn(arn).send())?;
            }
            Change::ShCreateActionTarget {
                id,
                name,
                description,
            } => {
                call!(
                    "CreateActionTarget",
                    c.create_action_target()
                        .id(id)
                        .name(name)
                        .description(description)
                        .send()
                )?;
            }
            Change::ShUpdateActionTarget {
                arn,
                name,
                description,
            } => {
                call!(
                    "UpdateActionTarget",
                    c.update_action_target()
                        .action_target_arn(arn)
                        .name(name)
                        .description(description)
                        .send()
                )?;
            }
            Change::ShDeleteActionTarget { arn } => {
                call!(
                    "DeleteActionTarget",
                    c.delete_action_target().action_target_arn(arn).send()
                )?;
            }
            Change::ShCreateMembers { accounts } => {
                let mut problems = Vec::new();
                for batch in accounts.chunks(MEMBERS_PER_CALL) {
                    let details: Vec<AccountDetails> = batch
                        .iter()
                        .map(|(a, e)| {
                            AccountDetails::builder()
                                .account_id(a)
                                .set_email(e.clone())
                                .build()
                        })
                        .collect();
                    let out = call!(
                        "CreateMembers",
                        c.create_members().set_account_details(Some(details)).send()
                    )?;
                    for u in out.unprocessed_accounts() {
                        problems.push(format!(
                            "{}: {}",
                            u.account_id().unwrap_or_default(),
                            u.processing_result().unwrap_or("not processed")
                        ));
                    }
                }
                return Ok(problems);
            }
            other => {
                return Err(refused(
                    "securityhub",
                    format!("not a Security Hub change: {other:?}"),
                ))
            }
        }
        Ok(Vec::new())
    }
}

impl SecurityHubAdmin for ManagedSecurityHub {
    fn read<'a>(&'a self, region: &'a str) -> BoxFuture<'a, Result<ShState, ManageError>> {
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
