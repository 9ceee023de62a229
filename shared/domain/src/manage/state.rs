//! What the services hold now, as the adapters read it (the planner's "actual").

use std::collections::BTreeMap;

use serde::Serialize;

use super::spec::{Condition, ShFilter};

/// An account of the organisation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Account {
    pub id: String,
    pub name: Option<String>,
    /// The address Organizations holds (GuardDuty's `CreateMembers` requires it).
    pub email: Option<String>,
    /// `Root/Workloads/Prod`.
    pub ou_path: Option<String>,
    /// ACTIVE, SUSPENDED, PENDING_CLOSURE.
    pub status: String,
}

/// Everything read, for every managed Region.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Actual {
    /// The administrator account (never enrolled as its own member).
    pub admin_account: Option<String>,
    pub accounts: Vec<Account>,
    pub regions: BTreeMap<String, RegionState>,
}

/// One Region. A service that is not declared is not read (`None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RegionState {
    pub guardduty: Option<GdState>,
    pub securityhub: Option<ShState>,
}

/// GuardDuty in the administrator account of one Region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GdState {
    /// `None` when the Region has no detector.
    pub detector: Option<Detector>,
    pub filters: BTreeMap<String, Filter>,
    pub ip_sets: Vec<ListState>,
    pub threat_sets: Vec<ListState>,
    /// Member account -> relationship status (`Enabled`, `Disabled`, `Removed`, ...).
    pub members: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Detector {
    pub id: String,
    pub frequency: Option<String>,
    /// Feature -> ENABLED | DISABLED.
    pub features: BTreeMap<String, String>,
    /// The organisation configuration (`None` if it could not be read, e.g. not the
    /// delegated administrator).
    pub org: Option<GdOrgConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GdOrgConfig {
    /// NEW | ALL | NONE.
    pub members: Option<String>,
    /// Feature -> NEW | ALL | NONE.
    pub features: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filter {
    pub name: String,
    pub description: String,
    pub action: String,
    pub rank: Option<u32>,
    pub criteria: BTreeMap<String, Condition>,
}

/// A trusted IP list or threat intel set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ListState {
    pub id: String,
    pub name: String,
    pub format: String,
    pub location: String,
    /// INACTIVE, ACTIVATING, ACTIVE, DEACTIVATING, ERROR, DELETE_PENDING, DELETED.
    pub status: String,
}

impl ListState {
    /// Whether the list is active or on its way there.
    pub fn active(&self) -> bool {
        matches!(self.status.as_str(), "ACTIVE" | "ACTIVATING")
    }
}

/// Security Hub in the administrator account of one Region.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ShState {
    /// Whether Security Hub is enabled in the account.
    pub enabled: bool,
    /// The account the hub belongs to (from its ARN): the administrator.
    pub account: Option<String>,
    pub org: Option<ShOrgConfig>,
    pub insights: Vec<Insight>,
    pub action_targets: Vec<ActionTarget>,
    /// Member account -> member status (`Enabled`, `Created`, `Removed`, ...).
    pub members: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ShOrgConfig {
    pub auto_enable: bool,
    pub auto_enable_standards: Option<String>,
    /// LOCAL or CENTRAL (central configuration forbids local auto-enable settings).
    pub configuration_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Insight {
    pub arn: String,
    pub name: String,
    pub group_by: String,
    pub filters: BTreeMap<String, Vec<ShFilter>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ActionTarget {
    pub arn: String,
    pub name: String,
    pub description: String,
}

impl ActionTarget {
    /// The id part of the ARN (`arn:aws:securityhub:R:A:action/custom/ID`).
    pub fn id(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or_default()
    }
}
