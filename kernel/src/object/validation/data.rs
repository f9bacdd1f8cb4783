//! Checks for ConfigMaps, Secrets and Leases: data keys are config-key names, secret values
//! are base64, the total stays under Kubernetes' 1 MiB, a lease's duration is positive.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{FieldError, report};
use crate::object::config_map::{ConfigMap, MAX_DATA_BYTES, Secret};
use crate::object::lease::Lease;

pub(super) fn validate_config_map(config_map: &ConfigMap, errors: &mut Vec<FieldError>) {
    validate_keys_and_size(&config_map.data, "data", errors);
}

pub(super) fn validate_secret(secret: &Secret, errors: &mut Vec<FieldError>) {
    validate_keys_and_size(&secret.data, "data", errors);
    for (key, value) in &secret.data {
        if let Err(problem) = BASE64.decode(value) {
            report(
                errors,
                format!("data.{key}"),
                format!("is not base64 ({problem}); put clear text in stringData instead"),
            );
        }
    }
}

pub(super) fn validate_lease(lease: &Lease, errors: &mut Vec<FieldError>) {
    if let Some(seconds) = lease.spec.lease_duration_seconds
        && seconds <= 0
    {
        report(
            errors,
            "spec.leaseDurationSeconds".to_owned(),
            format!("{seconds} must be positive"),
        );
    }
}

fn validate_keys_and_size(
    data: &BTreeMap<String, String>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let mut total = 0usize;
    for (key, value) in data {
        if let Err(problem) = check_config_key(key) {
            report(errors, format!("{path}.{key}"), problem);
        }
        total = total.saturating_add(key.len()).saturating_add(value.len());
    }
    if total > MAX_DATA_BYTES {
        report(
            errors,
            path.to_owned(),
            format!("holds {total} bytes; at most {MAX_DATA_BYTES} are allowed"),
        );
    }
}

/// A key of `data`: what a file name may be, as Kubernetes allows — letters, digits, `-`,
/// `_`, `.`; not `.` or `..`; at most 253 characters.
fn check_config_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > 253 {
        return Err("a key must be 1 to 253 characters".to_owned());
    }
    if key == "." || key == ".." {
        return Err(format!("{key:?} is not a valid key"));
    }
    if let Some(bad) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "{bad:?} is not allowed in a key; use letters, digits, '-', '_' or '.'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|error| error.path.as_str()).collect()
    }

    #[test]
    fn config_map_keys_and_size() {
        let mut config_map = ConfigMap::default();
        config_map.data.insert("app.conf".into(), "x".into());
        config_map.data.insert("bad/key".into(), "x".into());
        config_map.data.insert("..".into(), "x".into());
        let mut errors = Vec::new();
        validate_config_map(&config_map, &mut errors);
        assert_eq!(paths(&errors), ["data...", "data.bad/key"]);

        let mut big = ConfigMap::default();
        big.data.insert("a".into(), "x".repeat(MAX_DATA_BYTES));
        let mut errors = Vec::new();
        validate_config_map(&big, &mut errors);
        assert_eq!(paths(&errors), ["data"]);
    }

    #[test]
    fn secret_values_must_be_base64() {
        let mut secret = Secret::default();
        secret.data.insert("ok".into(), "aGVsbG8=".into());
        secret.data.insert("clear".into(), "hello!".into());
        let mut errors = Vec::new();
        validate_secret(&secret, &mut errors);
        assert_eq!(paths(&errors), ["data.clear"]);
        assert!(errors[0].message.contains("stringData"));
    }

    #[test]
    fn lease_duration_is_positive() {
        let mut lease = Lease::default();
        lease.spec.lease_duration_seconds = Some(0);
        let mut errors = Vec::new();
        validate_lease(&lease, &mut errors);
        assert_eq!(paths(&errors), ["spec.leaseDurationSeconds"]);
    }
}
