//! The pure planner: declared state and what the services hold -> the changes that make them
//! agree, each with its Region, operation and reason. Applying a plan and reading again gives
//! an empty plan (property-tested in `tests.rs`).
//!
//! Ownership: filters, lists and insights whose names start with the owner prefix are Vigil's
//! (declared names must carry it). An undeclared resource of Vigil's is deleted; one that is not
//! Vigil's is deleted only with `prune: true`. Members are never removed. Detector settings,
//! organisation configuration and the response clock's action targets are managed when declared.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use super::spec::{Condition, FilterSpec, ListSpec, ManageSpec, ShFilter};
use super::state::{Account, Actual, GdState, ListState, RegionState, ShState};

/// Where inline list entries are uploaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// Vigil's bucket (`VIGIL_MANAGE_BUCKET`); inline lists cannot be managed without it.
    pub bucket: Option<String>,
}

/// The key prefix of uploaded lists in the bucket.
pub const LIST_PREFIX: &str = "guardduty-lists/";

/// Batch limit of `CreateMembers` in both services.
pub const MEMBERS_PER_CALL: usize = 50;

/// The response clock's action targets: id, name (at most 20 characters), description.
pub const VIGIL_ACTION_TARGETS: [(&str, &str, &str); 4] = [
    (
        "VigilAcknowledge",
        "Vigil: acknowledge",
        "Acknowledge the Vigil incidents of the selected findings (meets their response deadline).",
    ),
    (
        "VigilResolve",
        "Vigil: resolve",
        "Resolve the Vigil incidents of the selected findings.",
    ),
    (
        "VigilFalsePositive",
        "Vigil: false alarm",
        "Suppress the Vigil incidents of the selected findings as a false positive.",
    ),
    (
        "VigilReopen",
        "Vigil: reopen",
        "Reopen the resolved or suppressed Vigil incidents of the selected findings.",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Create,
    Update,
    Delete,
    /// Make accounts members (enrolment; applied by every scheduled run).
    Enrol,
}

impl Op {
    pub fn symbol(self) -> char {
        match self {
            Self::Create | Self::Enrol => '+',
            Self::Update => '~',
            Self::Delete => '-',
        }
    }
}

/// A GuardDuty filter as it should be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilterWant {
    pub name: String,
    pub description: String,
    pub action: String,
    /// Only when declared: GuardDuty's ranks have no gaps and move when a filter is inserted,
    /// so an undeclared rank is left to GuardDuty (a new filter goes last).
    pub rank: Option<u32>,
    pub criteria: BTreeMap<String, Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    /// `IPSet` (at most one per Region).
    Trusted,
    /// `ThreatIntelSet`.
    Threat,
}

impl ListKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Trusted => "trusted IP list",
            Self::Threat => "threat intel set",
        }
    }
}

/// An object Vigil writes to its bucket before a list points at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upload {
    pub bucket: String,
    pub key: String,
    #[serde(skip)]
    pub body: String,
}

/// One call (or batch of calls) against a service.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    GdCreateDetector {
        frequency: Option<String>,
        features: Vec<(String, String)>,
    },
    GdUpdateDetector {
        frequency: Option<String>,
        features: Vec<(String, String)>,
    },
    GdUpdateOrgConfig {
        members: Option<String>,
        features: Vec<(String, String)>,
    },
    GdCreateFilter(FilterWant),
    GdUpdateFilter(FilterWant),
    GdDeleteFilter {
        name: String,
    },
    GdCreateList {
        list: ListKind,
        name: String,
        format: String,
        location: String,
        active: bool,
        upload: Option<Upload>,
    },
    GdUpdateList {
        list: ListKind,
        id: String,
        name: String,
        location: String,
        active: bool,
        upload: Option<Upload>,
    },
    GdDeleteList {
        list: ListKind,
        id: String,
        name: String,
    },
    /// Account id and e-mail.
    GdCreateMembers {
        accounts: Vec<(String, String)>,
    },
    /// `EnableSecurityHub`, with the default standards unless `auto_enable_standards: NONE`.
    ShEnable {
        default_standards: bool,
    },
    ShUpdateOrgConfig {
        auto_enable: bool,
        auto_enable_standards: Option<String>,
    },
    ShCreateInsight {
        name: String,
        group_by: String,
        filters: BTreeMap<String, Vec<ShFilter>>,
    },
    ShUpdateInsight {
        arn: String,
        name: String,
        group_by: String,
        filters: BTreeMap<String, Vec<ShFilter>>,
    },
    ShDeleteInsight {
        arn: String,
        name: String,
    },
    ShCreateActionTarget {
        id: String,
        name: String,
        description: String,
    },
    ShUpdateActionTarget {
        arn: String,
        name: String,
        description: String,
    },
    ShDeleteActionTarget {
        arn: String,
    },
    /// Account id and e-mail (optional for Security Hub).
    ShCreateMembers {
        accounts: Vec<(String, Option<String>)>,
    },
}

