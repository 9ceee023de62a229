//! Reading a function's settings from its environment, shared by every function's
//! configuration. Lookups are injected (`get: impl Fn(&str) -> Option<String>`) so that tests
//! never touch the process environment.

use thiserror::Error;

/// A configuration error: fix the deployment, retrying will not help.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EnvError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name}: {message}")]
    Invalid { name: &'static str, message: String },
}

/// A required, non-blank variable.
pub fn required(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<String, EnvError> {
    get(name)
        .filter(|s| !s.trim().is_empty())
        .ok_or(EnvError::Missing(name))
}

/// `TABLE_NAME`, required by every function.
pub fn table_name(get: &impl Fn(&str) -> Option<String>) -> Result<String, EnvError> {
    required(get, "TABLE_NAME")
}

/// An optional whole number of days in `1..=3650`.
pub fn days(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<chrono::Duration>, EnvError> {
    let Some(v) = get(name) else { return Ok(None) };
    let n: i64 = v.trim().parse().map_err(|_| EnvError::Invalid {
        name,
        message: format!("{v:?} is not a whole number of days"),
    })?;
    if !(1..=3650).contains(&n) {
        return Err(EnvError::Invalid {
            name,
            message: format!("{n} is outside 1..=3650 days"),
        });
    }
    Ok(Some(chrono::Duration::days(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_is_missing_and_days_are_bounded() {
        let get = |k: &str| match k {
            "TABLE_NAME" => Some("  ".to_owned()),
            "A" => Some("30".to_owned()),
            "B" => Some("0".to_owned()),
            "C" => Some("soon".to_owned()),
            _ => None,
        };
        assert_eq!(table_name(&get), Err(EnvError::Missing("TABLE_NAME")));
        assert_eq!(days(&get, "A"), Ok(Some(chrono::Duration::days(30))));
        assert!(days(&get, "B").is_err());
        assert!(days(&get, "C").is_err());
        assert_eq!(days(&get, "D"), Ok(None));
    }
}
