//! Tests of the fast parser, and its agreement with the reference model.

mod parse {
    use crate::asff::*;
    use crate::error::FindingError;
    use crate::testing::Asff;
    use serde_json::{json, Value};

    /// Parses a JSON value (tests build findings as values): the decisions only, since the
    /// view borrows from text this function owns.
    fn parse(v: &Value) -> Result<ParsedSummary, FindingError> {
        let text = v.to_string();
        parse_finding(&text).map(|f| ParsedSummary {
            severity: f.severity_label(),
        })
    }

    #[derive(Debug)]
    struct ParsedSummary {
        severity: Option<SeverityLabel>,
    }

    impl ParsedSummary {
        fn severity_label(&self) -> Option<SeverityLabel> {
            self.severity
        }
    }

    pub(crate) fn minimal() -> Value {
        Asff::guardduty("f1")
            .created("2026-11-20T10:00:00.123Z")
            .updated("2026-11-20T10:00:00.123Z")
            .set("Severity", json!({"Label": "MEDIUM", "Normalized": 40}))
            .set("SomethingNew", json!({"kept": [1, 2, 3]}))
            .json()
    }

    #[test]
    fn a_minimal_finding_parses_and_keeps_its_own_bytes() {
        let text = minimal().to_string();
        let f = parse_finding(&text).unwrap();
        assert_eq!(f.severity_label(), Some(SeverityLabel::Medium));
        assert_eq!(f.raw, text, "stored and forwarded as it arrived");
        assert_eq!(
            f.id,
            "arn:aws:guardduty:us-east-1:111111111111:detector/d/finding/f1"
        );
    }

    #[test]
    fn severity_label_is_derived_from_normalized_by_documented_ranges() {
        for (n, l) in [
            (0, SeverityLabel::Informational),
            (1, SeverityLabel::Low),
            (39, SeverityLabel::Low),
            (40, SeverityLabel::Medium),
            (69, SeverityLabel::Medium),
            (70, SeverityLabel::High),
            (89, SeverityLabel::High),
            (90, SeverityLabel::Critical),
            (100, SeverityLabel::Critical),
        ] {
            let mut v = minimal();
            v["Severity"] = json!({ "Normalized": n });
            assert_eq!(parse(&v).unwrap().severity_label(), Some(l), "{n}");
        }
    }

    #[test]
    fn label_wins_over_normalized_and_string_normalized_is_accepted() {
        let mut v = minimal();
        v["Severity"] = json!({"Label": "LOW", "Normalized": 40});
        assert_eq!(
            parse(&v).unwrap().severity_label(),
            Some(SeverityLabel::Low)
        );
        v["Severity"] = json!({"Normalized": "75"});
        assert_eq!(
            parse(&v).unwrap().severity_label(),
            Some(SeverityLabel::High)
        );
    }

    #[test]
    fn severity_falls_back_to_finding_provider_fields() {
        let mut v = minimal();
        v.as_object_mut().unwrap().remove("Severity");
        v["FindingProviderFields"] = json!({"Severity": {"Label": "CRITICAL"}, "Types": ["x/y"]});
        v.as_object_mut().unwrap().remove("Types");
        let text = v.to_string();
        let f = parse_finding(&text).unwrap();
        assert_eq!(f.severity_label(), Some(SeverityLabel::Critical));
        assert_eq!(f.types(), ["x/y"]);
    }

    #[test]
    fn missing_severity_everywhere_is_an_error_naming_the_field_and_finding() {
        let mut v = minimal();
        v.as_object_mut().unwrap().remove("Severity");
        let e = parse(&v).unwrap_err().to_string();
        assert!(e.contains("Severity") && e.contains("finding/f1"), "{e}");
    }

    #[test]
    fn timestamps_accept_zero_to_nine_fractional_digits_and_space_form() {
        for raw in [
            "2026-11-20T10:00:00Z",
            "2026-11-20T10:00:00.1Z",
            "2026-11-20T10:00:00.123Z",
            "2026-11-20T10:00:00.123456Z",
            "2026-11-20T10:00:00.123456789Z",
            "2026-11-20T12:00:00.5+02:00",
            "2026-11-20 10:00:00.000000000",
        ] {
            let t = parse_time(raw).unwrap_or_else(|| panic!("{raw}"));
            assert_eq!(t.date_naive().to_string(), "2026-11-20", "{raw}");
        }
        assert!(parse_time("yesterday").is_none());
        assert!(parse_time("+262143-12-31 23:59:59").is_none());
        assert!(parse_time("-262144-01-01 00:00:00").is_none());
        assert!(parse_time("0000-01-01T00:00:00Z").is_none());
        assert!(parse_time("9999-12-31T23:59:59Z").is_some());
    }