impl Change {
    /// Whether the change is GuardDuty's (else Security Hub's).
    pub fn is_guardduty(&self) -> bool {
        matches!(
            self,
            Self::GdCreateDetector { .. }
                | Self::GdUpdateDetector { .. }
                | Self::GdUpdateOrgConfig { .. }
                | Self::GdCreateFilter(_)
                | Self::GdUpdateFilter(_)
                | Self::GdDeleteFilter { .. }
                | Self::GdCreateList { .. }
                | Self::GdUpdateList { .. }
                | Self::GdDeleteList { .. }
                | Self::GdCreateMembers { .. }
        )
    }

    /// The object to upload first, if any.
    pub fn upload(&self) -> Option<&Upload> {
        match self {
            Self::GdCreateList { upload, .. } | Self::GdUpdateList { upload, .. } => {
                upload.as_ref()
            }
            _ => None,
        }
    }
}

/// A change with where and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedChange {
    pub region: String,
    pub service: &'static str,
    pub op: Op,
    /// `filter vigil-archive-scanners`.
    pub resource: String,
    pub reason: String,
    pub change: Change,
}

/// The plan: changes in the order they apply, and what could not be planned.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub changes: Vec<PlannedChange>,
    /// Accounts that cannot be enrolled, conflicts, unreadable settings; each with its reason.
    pub notes: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Configuration drift: every change but enrolment.
    pub fn drift(&self) -> impl Iterator<Item = &PlannedChange> {
        self.changes.iter().filter(|c| c.op != Op::Enrol)
    }

    /// Keeps only enrolment (what a report-only scheduled run applies), and only where the
    /// administrator's detector or hub exists: creating those is drift, left to `apply`.
    pub fn enrolment_only(&self) -> Plan {
        let missing: BTreeSet<(&str, &str)> = self
            .changes
            .iter()
            .filter(|c| {
                matches!(
                    c.change,
                    Change::GdCreateDetector { .. } | Change::ShEnable { .. }
                )
            })
            .map(|c| (c.region.as_str(), c.service))
            .collect();
        let mut notes = self.notes.clone();
        for (region, service) in &missing {
            notes.push(format!(
                "{service} {region}: not enabled in the administrator account, so no member is enrolled there until `vigil manage apply` (or auto_correct) enables it"
            ));
        }
        Plan {
            changes: self
                .changes
                .iter()
                .filter(|c| c.op == Op::Enrol && !missing.contains(&(c.region.as_str(), c.service)))
                .cloned()
                .collect(),
            notes,
        }
    }

    /// The plan as text, like a Terraform plan: `+` create, `~` update, `-` delete.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut last: Option<(&str, &str)> = None;
        for c in &self.changes {
            if last != Some((c.region.as_str(), c.service)) {
                let _ = writeln!(s, "{} {}:", c.service, c.region);
                last = Some((c.region.as_str(), c.service));
            }
            let _ = writeln!(s, "  {} {}", c.op.symbol(), c.resource);
            let _ = writeln!(s, "      {}", c.reason);
        }
        for n in &self.notes {
            let _ = writeln!(s, "  ! {n}");
        }
        let count = |op: Op| self.changes.iter().filter(|c| c.op == op).count();
        let _ = writeln!(
            s,
            "Plan: {} to create, {} to update, {} to delete, {} enrolment{}.",
            count(Op::Create),
            count(Op::Update),
            count(Op::Delete),
            count(Op::Enrol),
            if count(Op::Enrol) == 1 { "" } else { "s" }
        );
        s
    }
}

