//! The EventBridge events the ingest function receives: `Security Hub Findings - Imported` and
//! `Security Hub Findings - Custom Action`, whose `detail.findings` carries ASFF findings.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The detail-types whose `detail.findings` Vigil ingests.
pub const DETAIL_TYPE_IMPORTED: &str = "Security Hub Findings - Imported";
pub const DETAIL_TYPE_CUSTOM_ACTION: &str = "Security Hub Findings - Custom Action";

pub fn is_findings_detail_type(detail_type: &str) -> bool {
    detail_type == DETAIL_TYPE_IMPORTED || detail_type == DETAIL_TYPE_CUSTOM_ACTION
}

/// The `detail` of a findings event.
///
/// Findings stay as raw JSON here and are parsed one by one, so a malformed finding is reported
/// on its own instead of failing the whole event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FindingsDetail {
    #[serde(default)]
    pub findings: Vec<Value>,
    #[serde(
        rename = "actionName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub action_name: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}