    #[test]
    fn each_required_field_is_named_when_missing() {
        for field in [
            "Id",
            "ProductArn",
            "GeneratorId",
            "AwsAccountId",
            "CreatedAt",
            "UpdatedAt",
            "Title",
            "Resources",
        ] {
            let mut v = minimal();
            v.as_object_mut().unwrap().remove(field);
            let e = parse(&v).unwrap_err();
            assert!(e.to_string().contains(field), "{field}: {e}");
        }
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        let mut v = minimal();
        v["Resources"] = json!("not a list");
        assert!(parse(&v).is_err());
        let mut v = minimal();
        v["ProductFields"] = json!({"a": {"nested": true}});
        let e = parse(&v).unwrap_err().to_string();
        assert!(e.contains("finding/f1"), "{e}");
        let mut v = minimal();
        v["AwsAccountId"] = json!(111111111111u64);
        assert!(parse(&v).is_err());
        let mut v = minimal();
        v["UpdatedAt"] = json!("not a time");
        assert!(parse(&v).is_err());
        assert!(parse(&json!([1, 2])).is_err());
        assert!(parse(&json!(null)).is_err());
    }

    #[test]
    fn account_id_must_be_twelve_digits() {
        let mut v = minimal();
        v["AwsAccountId"] = json!("1234");
        let e = parse(&v).unwrap_err().to_string();
        assert!(e.contains("AwsAccountId"), "{e}");
    }

    #[test]
    fn workflow_and_record_state_default_to_new_and_active() {
        let text = minimal().to_string();
        let f = parse_finding(&text).unwrap();
        assert_eq!(f.workflow_status(), WorkflowStatus::New);
        assert_eq!(f.record_state(), RecordState::Active);
        let mut v = minimal();
        v["Workflow"] = json!({"Status": "RESOLVED"});
        v["RecordState"] = json!("ARCHIVED");
        let text = v.to_string();
        let f = parse_finding(&text).unwrap();
        assert_eq!(f.workflow_status(), WorkflowStatus::Resolved);
        assert_eq!(f.record_state(), RecordState::Archived);
    }

    #[test]
    fn unicode_survives_parsing() {
        let mut v = minimal();
        v["Title"] = json!("Ünïcödé 🚨 – 攻撃");
        let text = v.to_string();
        let f = parse_finding(&text).unwrap();
        assert_eq!(f.title, "Ünïcödé 🚨 – 攻撃");
    }
}

/// The parser never panics: not on arbitrary JSON, and not on a real finding with any of its
/// fields replaced by arbitrary JSON. It either parses or names the finding and field.
mod never_panics {
    use crate::asff::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,40}".prop_map(Value::String),
            // Strings that look like the values the parser interprets.
            prop_oneof![
                Just("2026-11-20T10:00:00Z"),
                Just("9999-12-31T23:59:59Z"),
                Just("0000-01-01T00:00:00Z"),
                Just("+262143-12-31 23:59:59"),
                Just("HIGH"),
                Just("111111111111"),
                Just("ARCHIVED"),
            ]
            .prop_map(|s| Value::String(s.to_owned())),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("Label".to_owned()),
                        Just("Normalized".to_owned()),
                        Just("Type".to_owned()),
                        Just("Id".to_owned()),
                        Just("Tags".to_owned()),
                        Just("Details".to_owned()),
                        Just("Status".to_owned()),
                        "[A-Za-z]{1,12}",
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    const FIELDS: [&str; 22] = [
        "SchemaVersion",
        "Id",
        "ProductArn",
        "GeneratorId",
        "AwsAccountId",
        "Types",
        "FirstObservedAt",
        "LastObservedAt",
        "CreatedAt",
        "UpdatedAt",
        "Severity",
        "Title",
        "Description",
        "Resources",
        "ProductFields",
        "ProductName",
        "Workflow",
        "WorkflowState",
        "RecordState",
        "FindingProviderFields",
        "Remediation",
        "ProcessedAt",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn arbitrary_json_is_an_error_not_a_panic(v in json()) {
            let _ = parse_finding(&v.to_string());
        }

        #[test]
        fn a_real_finding_with_any_field_replaced_parses_or_names_the_finding(
            replacements in prop::collection::vec((0usize..FIELDS.len(), json()), 1..4),
            nested in json(),
        ) {
            let mut v = crate::testing::Asff::guardduty("f1").json();
            v["Resources"][0]["Details"] = nested;
            for (i, value) in replacements {
                v[FIELDS[i]] = value;
            }
            let text = v.to_string();
            match parse_finding(&text) {
                Ok(f) => {
                    let nf = crate::finding::NormalizedFinding::new(f, &crate::runbook::Runbook::default());
                    prop_assert!(!nf.correlation_key.is_empty());
                }
                Err(e) => prop_assert!(!e.field().is_empty()),
            }
        }
    }
}

