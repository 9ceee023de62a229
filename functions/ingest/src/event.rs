//! The EventBridge events the ingest function receives: `Security Hub Findings - Imported` and
//! `Security Hub Findings - Custom Action`, whose `detail.findings` carries ASFF findings.
//!
//! The envelope is read borrowed from the invocation's bytes: the findings stay unparsed
//! slices of it, each parsed on its own later, so a malformed finding is reported alone instead
//! of failing the event, and nothing is copied or built that Vigil does not read.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The detail-types whose `detail.findings` Vigil ingests.
pub const DETAIL_TYPE_IMPORTED: &str = "Security Hub Findings - Imported";
pub const DETAIL_TYPE_CUSTOM_ACTION: &str = "Security Hub Findings - Custom Action";

pub fn is_findings_detail_type(detail_type: &str) -> bool {
    detail_type == DETAIL_TYPE_IMPORTED || detail_type == DETAIL_TYPE_CUSTOM_ACTION
}

/// An EventBridge event, as far as ingest reads it. `detail-type` and `source` are required,
/// as in every EventBridge event; anything else is skipped unread.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(rename = "detail-type", borrow)]
    pub detail_type: Cow<'a, str>,
    #[serde(borrow)]
    pub source: Cow<'a, str>,
    #[serde(default, borrow)]
    pub detail: Option<&'a RawValue>,
}

/// The `detail` of a findings event: each finding an unparsed slice of the event.
#[derive(Debug, Deserialize)]
pub struct FindingsDetail<'a> {
    #[serde(borrow)]
    pub findings: Vec<&'a RawValue>,
    #[serde(rename = "actionName", default, borrow)]
    pub action_name: Option<Cow<'a, str>>,
}

impl<'a> Envelope<'a> {
    /// The envelope of `payload`, or why it is not an EventBridge event.
    pub fn parse(payload: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(payload)
    }

    /// The findings of the detail, or why the detail holds no findings list.
    pub fn findings(&self) -> Result<FindingsDetail<'a>, String> {
        let Some(detail) = self.detail else {
            return Err("the event has no detail".into());
        };
        serde_json::from_str(detail.get()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_slices_of_the_event_in_order() {
        let text = r#"{"id":"e","detail-type":"Security Hub Findings - Imported","source":"aws.securityhub",
            "detail":{"findings":[{"Id":"a\u00e9"}, {"Id":"b"}, 3],"actionName":"x"}}"#;
        let e = Envelope::parse(text).unwrap();
        assert_eq!(e.id.as_deref(), Some("e"));
        let d = e.findings().unwrap();
        let got: Vec<&str> = d.findings.iter().map(|r| r.get()).collect();
        assert_eq!(got, [r#"{"Id":"a\u00e9"}"#, r#"{"Id":"b"}"#, "3"]);
        assert_eq!(d.action_name.as_deref(), Some("x"));
    }

    #[test]
    fn an_event_needs_detail_type_and_source_and_a_findings_list() {
        assert!(Envelope::parse(r#"{"hello":"world"}"#).is_err());
        assert!(Envelope::parse(r#""just a string""#).is_err());
        assert!(Envelope::parse("{not json").is_err());
        let e = Envelope::parse(r#"{"detail-type":"x","source":"y"}"#).unwrap();
        assert!(e.findings().is_err());
        let e = Envelope::parse(r#"{"detail-type":"x","source":"y","detail":{"findings":"no"}}"#)
            .unwrap();
        assert!(e.findings().is_err());
    }
}
