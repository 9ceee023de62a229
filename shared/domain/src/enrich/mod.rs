//! Enrichment: pure functions that add what an analyst needs to act on a finding.
//!
//! # Layout
//! - [`account`]: account -> name, environment, owner ([`account_context`]): runbook, else
//!   resource tags, else the runbook default.
//! - [`guardduty`]: the GuardDuty finding type ([`GuardDutyType`]) from `Types[]` or
//!   `ProductFields`, and the short [`finding_type`] of every finding.
//! - [`mitre`]: the MITRE ATT&CK tactic ([`mitre_tactic`]).
//! - [`remediation`]: the finding's own recommendation, else a built-in guide ([`remediation`]).

pub mod account;
pub mod guardduty;
pub mod mitre;
pub mod remediation;

pub use account::{account_context, AccountContext, EnvironmentSource};
pub use guardduty::{finding_type, GuardDutyType};
pub use mitre::mitre_tactic;
pub use remediation::{remediation, RemediationAdvice, RemediationSource};
