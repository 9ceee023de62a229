//! In-memory GuardDuty, Security Hub, bucket and organisation with the services' semantics:
//! names unique per Region (filters), one trusted list and six threat sets per Region, 100
//! filters and 100 insights, insights and lists identified by generated ids, members enabled
//! at once, the administrator unable to enrol itself. Faults on demand, before a change is
//! applied.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use futures::future::BoxFuture;

use super::plan::{Change, ListKind};
use super::state::{
    ActionTarget, Detector, Filter, GdOrgConfig, GdState, Insight, ListState, ShOrgConfig, ShState,
};
use super::{Account, AccountSource, GuardDutyAdmin, ListStore, ManageError, SecurityHubAdmin};

#[derive(Debug, Default)]
pub struct World {
    pub admin: String,
    pub accounts: Vec<Account>,
    pub guardduty: BTreeMap<String, GdState>,
    pub securityhub: BTreeMap<String, ShState>,
    pub objects: BTreeMap<(String, String), String>,
    /// One entry per apply call: `true` fails it (retryable) before it changes anything.
    pub faults: VecDeque<bool>,
    pub calls: usize,
    seq: u64,
}

#[derive(Debug, Default)]
pub struct MemoryServices {
    pub world: Mutex<World>,
}

fn refused(what: &str, message: impl Into<String>) -> ManageError {
    ManageError::Refused {
        what: what.to_owned(),
        message: message.into(),
        source: None,
    }
}

impl MemoryServices {
    pub fn new(admin: &str, accounts: Vec<Account>) -> Self {
        Self {
            world: Mutex::new(World {
                admin: admin.to_owned(),
                accounts,
                ..World::default()
            }),
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut self.world.lock().unwrap())
    }

    fn fault(w: &mut World, what: &str) -> Result<(), ManageError> {
        w.calls += 1;
        if w.faults.pop_front().unwrap_or(false) {
            return Err(ManageError::Unavailable {
                what: what.to_owned(),
                message: "injected fault".into(),
                source: None,
            });
        }
        Ok(())
    }

