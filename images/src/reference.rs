//! Image references the way Docker and Kubernetes read them: `busybox` is
//! `docker.io/library/busybox:latest`, `team/app:1.2` is `docker.io/team/app:1.2`, and a first
//! component with a dot or a port, or `localhost`, names a registry
//! (`localhost:5000/app@sha256:...`).

use std::fmt;

use crate::digest::Digest;
use crate::error::ImageError;

const DEFAULT_REGISTRY: &str = "docker.io";
const OFFICIAL_PREFIX: &str = "library/";
pub const DEFAULT_TAG: &str = "latest";
const MAX_TAG: usize = 128;

/// A fully qualified image reference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    /// The registry, with its port if any: `docker.io`, `localhost:5000`.
    pub registry: String,
    /// The repository within the registry: `library/busybox`.
    pub repository: String,
    /// The tag; `latest` when neither a tag nor a digest was given.
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference, ImageError> {
        let invalid = |reason: &str| ImageError::InvalidReference {
            reference: text.to_string(),
            reason: reason.to_string(),
        };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(Digest::parse(digest)?)),
            None => (text, None),
        };
        let (name, tag) = match rest.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
            _ => (rest, None),
        };
        if tag.is_some_and(|tag| !valid_tag(tag)) {
            return Err(invalid(
                "a tag is 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'",
            ));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if is_registry(first) => (first.to_string(), rest.to_string()),
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("{OFFICIAL_PREFIX}{repository}")
        } else {
            repository
        };
        if repository.is_empty() || !repository.split('/').all(valid_component) {
            return Err(invalid(
                "a repository is lowercase letters and digits separated by '/', '.', '_' or '-'",
            ));
        }
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, as `image ls` shows it.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn is_registry(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

fn valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    first_ok
        && tag.len() <= MAX_TAG
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A path component: lowercase alphanumerics, separated (not begun or ended) by `.`, `_`, `-`.
fn valid_component(component: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            alnum(first)
                && alnum(last)
                && bytes
                    .iter()
                    .all(|&b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(text: &str) -> String {
        Reference::parse(text).unwrap().to_string()
    }

    #[test]
    fn short_names_are_docker_hubs() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(full("team/app:v2"), "docker.io/team/app:v2");
        assert_eq!(
            full("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
    }

    #[test]
    fn a_first_component_with_a_dot_a_port_or_localhost_is_a_registry() {
        assert_eq!(full("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(full("localhost/app:1"), "localhost/app:1");
        assert_eq!(
            full("registry.example.com/a/b:c"),
            "registry.example.com/a/b:c"
        );
        let digest = Digest::of(b"m");
        let pinned = Reference::parse(&format!("quay.io/x/y@{digest}")).unwrap();
        assert_eq!(pinned.tag, None);
        assert_eq!(pinned.digest, Some(digest));
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        for bad in [
            "Busybox",
            "busybox:",
            "busybox:-x",
            "a//b",
            "/a",
            "app@sha256:12",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
        let error = Reference::parse("UPPER/case").unwrap_err().to_string();
        assert!(error.contains("lowercase"), "{error}");
    }
}