/// The fast parser and the reference model make the same decisions on generated findings: a
/// real finding with fields replaced by arbitrary JSON, and valid variations of its values.
mod agreement {
    use crate::asff::reference::agreement;
    use crate::testing::Asff;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(Value::from),
            (0.0f64..100.0).prop_map(Value::from),
            "[ -~]{0,20}".prop_map(Value::String),
            "\\PC{0,8}".prop_map(Value::String),
            prop_oneof![
                Just("2026-11-20T10:00:00Z"),
                Just("2026-11-20 10:00:00.000000000"),
                Just("9999-12-31T23:59:59Z"),
                Just("HIGH"),
                Just("low"),
                Just("75"),
                Just("111111111111"),
                Just("ARCHIVED"),
                Just("RESOLVED"),
                Just("AwsEc2Instance"),
            ]
            .prop_map(|s| Value::String(s.to_owned())),
        ]
    }

    fn json() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(3, 32, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("Label".to_owned()),
                        Just("Normalized".to_owned()),
                        Just("Type".to_owned()),
                        Just("Id".to_owned()),
                        Just("Tags".to_owned()),
                        Just("Status".to_owned()),
                        Just("Text".to_owned()),
                        Just("Recommendation".to_owned()),
                        Just("SecurityControlId".to_owned()),
                        "[A-Za-z]{1,10}",
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    const FIELDS: [&str; 27] = [
        "SchemaVersion",
        "Id",
        "ProductArn",
        "GeneratorId",
        "AwsAccountId",
        "AwsAccountName",
        "Types",
        "FirstObservedAt",
        "LastObservedAt",
        "CreatedAt",
        "UpdatedAt",
        "ProcessedAt",
        "Severity",
        "Title",
        "Description",
        "ProductName",
        "Region",
        "ProductFields",
        "Resources",
        "Remediation",
        "Workflow",
        "WorkflowState",
        "RecordState",
        "FindingProviderFields",
        "Compliance",
        "Vulnerabilities",
        "Action",
    ];

    /// A finding with realistic variety: GuardDuty, a control, tags, product fields.
    fn base() -> impl Strategy<Value = Value> {
        (any::<bool>(), any::<bool>(), 0usize..5).prop_map(|(control, tags, sev)| {
            let mut v = if control {
                Asff::control("c1", "S3.8").json()
            } else {
                Asff::guardduty("f1").json()
            };
            v["Severity"] = match sev {
                0 => json!({"Label": "LOW"}),
                1 => json!({"Normalized": 75}),
                2 => json!({"Normalized": "42"}),
                3 => json!({"Label": "bogus", "Normalized": 95.4}),
                _ => json!({"Label": "CRITICAL", "Original": "9"}),
            };
            if tags {
                v["Resources"][0]["Tags"] = json!({"Environment": "prod", "Owner": "x"});
                v["ProductFields"] =
                    json!({"aws/guardduty/service/count": "3", "ControlId": "EC2.19"});
                v["Workflow"] = json!({"Status": "NOTIFIED"});
                v["ProcessedAt"] = json!("2026-11-20T11:00:00.5Z");
            }
            v
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        #[test]
        fn both_models_decide_alike_on_generated_findings(
            v in base(),
            replacements in prop::collection::vec((0usize..FIELDS.len(), json()), 0..4),
            removals in prop::collection::vec(0usize..FIELDS.len(), 0..2),
            details in json(),
        ) {
            let mut v = v;
            v["Resources"][0]["Details"] = details;
            for (i, value) in replacements {
                v[FIELDS[i]] = value;
            }
            for i in removals {
                if let Some(o) = v.as_object_mut() {
                    o.remove(FIELDS[i]);
                }
            }
            prop_assert!(agreement(&v).is_ok(), "{}\n{}", agreement(&v).unwrap_err(), v);
        }
    }
}