    fn gd_apply(w: &mut World, region: &str, change: &Change) -> Result<Vec<String>, ManageError> {
        Self::fault(w, "guardduty")?;
        w.seq += 1;
        let seq = w.seq;
        let admin = w.admin.clone();
        let st = w.guardduty.entry(region.to_owned()).or_default();
        if !matches!(change, Change::GdCreateDetector { .. }) && st.detector.is_none() {
            return Err(refused("guardduty", "no detector in this Region"));
        }
        match change {
            Change::GdCreateDetector {
                frequency,
                features,
            } => {
                if st.detector.is_some() {
                    return Err(refused("CreateDetector", "a detector exists"));
                }
                let mut f: BTreeMap<String, String> = super::spec::GD_FEATURES
                    .iter()
                    .map(|n| {
                        let on = *n != "RUNTIME_MONITORING";
                        (
                            n.to_string(),
                            if on { "ENABLED" } else { "DISABLED" }.into(),
                        )
                    })
                    .collect();
                for (k, v) in features {
                    f.insert(k.clone(), v.clone());
                }
                st.detector = Some(Detector {
                    id: format!("det{seq:08}"),
                    frequency: Some(frequency.clone().unwrap_or_else(|| "SIX_HOURS".into())),
                    features: f,
                    org: Some(GdOrgConfig {
                        members: Some("NONE".into()),
                        features: BTreeMap::new(),
                    }),
                });
            }
            Change::GdUpdateDetector {
                frequency,
                features,
            } => {
                let d = st.detector.as_mut().unwrap();
                if let Some(f) = frequency {
                    d.frequency = Some(f.clone());
                }
                for (k, v) in features {
                    d.features.insert(k.clone(), v.clone());
                }
            }
            Change::GdUpdateOrgConfig { members, features } => {
                let d = st.detector.as_mut().unwrap();
                let org = d.org.get_or_insert_with(Default::default);
                if members.is_some() {
                    org.members = members.clone();
                }
                for (k, v) in features {
                    org.features.insert(k.clone(), v.clone());
                }
            }
            Change::GdCreateFilter(f) => {
                if st.filters.contains_key(&f.name) {
                    return Err(refused("CreateFilter", "the filter name is taken"));
                }
                let count = u32::try_from(st.filters.len()).unwrap_or(u32::MAX);
                if f.rank.is_some_and(|r| r > count + 1) {
                    return Err(refused("CreateFilter", "rank is out-of-bounds"));
                }
                let mut f = f.clone();
                let r = f.rank.unwrap_or(count + 1);
                f.rank = Some(r);
                // An insertion moves the filters at and after its rank.
                for other in st.filters.values_mut() {
                    if let Some(o) = other.rank.as_mut().filter(|o| **o >= r) {
                        *o += 1;
                    }
                }
                let f = &f;
                if st.filters.len() >= super::spec::MAX_FILTERS {
                    return Err(refused("CreateFilter", "100 filters already"));
                }
                st.filters.insert(f.name.clone(), filter_of(f));
            }
            Change::GdUpdateFilter(f) => {
                let Some(old) = st.filters.get(&f.name) else {
                    return Err(refused("UpdateFilter", "no such filter"));
                };
                let mut new = filter_of(f);
                if new.rank.is_none() {
                    new.rank = old.rank;
                }
                st.filters.insert(f.name.clone(), new);
            }
            Change::GdDeleteFilter { name } => {
                st.filters.remove(name);
            }
            Change::GdCreateList {
                list,
                name,
                format,
                location,
                active,
                ..
            } => {
                let (sets, max) = match list {
                    ListKind::Trusted => (&mut st.ip_sets, 1),
                    ListKind::Threat => (&mut st.threat_sets, super::spec::MAX_THREAT_SETS),
                };
                if sets.len() >= max {
                    return Err(refused("CreateList", format!("at most {max} per Region")));
                }
                sets.push(ListState {
                    id: format!("set{seq:08}"),
                    name: name.clone(),
                    format: format.clone(),
                    location: location.clone(),
                    status: if *active { "ACTIVE" } else { "INACTIVE" }.into(),
                });
            }
            Change::GdUpdateList {
                list,
                id,
                location,
                active,
                ..
            } => {
                let sets = match list {
                    ListKind::Trusted => &mut st.ip_sets,
                    ListKind::Threat => &mut st.threat_sets,
                };
                let Some(l) = sets.iter_mut().find(|l| &l.id == id) else {
                    return Err(refused("UpdateList", "no such list"));
                };
                l.location = location.clone();
                l.status = if *active { "ACTIVE" } else { "INACTIVE" }.into();
            }
            Change::GdDeleteList { list, id, .. } => {
                let sets = match list {
                    ListKind::Trusted => &mut st.ip_sets,
                    ListKind::Threat => &mut st.threat_sets,
                };
                sets.retain(|l| &l.id != id);
            }
            Change::GdCreateMembers { accounts } => {
                let mut unprocessed = Vec::new();
                for (id, _) in accounts {
                    if *id == admin {
                        unprocessed
                            .push(format!("{id}: the administrator cannot be its own member"));
                    } else {
                        st.members.insert(id.clone(), "Enabled".into());
                    }
                }
                return Ok(unprocessed);
            }
            other => {
                return Err(refused(
                    "guardduty",
                    format!("not a GuardDuty change: {other:?}"),
                ))
            }
        }
        Ok(Vec::new())
    }