/// Accounts in scope, in id order, and notes about those left out for a reason.
pub fn in_scope(spec: &ManageSpec, actual: &Actual) -> (Vec<Account>, Vec<String>) {
    let mut notes = Vec::new();
    let mut out = Vec::new();
    let sc = &spec.scope;
    let whole = sc.organizational_units.is_empty() && sc.accounts.is_empty();
    let mut accounts: Vec<&Account> = actual.accounts.iter().collect();
    accounts.sort_by(|a, b| a.id.cmp(&b.id));
    for a in accounts {
        if actual.admin_account.as_deref() == Some(a.id.as_str())
            || sc.exclude_accounts.contains(&a.id)
        {
            continue;
        }
        let by_ou = a.ou_path.as_deref().is_some_and(|p| {
            sc.organizational_units.iter().any(|ou| {
                p == ou
                    || p.strip_prefix(ou.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
                    || p.split('/').any(|seg| seg == ou)
            })
        });
        if !(whole || by_ou || sc.accounts.contains(&a.id)) {
            continue;
        }
        if a.status != "ACTIVE" {
            notes.push(format!(
                "account {} cannot be enrolled: it is {} in Organizations",
                label(a),
                a.status
            ));
            continue;
        }
        out.push(a.clone());
    }
    (out, notes)
}

fn label(a: &Account) -> String {
    match &a.name {
        Some(n) => format!("{} ({n})", a.id),
        None => a.id.clone(),
    }
}

/// The key and body of an inline list's object (content-addressed: a changed list is a new
/// object, so GuardDuty's location changes with the content).
pub fn list_object(l: &ListSpec) -> (String, String) {
    let mut entries: Vec<&str> = l.entries.iter().map(|e| e.trim()).collect();
    entries.sort_unstable();
    entries.dedup();
    let mut body = entries.join("\n");
    body.push('\n');
    let hash = crate::finding::short_hash(&[&body], 12);
    (format!("{LIST_PREFIX}{}-{hash}.txt", l.name), body)
}

/// Plans every Region.
pub fn plan(spec: &ManageSpec, ctx: &Context, actual: &Actual) -> Plan {
    let (accounts, mut notes) = in_scope(spec, actual);
    let mut changes = Vec::new();
    let empty = RegionState::default();
    for region in &spec.regions {
        let rs = actual.regions.get(region).unwrap_or(&empty);
        if spec.guardduty.is_some() {
            plan_guardduty(
                spec,
                ctx,
                region,
                rs.guardduty.as_ref(),
                &accounts,
                &mut changes,
                &mut notes,
            );
        }
        if spec.securityhub.is_some() {
            plan_securityhub(
                spec,
                region,
                rs.securityhub.as_ref(),
                &accounts,
                &mut changes,
                &mut notes,
            );
        }
    }
    Plan { changes, notes }
}

struct Out<'a> {
    region: &'a str,
    service: &'static str,
    changes: &'a mut Vec<PlannedChange>,
}

impl Out<'_> {
    fn push(&mut self, op: Op, resource: String, reason: String, change: Change) {
        self.changes.push(PlannedChange {
            region: self.region.to_owned(),
            service: self.service,
            op,
            resource,
            reason,
            change,
        });
    }
}

fn applies(spec: &ManageSpec, own: &[String], region: &str) -> bool {
    spec.item_regions(own).iter().any(|r| r == region)
}

fn canonical_criteria(c: &BTreeMap<String, Condition>) -> BTreeMap<String, Condition> {
    c.iter().map(|(k, v)| (k.clone(), v.canonical())).collect()
}

