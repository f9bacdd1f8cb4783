//! The syntax of names Kubernetes manifests use: DNS-1123 labels and subdomains (object and
//! container names), qualified names (label and annotation keys), label values and
//! environment variable names.
//!
//! Each check returns the rule that was broken, phrased for an operator, so validation and the
//! selector parser can put it next to the offending field or term.

const DNS1123_LABEL_MAX: usize = 63;
const DNS1123_SUBDOMAIN_MAX: usize = 253;
const QUALIFIED_NAME_MAX: usize = 63;
const LABEL_VALUE_MAX: usize = 63;

/// A DNS-1123 label: at most 63 lower-case alphanumerics or '-', starting and ending with an
/// alphanumeric (`web-1`).
pub fn check_dns1123_label(name: &str) -> Result<(), String> {
    if name.len() > DNS1123_LABEL_MAX {
        return Err(format!(
            "{name:?} is longer than {DNS1123_LABEL_MAX} characters"
        ));
    }
    if !is_label_part(name) {
        return Err(format!(
            "{name:?} must consist of lower case alphanumeric characters or '-', and must start \
             and end with an alphanumeric character"
        ));
    }
    Ok(())
}

/// A DNS-1035 label: a DNS-1123 label that starts with a letter (`web-1`, not `1web`), as
/// the names of Services, which become DNS names, must be.
pub fn check_dns1035_label(name: &str) -> Result<(), String> {
    if name.len() > DNS1123_LABEL_MAX {
        return Err(format!(
            "{name:?} is longer than {DNS1123_LABEL_MAX} characters"
        ));
    }
    if !is_label_part(name) || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!(
            "{name:?} must consist of lower case alphanumeric characters or '-', start with an \
             alphabetic character, and end with an alphanumeric character"
        ));
    }
    Ok(())
}

/// A DNS-1123 subdomain: at most 253 characters, dot-separated DNS-1123 label parts
/// (`web.example-1`).
pub fn check_dns1123_subdomain(name: &str) -> Result<(), String> {
    if name.len() > DNS1123_SUBDOMAIN_MAX {
        return Err(format!(
            "{name:?} is longer than {DNS1123_SUBDOMAIN_MAX} characters"
        ));
    }
    if !name.split('.').all(is_label_part) {
        return Err(format!(
            "{name:?} must consist of lower case alphanumeric characters, '-' or '.', and must \
             start and end with an alphanumeric character"
        ));
    }
    Ok(())
}

/// A qualified name such as a label key: an optional DNS subdomain prefix and '/', then at most
/// 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric
/// (`app`, `flotilla.io/role`).
pub fn check_qualified_name(key: &str) -> Result<(), String> {
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            if prefix.is_empty() {
                return Err(format!("{key:?} has an empty prefix before '/'"));
            }
            check_dns1123_subdomain(prefix)
                .map_err(|problem| format!("prefix of {key:?}: {problem}"))?;
            name
        }
        None => key,
    };
    if name.is_empty() {
        return Err(format!("{key:?} has an empty name"));
    }
    if name.len() > QUALIFIED_NAME_MAX {
        return Err(format!(
            "name part of {key:?} is longer than {QUALIFIED_NAME_MAX} characters"
        ));
    }
    if !is_mixed_case_token(name) {
        return Err(format!(
            "name part of {key:?} must consist of alphanumeric characters, '-', '_' or '.', and \
             must start and end with an alphanumeric character"
        ));
    }
    Ok(())
}

/// A label value: empty, or at most 63 alphanumerics, '-', '_' or '.', starting and ending with
/// an alphanumeric.
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > LABEL_VALUE_MAX {
        return Err(format!(
            "{value:?} is longer than {LABEL_VALUE_MAX} characters"
        ));
    }
    if !is_mixed_case_token(value) {
        return Err(format!(
            "{value:?} must consist of alphanumeric characters, '-', '_' or '.', and must start \
             and end with an alphanumeric character"
        ));
    }
    Ok(())
}

/// An environment variable name: letters, digits, '-', '_' or '.', not starting with a digit.
pub fn check_env_var_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid_first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '-' | '_' | '.'));
    let valid_rest = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid_first && valid_rest {
        Ok(())
    } else {
        Err(format!(
            "{name:?} must consist of letters, digits, '-', '_' or '.', and must not start with a \
             digit"
        ))
    }
}

fn is_label_part(part: &str) -> bool {
    let bytes = part.as_bytes();
    let is_alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            is_alnum(first) && is_alnum(last) && bytes.iter().all(|b| is_alnum(b) || *b == b'-')
        }
        _ => false,
    }
}

fn is_mixed_case_token(token: &str) -> bool {
    let bytes = token.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1123_labels() {
        for good in ["a", "web-1", "0abc", &"a".repeat(63)] {
            assert!(check_dns1123_label(good).is_ok(), "{good}");
        }
        for bad in ["", "Web", "-a", "a-", "a.b", "a_b", &"a".repeat(64)] {
            assert!(check_dns1123_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dns1035_labels() {
        for good in ["a", "web-1", "my-service", &"a".repeat(63)] {
            assert!(check_dns1035_label(good).is_ok(), "{good}");
        }
        for bad in ["", "1web", "-a", "a-", "Web", "a.b", &"a".repeat(64)] {
            assert!(check_dns1035_label(bad).is_err(), "{bad}");
        }
        let problem = check_dns1035_label("1web").unwrap_err();
        assert!(
            problem.contains("start with an alphabetic character"),
            "{problem}"
        );
    }

    #[test]
    fn dns1123_subdomains() {
        for good in ["a", "web.example-1", "1.2.3"] {
            assert!(check_dns1123_subdomain(good).is_ok(), "{good}");
        }
        for bad in ["", "a..b", ".a", "a.", "A.b", "a_b", &"a".repeat(254)] {
            assert!(check_dns1123_subdomain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn qualified_names() {
        for good in ["app", "App_1.x", "flotilla.io/role", "a/B"] {
            assert!(check_qualified_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a/b/c",
            "-a",
            "a b",
            "UP/a",
            &"k".repeat(64),
        ] {
            assert!(check_qualified_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn label_values() {
        for good in ["", "web", "v1.2_3-x"] {
            assert!(check_label_value(good).is_ok(), "{good}");
        }
        for bad in ["-web", "a b", "é", &"v".repeat(64)] {
            assert!(check_label_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_var_names() {
        for good in ["PATH", "_x", "my.var-1"] {
            assert!(check_env_var_name(good).is_ok(), "{good}");
        }
        for bad in ["", "1X", "A=B", "A B"] {
            assert!(check_env_var_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn problems_quote_the_value() {
        let problem = check_dns1123_label("Web").unwrap_err();
        assert!(problem.starts_with("\"Web\""), "{problem}");
    }
}
