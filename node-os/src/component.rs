//! The one rule for names that become a single path component: cgroup names under our root
//! and container ids (which name both a cgroup and files). Checked in one place so a name
//! accepted by the runtime is always accepted by the cgroup layer, and neither can escape its
//! directory with `/`, `..` or a hidden name.

/// Longest accepted name, the length of a Kubernetes DNS subdomain.
const MAX_LEN: usize = 253;

/// Why `name` is not a safe single path component, or `None` if it is one.
pub(crate) fn component_problem(name: &str) -> Option<&'static str> {
    let Some(first) = name.chars().next() else {
        return Some("must not be empty");
    };
    if name.len() > MAX_LEN {
        return Some("must be at most 253 bytes long");
    }
    if !first.is_ascii_alphanumeric() {
        return Some("must start with an ASCII letter or digit");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Some("may only contain ASCII letters, digits, '-', '_' and '.'");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in ["web-1", "a", "pod_7.container", "0abc"] {
            assert_eq!(component_problem(name), None, "{name}");
        }
    }

    #[test]
    fn rejects_names_that_could_escape_or_hide() {
        for name in ["", ".", "..", ".hidden", "a/b", "-x", "a b", "ä", "a\0b"] {
            assert!(component_problem(name).is_some(), "{name:?}");
        }
        assert!(component_problem(&"a".repeat(254)).is_some());
        assert_eq!(component_problem(&"a".repeat(253)), None);
    }
}