fn filter_want(f: &FilterSpec) -> FilterWant {
    FilterWant {
        name: f.name.clone(),
        description: f.description.clone(),
        action: f.action.as_str().to_owned(),
        rank: f.rank,
        criteria: canonical_criteria(&f.criteria),
    }
}

#[allow(clippy::too_many_arguments)]
fn plan_guardduty(
    spec: &ManageSpec,
    ctx: &Context,
    region: &str,
    st: Option<&GdState>,
    accounts: &[Account],
    changes: &mut Vec<PlannedChange>,
    notes: &mut Vec<String>,
) {
    let Some(gd) = &spec.guardduty else { return };
    let mut out = Out {
        region,
        service: "guardduty",
        changes,
    };
    let none = GdState::default();
    let st = st.unwrap_or(&none);
    let declared_features: Vec<(String, String)> = gd
        .features
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().to_owned()))
        .collect();
    let frequency = gd
        .finding_publishing_frequency
        .map(|f| f.as_str().to_owned());
    match &st.detector {
        None if !gd.enable => {
            notes.push(format!(
                "guardduty {region}: no detector, and guardduty.enable is false: nothing else planned there"
            ));
            return;
        }
        None => out.push(
            Op::Create,
            "detector".into(),
            "no detector in the administrator account".into(),
            Change::GdCreateDetector {
                frequency: frequency.clone(),
                features: declared_features.clone(),
            },
        ),
        Some(d) => {
            let mut why = Vec::new();
            let freq = frequency
                .as_ref()
                .filter(|f| d.frequency.as_ref() != Some(*f));
            if let Some(f) = freq {
                why.push(format!(
                    "finding publishing frequency {} -> {f}",
                    d.frequency.as_deref().unwrap_or("unset")
                ));
            }
            let feats: Vec<(String, String)> = declared_features
                .iter()
                .filter(|(k, v)| d.features.get(k) != Some(v))
                .cloned()
                .collect();
            for (k, v) in &feats {
                why.push(format!(
                    "feature {k} {} -> {v}",
                    d.features.get(k).map_or("absent", String::as_str)
                ));
            }
            if !why.is_empty() {
                out.push(
                    Op::Update,
                    format!("detector {}", d.id),
                    why.join("; "),
                    Change::GdUpdateDetector {
                        frequency: freq.cloned(),
                        features: feats,
                    },
                );
            }
        }
    }
    // Organisation configuration.
    if let Some(ae) = &gd.auto_enable {
        let org = st.detector.as_ref().and_then(|d| d.org.clone());
        match (&st.detector, org) {
            (Some(_), None) => notes.push(format!(
                "guardduty {region}: the organisation configuration could not be read (is this account the delegated administrator?)"
            )),
            (detector, org) => {
                let org = org.unwrap_or_default();
                let mut why = Vec::new();
                let members = ae.members.map(|m| m.as_str().to_owned());
                if let Some(m) = &members {
                    if org.members.as_ref() != Some(m) {
                        why.push(format!(
                            "auto-enable members {} -> {m}",
                            org.members.as_deref().unwrap_or("unset")
                        ));
                    }
                }
                let feats: Vec<(String, String)> = ae
                    .features
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().to_owned()))
                    .filter(|(k, v)| org.features.get(k) != Some(v))
                    .collect();
                for (k, v) in &feats {
                    why.push(format!(
                        "auto-enable {k} {} -> {v}",
                        org.features.get(k).map_or("unset", String::as_str)
                    ));
                }
                if !why.is_empty() {
                    let _ = detector;
                    out.push(
                        Op::Update,
                        "organization configuration".into(),
                        why.join("; "),
                        Change::GdUpdateOrgConfig {
                            // The API takes one of the two auto-enable settings in every call.
                            members: members
                                .or(org.members.clone())
                                .or_else(|| Some("NONE".to_owned())),
                            features: feats,
                        },
                    );
                }
            }
        }
    }
    // Filters: deletes first (the quota counts them), then updates and creates.
    let declared: BTreeMap<&str, FilterWant> = gd
        .filters
        .iter()
        .filter(|f| applies(spec, &f.regions, region))
        .map(|f| (f.name.as_str(), filter_want(f)))
        .collect();
    for name in st.filters.keys() {
        if declared.contains_key(name.as_str()) {
            continue;
        }
        if let Some(why) = spec.undeclared_delete_reason(name) {
            out.push(
                Op::Delete,
                format!("filter {name}"),
                why.into(),
                Change::GdDeleteFilter { name: name.clone() },
            );
        }
    }
    // GuardDuty's ranks have no gaps and an insertion moves the filters after it. Filters
    // without a declared rank are created first (each goes last), then the declared ones in
    // ascending rank: each lands where declared and moves only those after it.
    let mut order: Vec<(&&str, &FilterWant)> = declared.iter().collect();
    order.sort_by_key(|(n, w)| (w.rank.map_or(0, |r| r + 1), **n));
    for (name, want) in order {
        match st.filters.get(*name) {
            None => out.push(
                Op::Create,
                format!("filter {name}"),
                format!("declared ({}), absent", want.action),
                Change::GdCreateFilter(want.clone()),
            ),
            Some(have) => {
                let mut why = Vec::new();
                if have.action != want.action {
                    why.push(format!("action {} -> {}", have.action, want.action));
                }
                if have.description != want.description {
                    why.push("description differs".to_owned());
                }
                if let Some(r) = want.rank.filter(|r| have.rank != Some(*r)) {
                    why.push(format!(
                        "rank {} -> {r}",
                        have.rank.map_or("unset".into(), |r| r.to_string()),
                    ));
                }
                let have_c = canonical_criteria(&have.criteria);
                let differ: Vec<&str> = want
                    .criteria
                    .keys()
                    .chain(have_c.keys())
                    .filter(|k| want.criteria.get(*k) != have_c.get(*k))
                    .map(String::as_str)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                if !differ.is_empty() {
                    why.push(format!("criteria differ on {}", differ.join(", ")));
                }
                if !why.is_empty() {
                    out.push(
                        Op::Update,
                        format!("filter {name}"),
                        why.join("; "),
                        Change::GdUpdateFilter(want.clone()),
                    );
                }
            }
        }
    }
    // Lists.
    let trusted: Vec<&ListSpec> = gd
        .trusted_ip_list
        .iter()
        .filter(|l| applies(spec, &l.regions, region))
        .collect();
    let threat: Vec<&ListSpec> = gd
        .threat_intel_sets
        .iter()
        .filter(|l| applies(spec, &l.regions, region))
        .collect();
    plan_lists(
        spec,
        ctx,
        ListKind::Trusted,
        &trusted,
        &st.ip_sets,
        1,
        &mut out,
        notes,
    );
    plan_lists(
        spec,
        ctx,
        ListKind::Threat,
        &threat,
        &st.threat_sets,
        super::spec::MAX_THREAT_SETS,
        &mut out,
        notes,
    );
    // Members.
    if gd.enrol_members {
        let mut need = Vec::new();
        for a in accounts {
            let status = st.members.get(&a.id).map(String::as_str);
            if matches!(
                status,
                Some("Enabled" | "Created" | "Invited" | "EmailVerificationInProgress")
            ) {
                continue;
            }
            if let Some(s @ ("Disabled" | "RegionDisabled")) = status {
                // An associated member whose detector is off: CreateMembers does not change
                // that, so it is said, not planned.
                notes.push(format!(
                    "guardduty {region}: account {} is a member but {s}: turn GuardDuty on there (organisation auto-enable ALL, or the member's own detector)",
                    label(a)
                ));
                continue;
            }
            match &a.email {
                Some(e) if !e.is_empty() => need.push((a.id.clone(), e.clone(), status)),
                _ => notes.push(format!(
                    "guardduty {region}: account {} cannot be enrolled: Organizations gives no e-mail address (CreateMembers requires it)",
                    label(a)
                )),
            }
        }
        for batch in need.chunks(MEMBERS_PER_CALL) {
            let ids: Vec<String> = batch
                .iter()
                .map(|(id, _, s)| match s {
                    Some(s) => format!("{id} ({s})"),
                    None => id.clone(),
                })
                .collect();
            out.push(
                Op::Enrol,
                format!("members {}", ids.join(", ")),
                "in scope, not an enabled member".into(),
                Change::GdCreateMembers {
                    accounts: batch
                        .iter()
                        .map(|(i, e, _)| (i.clone(), e.clone()))
                        .collect(),
                },
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn plan_lists(
    spec: &ManageSpec,
    ctx: &Context,
    kind: ListKind,
    declared: &[&ListSpec],
    have: &[ListState],
    max: usize,
    out: &mut Out<'_>,
    notes: &mut Vec<String>,
) {
    let region = out.region.to_owned();
    let declared_names: BTreeSet<&str> = declared.iter().map(|l| l.name.as_str()).collect();
    // Keep the first list of each declared name (lowest id); the others are duplicates.
    let mut kept: BTreeMap<&str, &ListState> = BTreeMap::new();
    // Lists on their way out are not there any more; of several of one name, an active one
    // is kept (then the lowest id).
    let mut sorted: Vec<&ListState> = have
        .iter()
        .filter(|l| !matches!(l.status.as_str(), "DELETE_PENDING" | "DELETED"))
        .collect();
    sorted.sort_by(|a, b| (!a.active(), &a.id).cmp(&(!b.active(), &b.id)));
    let mut remaining = 0usize;
    for l in sorted {
        let name = l.name.as_str();
        if declared_names.contains(name) && !kept.contains_key(name) {
            kept.insert(name, l);
            remaining += 1;
            continue;
        }
        let why = if declared_names.contains(name) {
            Some("a duplicate of a declared list")
        } else {
            spec.undeclared_delete_reason(name)
        };
        match why {
            Some(why) => out.push(
                Op::Delete,
                format!("{} {name} ({})", kind.label(), l.id),
                why.into(),
                Change::GdDeleteList {
                    list: kind,
                    id: l.id.clone(),
                    name: name.to_owned(),
                },
            ),
            None => remaining += 1,
        }
    }
    for l in declared {
        let (location, upload, format) = match &l.location {
            Some(loc) => (loc.clone(), None, l.format.as_str().to_owned()),
            None => {
                let Some(bucket) = &ctx.bucket else {
                    notes.push(format!(
                        "guardduty {region}: {} {} has inline entries but no bucket is configured for them (VIGIL_MANAGE_BUCKET): not managed",
                        kind.label(),
                        l.name
                    ));
                    continue;
                };
                let (key, body) = list_object(l);
                (
                    format!("s3://{bucket}/{key}"),
                    Some(Upload {
                        bucket: bucket.clone(),
                        key,
                        body,
                    }),
                    "TXT".to_owned(),
                )
            }
        };
        match kept.get(l.name.as_str()) {
            None => {
                if remaining >= max {
                    notes.push(format!(
                        "guardduty {region}: {} {} cannot be created: GuardDuty allows {max} per Region and lists not owned by Vigil take the place (name them in the runbook or set prune: true)",
                        kind.label(),
                        l.name
                    ));
                    continue;
                }
                remaining += 1;
                out.push(
                    Op::Create,
                    format!("{} {}", kind.label(), l.name),
                    format!(
                        "declared ({} entries at {location}), absent",
                        if l.entries.is_empty() {
                            "its".to_owned()
                        } else {
                            l.entries.len().to_string()
                        }
                    ),
                    Change::GdCreateList {
                        list: kind,
                        name: l.name.clone(),
                        format,
                        location,
                        active: l.active,
                        upload,
                    },
                );
            }
            Some(h) if h.format != format => {
                // The format cannot be updated: replace the list.
                out.push(
                    Op::Delete,
                    format!("{} {} ({})", kind.label(), l.name, h.id),
                    format!("format {} -> {format} needs a new list", h.format),
                    Change::GdDeleteList {
                        list: kind,
                        id: h.id.clone(),
                        name: l.name.clone(),
                    },
                );
                out.push(
                    Op::Create,
                    format!("{} {}", kind.label(), l.name),
                    format!("replaces the {} list", h.format),
                    Change::GdCreateList {
                        list: kind,
                        name: l.name.clone(),
                        format,
                        location,
                        active: l.active,
                        upload,
                    },
                );
            }
            Some(h) => {
                let mut why = Vec::new();
                if h.location != location {
                    why.push(format!("location {} -> {location}", h.location));
                }
                if l.active && !h.active() {
                    why.push(format!("status {} -> ACTIVE", h.status));
                }
                if !l.active && h.active() {
                    why.push(format!("status {} -> INACTIVE", h.status));
                }
                if !why.is_empty() {
                    out.push(
                        Op::Update,
                        format!("{} {} ({})", kind.label(), l.name, h.id),
                        why.join("; "),
                        Change::GdUpdateList {
                            list: kind,
                            id: h.id.clone(),
                            name: l.name.clone(),
                            location,
                            active: l.active,
                            upload,
                        },
                    );
                }
            }
        }
    }
}

/// Filters in canonical order (each attribute's values sorted), for comparison.
pub fn canonical_filters(f: &BTreeMap<String, Vec<ShFilter>>) -> BTreeMap<String, Vec<ShFilter>> {
    f.iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            v.sort_by_cached_key(|x| serde_json::to_string(x).unwrap_or_default());
            v.dedup();
            (k.clone(), v)
        })
        .collect()
}

fn plan_securityhub(
    spec: &ManageSpec,
    region: &str,
    st: Option<&ShState>,
    accounts: &[Account],
    changes: &mut Vec<PlannedChange>,
    notes: &mut Vec<String>,
) {
    let Some(sh) = &spec.securityhub else { return };
    let mut out = Out {
        region,
        service: "securityhub",
        changes,
    };
    let none = ShState::default();
    let st = st.unwrap_or(&none);
    if !st.enabled {
        if !sh.enable {
            notes.push(format!(
                "securityhub {region}: not enabled, and securityhub.enable is false: nothing else planned there"
            ));
            return;
        }
        out.push(
            Op::Create,
            "hub".into(),
            "Security Hub is not enabled in the administrator account".into(),
            Change::ShEnable {
                default_standards: sh.auto_enable_standards
                    != Some(super::spec::StandardsMode::None),
            },
        );
    }
    if sh.auto_enable.is_some() || sh.auto_enable_standards.is_some() {
        match &st.org {
            None if st.enabled => notes.push(format!(
                "securityhub {region}: the organisation configuration could not be read (is this account the delegated administrator?)"
            )),
            Some(o) if o.configuration_type.as_deref() == Some("CENTRAL") => notes.push(format!(
                "securityhub {region}: central configuration is on; auto-enable is set by configuration policies, not here"
            )),
            org => {
                let org = org.clone().unwrap_or_default();
                let want_auto = sh.auto_enable.unwrap_or(org.auto_enable);
                let want_std = sh
                    .auto_enable_standards
                    .map(|s| s.as_str().to_owned())
                    .or(org.auto_enable_standards.clone());
                let mut why = Vec::new();
                if want_auto != org.auto_enable {
                    why.push(format!("auto-enable {} -> {want_auto}", org.auto_enable));
                }
                if want_std != org.auto_enable_standards {
                    why.push(format!(
                        "auto-enable standards {} -> {}",
                        org.auto_enable_standards.as_deref().unwrap_or("unset"),
                        want_std.as_deref().unwrap_or("unset")
                    ));
                }
                if !why.is_empty() {
                    out.push(
                        Op::Update,
                        "organization configuration".into(),
                        why.join("; "),
                        Change::ShUpdateOrgConfig {
                            auto_enable: want_auto,
                            auto_enable_standards: want_std,
                        },
                    );
                }
            }
        }
    }
    // Insights: the first of each declared name (lowest ARN) is kept; duplicates (a race
    // between two runs can make one) are deleted.
    let declared: BTreeMap<&str, _> = sh
        .insights
        .iter()
        .filter(|i| applies(spec, &i.regions, region))
        .map(|i| (i.name.as_str(), i))
        .collect();
    let mut have: Vec<_> = st.insights.iter().collect();
    have.sort_by(|a, b| a.arn.cmp(&b.arn));
    let mut kept = BTreeMap::new();
    for i in have {
        let name = i.name.as_str();
        if declared.contains_key(name) && !kept.contains_key(name) {
            kept.insert(name, i);
            continue;
        }
        let why = if declared.contains_key(name) {
            Some("a duplicate of a declared insight")
        } else {
            spec.undeclared_delete_reason(name)
        };
        if let Some(why) = why {
            out.push(
                Op::Delete,
                format!("insight {name} ({})", i.arn),
                why.into(),
                Change::ShDeleteInsight {
                    arn: i.arn.clone(),
                    name: name.to_owned(),
                },
            );
        }
    }
    for (name, want) in &declared {
        let filters = canonical_filters(&want.filters);
        match kept.get(name) {
            None => out.push(
                Op::Create,
                format!("insight {name}"),
                format!("declared (grouped by {}), absent", want.group_by),
                Change::ShCreateInsight {
                    name: (*name).to_owned(),
                    group_by: want.group_by.clone(),
                    filters,
                },
            ),
            Some(h) => {
                let mut why = Vec::new();
                if h.group_by != want.group_by {
                    why.push(format!("group by {} -> {}", h.group_by, want.group_by));
                }
                let hf = canonical_filters(&h.filters);
                let differ: Vec<&str> = filters
                    .keys()
                    .chain(hf.keys())
                    .filter(|k| filters.get(*k) != hf.get(*k))
                    .map(String::as_str)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                if !differ.is_empty() {
                    why.push(format!("filters differ on {}", differ.join(", ")));
                }
                if !why.is_empty() {
                    out.push(
                        Op::Update,
                        format!("insight {name}"),
                        why.join("; "),
                        Change::ShUpdateInsight {
                            arn: h.arn.clone(),
                            name: (*name).to_owned(),
                            group_by: want.group_by.clone(),
                            filters,
                        },
                    );
                }
            }
        }
    }
    // Action targets.
    for (id, name, description) in VIGIL_ACTION_TARGETS {
        let have = st.action_targets.iter().find(|a| a.id() == id);
        match (sh.action_targets, have) {
            (true, None) => out.push(
                Op::Create,
                format!("action target {id}"),
                format!("the response clock's \"{name}\" custom action, absent"),
                Change::ShCreateActionTarget {
                    id: id.into(),
                    name: name.into(),
                    description: description.into(),
                },
            ),
            (true, Some(h)) if h.name != name || h.description != description => out.push(
                Op::Update,
                format!("action target {id}"),
                "name or description differs".into(),
                Change::ShUpdateActionTarget {
                    arn: h.arn.clone(),
                    name: name.into(),
                    description: description.into(),
                },
            ),
            (false, Some(h)) => out.push(
                Op::Delete,
                format!("action target {id}"),
                "securityhub.action_targets is false".into(),
                Change::ShDeleteActionTarget { arn: h.arn.clone() },
            ),
            _ => {}
        }
    }
    if sh.enrol_members {
        let mut need: Vec<&Account> = Vec::new();
        for a in accounts {
            match st.members.get(&a.id).map(String::as_str) {
                Some("Enabled" | "Created" | "Invited") => {}
                Some("AccountSuspended") => notes.push(format!(
                    "securityhub {region}: account {} cannot be enrolled: AccountSuspended",
                    label(a)
                )),
                _ => need.push(a),
            }
        }
        for batch in need.chunks(MEMBERS_PER_CALL) {
            let ids: Vec<String> = batch
                .iter()
                .map(|a| match st.members.get(&a.id) {
                    Some(s) => format!("{} ({s})", a.id),
                    None => a.id.clone(),
                })
                .collect();
            out.push(
                Op::Enrol,
                format!("members {}", ids.join(", ")),
                "in scope, not an enabled member".into(),
                Change::ShCreateMembers {
                    accounts: batch
                        .iter()
                        .map(|a| (a.id.clone(), a.email.clone()))
                        .collect(),
                },
            );
        }
    }
}
