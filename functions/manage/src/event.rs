//! What invoked the function: the schedule, or a new account in the organisation.
//!
//! - Organizations `CreateAccountResult` (a CloudTrail service event, in the management
//!   account's us-east-1, routed to this account's bus): `detail.serviceEventDetails
//!   .createAccountStatus.{accountId, state}`.
//! - Control Tower `CreateManagedAccount` and `UpdateManagedAccount` (a retried Account Factory
//!   run emits the latter): `detail.serviceEventDetails.createManagedAccountStatus` (or
//!   `updateManagedAccountStatus`) `.{account.accountId, state}`.
//! - Anything else (the Scheduler's input) is a scheduled run.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Scheduled,
    /// A new account: enrol it now.
    AccountCreated {
        account_id: String,
        source: String,
    },
    /// An account event that asks for nothing (a failed creation, an event without an id).
    Ignored {
        why: String,
    },
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut v = v;
    for p in path {
        v = v.get(*p)?;
    }
    v.as_str()
}

pub fn classify(event: &Value) -> Trigger {
    let source = event
        .get("source")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = str_at(event, &["detail", "eventName"]).unwrap_or_default();
    let details = &event["detail"]["serviceEventDetails"];
    let (status, id_path): (&Value, &[&str]) = match (source, name) {
        ("aws.organizations", "CreateAccountResult") => {
            (&details["createAccountStatus"], &["accountId"])
        }
        ("aws.controltower", "CreateManagedAccount") => (
            &details["createManagedAccountStatus"],
            &["account", "accountId"],
        ),
        ("aws.controltower", "UpdateManagedAccount") => (
            &details["updateManagedAccountStatus"],
            &["account", "accountId"],
        ),
        ("aws.organizations" | "aws.controltower", other) => {
            return Trigger::Ignored {
                why: format!("{source} event {other:?} is not an account creation"),
            }
        }
        _ => return Trigger::Scheduled,
    };
    let state = str_at(status, &["state"]).unwrap_or_default();
    let id = str_at(status, id_path).unwrap_or_default();
    if state != "SUCCEEDED" {
        return Trigger::Ignored {
            why: format!(
                "{name}: state {state:?}{}",
                str_at(status, &["failureReason"])
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
        };
    }
    if id.len() != 12 || !id.chars().all(|c| c.is_ascii_digit()) {
        return Trigger::Ignored {
            why: format!("{name}: no 12-digit account id in the event ({id:?})"),
        };
    }
    Trigger::AccountCreated {
        account_id: id.to_owned(),
        source: format!("{source} {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn account_creation_events_name_the_account() {
        let org = json!({"source": "aws.organizations", "detail-type": "AWS Service Event via CloudTrail",
            "detail": {"eventName": "CreateAccountResult", "serviceEventDetails": {"createAccountStatus": {
                "id": "car-1", "state": "SUCCEEDED", "accountId": "123456789012", "accountName": "new"}}}});
        assert_eq!(
            classify(&org),
            Trigger::AccountCreated {
                account_id: "123456789012".into(),
                source: "aws.organizations CreateAccountResult".into()
            }
        );
        let ct = json!({"source": "aws.controltower", "detail": {"eventName": "UpdateManagedAccount",
            "serviceEventDetails": {"updateManagedAccountStatus": {"state": "SUCCEEDED",
                "account": {"accountName": "x", "accountId": "210987654321"}}}}});
        assert!(
            matches!(classify(&ct), Trigger::AccountCreated { account_id, .. } if account_id == "210987654321")
        );
        let failed = json!({"source": "aws.organizations", "detail": {"eventName": "CreateAccountResult",
            "serviceEventDetails": {"createAccountStatus": {"state": "FAILED", "failureReason": "EMAIL_ALREADY_EXISTS"}}}});
        assert!(
            matches!(classify(&failed), Trigger::Ignored { why } if why.contains("EMAIL_ALREADY_EXISTS"))
        );
        let hostile = json!({"source": "aws.organizations", "detail": {"eventName": "CreateAccountResult",
            "serviceEventDetails": {"createAccountStatus": {"state": "SUCCEEDED", "accountId": "../../etc"}}}});
        assert!(matches!(classify(&hostile), Trigger::Ignored { .. }));
        assert_eq!(classify(&json!({"vigil": "manage"})), Trigger::Scheduled);
        assert_eq!(classify(&json!("not an object")), Trigger::Scheduled);
    }
}
