//! The EventBridge events the ingest function receives: `Security Hub Findings - Imported` and
//! `Security Hub Findings - Custom Action`, whose `detail.findings` carries ASFF findings.
//!
//! The envelope is read borrowed from the invocation's bytes: the findings stay unparsed
//! slices of it, each parsed on its own later, so a malformed finding is reported alone instead
//! of failing the event, and nothing is copied or built that Vigil does not read.

use std::borrow::Cow;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The detail-types whose `detail.findings` Vigil ingests.
pub const DETAIL_TYPE_IMPORTED: &str = "Security Hub Findings - Imported";
pub const DETAIL_TYPE_CUSTOM_ACTION: &str = "Security Hub Findings - Custom Action";
/// The escalation schedule's input (`source: vigil.scheduler`): run the escalation steps due.
pub const DETAIL_TYPE_ESCALATION: &str = "Vigil Escalation";

pub fn is_findings_detail_type(detail_type: &str) -> bool {
    detail_type == DETAIL_TYPE_IMPORTED || detail_type == DETAIL_TYPE_CUSTOM_ACTION
}

/// An EventBridge event, as far as ingest reads it. `detail-type` and `source` are required,
/// as in every EventBridge event; anything else is skipped unread. One pass over the bytes:
/// the detail's findings are located (not parsed) on the way.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(rename = "detail-type", borrow)]
    pub detail_type: Cow<'a, str>,
    #[serde(borrow)]
    pub source: Cow<'a, str>,
    /// For a custom action, the action target's ARN (the first resource).
    #[serde(default, borrow)]
    pub resources: Vec<Cow<'a, str>>,
    #[serde(default, borrow)]
    detail: Detail<'a>,
}

/// The `detail` of a findings event: each finding an unparsed slice of the event.
#[derive(Debug)]
pub struct FindingsDetail<'a> {
    pub findings: Vec<&'a RawValue>,
    pub action_name: Option<Cow<'a, str>>,
}

/// The detail as read: its findings, or what it was instead.
#[derive(Debug)]
enum Detail<'a> {
    Findings(FindingsDetail<'a>),
    Not(String),
}

impl Default for Detail<'_> {
    fn default() -> Self {
        Detail::Not("the event has no detail".into())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Detail<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Detail<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an event detail")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                let mut findings: Option<Result<Vec<&'a RawValue>, &'static str>> = None;
                let mut action_name = None;
                while let Some(k) = m.next_key::<Cow<'de, str>>()? {
                    match k.as_ref() {
                        "findings" => findings = Some(m.next_value::<List<'a>>()?.0),
                        "actionName" => action_name = m.next_value::<Option<Cow<'a, str>>>()?,
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(match findings {
                    Some(Ok(findings)) => Detail::Findings(FindingsDetail {
                        findings,
                        action_name,
                    }),
                    Some(Err(kind)) => {
                        Detail::Not(format!("detail.findings is {kind}, not a list"))
                    }
                    None => Detail::Not("the detail has no findings list".into()),
                })
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Detail::default())
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> Result<Self::Value, S::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Detail::Not("the detail is a list, not an object".into()))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Detail::Not("the detail is a string, not an object".into()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Detail::Not("the detail is a boolean, not an object".into()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Detail::Not("the detail is a number, not an object".into()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Detail::Not("the detail is a number, not an object".into()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Detail::Not("the detail is a number, not an object".into()))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A list's elements as unparsed slices, or the kind of value it was instead.
struct List<'a>(Result<Vec<&'a RawValue>, &'static str>);

impl<'de: 'a, 'a> Deserialize<'de> for List<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = List<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of findings")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> Result<Self::Value, S::Error> {
                let mut out = Vec::with_capacity(s.size_hint().unwrap_or(16));
                while let Some(f) = s.next_element::<&'a RawValue>()? {
                    out.push(f);
                }
                Ok(List(Ok(out)))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(List(Err("an object")))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(List(Err("null")))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(List(Err("a string")))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(List(Err("a boolean")))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(List(Err("a number")))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(List(Err("a number")))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(List(Err("a number")))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl<'a> Envelope<'a> {
    /// The envelope of `payload`, or why it is not an EventBridge event.
    pub fn parse(payload: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(payload)
    }

    /// The findings of the detail, or why the detail holds no findings list.
    pub fn findings(&mut self) -> Result<FindingsDetail<'a>, String> {
        match std::mem::take(&mut self.detail) {
            Detail::Findings(d) => Ok(d),
            Detail::Not(why) => Err(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_slices_of_the_event_in_order() {
        let text = r#"{"id":"e","detail-type":"Security Hub Findings - Imported","source":"aws.securityhub",
            "detail":{"findings":[{"Id":"a\u00e9"}, {"Id":"b"}, 3],"actionName":"x"}}"#;
        let mut e = Envelope::parse(text).unwrap();
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
        for detail in [
            "",
            r#","detail":null"#,
            r#","detail":{"findings":"no"}"#,
            r#","detail":{"findings":{"a":[1]}}"#,
            r#","detail":{"other":[1,2]}"#,
            r#","detail":[1,{"a":2}]"#,
            r#","detail":7"#,
        ] {
            let text = format!(r#"{{"detail-type":"x","source":"y"{detail}}}"#);
            let mut e = Envelope::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let why = e.findings().unwrap_err();
            assert!(!why.is_empty(), "{text}");
        }
        // A broken finding inside the list is the event's JSON being broken.
        assert!(Envelope::parse(
            r#"{"detail-type":"x","source":"y","detail":{"findings":[{"Id":]}}"#
        )
        .is_err());
    }
}