    fn sh_apply(w: &mut World, region: &str, change: &Change) -> Result<Vec<String>, ManageError> {
        Self::fault(w, "securityhub")?;
        w.seq += 1;
        let seq = w.seq;
        let admin = w.admin.clone();
        let st = w.securityhub.entry(region.to_owned()).or_default();
        if !matches!(change, Change::ShEnable { .. }) && !st.enabled {
            return Err(ManageError::Config {
                what: "securityhub".into(),
                message: "InvalidAccessException: Security Hub is not enabled".into(),
                source: None,
            });
        }
        match change {
            Change::ShEnable { .. } => {
                if st.enabled {
                    return Err(refused("EnableSecurityHub", "ResourceConflictException"));
                }
                st.enabled = true;
                st.org.get_or_insert(ShOrgConfig {
                    auto_enable: false,
                    auto_enable_standards: Some("DEFAULT".into()),
                    configuration_type: Some("LOCAL".into()),
                });
            }
            Change::ShUpdateOrgConfig {
                auto_enable,
                auto_enable_standards,
            } => {
                let o = st.org.get_or_insert_with(Default::default);
                o.auto_enable = *auto_enable;
                if auto_enable_standards.is_some() {
                    o.auto_enable_standards = auto_enable_standards.clone();
                }
            }
            Change::ShCreateInsight {
                name,
                group_by,
                filters,
            } => {
                if st.insights.len() >= super::spec::MAX_INSIGHTS {
                    return Err(refused("CreateInsight", "LimitExceededException"));
                }
                st.insights.push(Insight {
                    arn: format!(
                        "arn:aws:securityhub:{region}:{admin}:insight/{admin}/custom/{seq:08}"
                    ),
                    name: name.clone(),
                    group_by: group_by.clone(),
                    filters: filters.clone(),
                });
            }
            Change::ShUpdateInsight {
                arn,
                name,
                group_by,
                filters,
            } => {
                let Some(i) = st.insights.iter_mut().find(|i| &i.arn == arn) else {
                    return Err(refused("UpdateInsight", "ResourceNotFoundException"));
                };
                i.name = name.clone();
                i.group_by = group_by.clone();
                i.filters = filters.clone();
            }
            Change::ShDeleteInsight { arn, .. } => {
                st.insights.retain(|i| &i.arn != arn);
            }
            Change::ShCreateActionTarget {
                id,
                name,
                description,
            } => {
                if st.action_targets.iter().any(|a| a.id() == id) {
                    return Err(refused("CreateActionTarget", "ResourceConflictException"));
                }
                st.action_targets.push(ActionTarget {
                    arn: format!("arn:aws:securityhub:{region}:{admin}:action/custom/{id}"),
                    name: name.clone(),
                    description: description.clone(),
                });
            }
            Change::ShUpdateActionTarget {
                arn,
                name,
                description,
            } => {
                let Some(a) = st.action_targets.iter_mut().find(|a| &a.arn == arn) else {
                    return Err(refused("UpdateActionTarget", "ResourceNotFoundException"));
                };
                a.name = name.clone();
                a.description = description.clone();
            }
            Change::ShDeleteActionTarget { arn } => st.action_targets.retain(|a| &a.arn != arn),
            Change::ShCreateMembers { accounts } => {
                let mut unprocessed = Vec::new();
                for (id, _) in accounts {
                    if *id == admin {
                        unprocessed
                            .push(format!("{id}: the administrator cannot be its own member"));
                    } else {
                        st.members.insert(id.clone(), "Enabled".into());
                    }
                }
                return Ok(unprocessed);
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

fn filter_of(f: &super::plan::FilterWant) -> Filter {
    Filter {
        name: f.name.clone(),
        description: f.description.clone(),
        action: f.action.clone(),
        rank: f.rank,
        criteria: f.criteria.clone(),
    }
}

impl GuardDutyAdmin for MemoryServices {
    fn read<'a>(&'a self, region: &'a str) -> BoxFuture<'a, Result<GdState, ManageError>> {
        Box::pin(
            async move { Ok(self.with(|w| w.guardduty.get(region).cloned().unwrap_or_default())) },
        )
    }
    fn apply<'a>(
        &'a self,
        region: &'a str,
        change: &'a Change,
    ) -> BoxFuture<'a, Result<Vec<String>, ManageError>> {
        Box::pin(async move { self.with(|w| Self::gd_apply(w, region, change)) })
    }
}

impl SecurityHubAdmin for MemoryServices {
    fn read<'a>(&'a self, region: &'a str) -> BoxFuture<'a, Result<ShState, ManageError>> {
        Box::pin(async move {
            Ok(self.with(|w| w.securityhub.get(region).cloned().unwrap_or_default()))
        })
    }
    fn apply<'a>(
        &'a self,
        region: &'a str,
        change: &'a Change,
    ) -> BoxFuture<'a, Result<Vec<String>, ManageError>> {
        Box::pin(async move { self.with(|w| Self::sh_apply(w, region, change)) })
    }
}

impl ListStore for MemoryServices {
    fn put<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        body: &'a str,
    ) -> BoxFuture<'a, Result<(), ManageError>> {
        Box::pin(async move {
            self.with(|w| {
                w.objects
                    .insert((bucket.to_owned(), key.to_owned()), body.to_owned())
            });
            Ok(())
        })
    }
}

impl AccountSource for MemoryServices {
    fn accounts(&self) -> BoxFuture<'_, Result<Vec<Account>, ManageError>> {
        Box::pin(async move { Ok(self.with(|w| w.accounts.clone())) })
    }
}

impl MemoryServices {
    /// The ports, all served by this world.
    pub fn services(&self) -> super::Services<'_> {
        super::Services {
            guardduty: self,
            securityhub: self,
            lists: self,
            accounts: self,
        }
    }
}
