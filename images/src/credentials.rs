//! Registry credentials as an image pull secret holds them, and which of them an image's
//! registry uses.
//!
//! The JSON is a Docker config: `{"auths": {"KEY": {"username": ..., "password": ...}}}` as in a
//! `kubernetes.io/dockerconfigjson` Secret, or the older `.dockercfg` of a
//! `kubernetes.io/dockercfg` one (the same map without `auths`). An entry's `auth`
//! (`base64(user:password)`) wins over its `username` and `password`, as in kubelet;
//! `registrytoken` is a bearer token sent as is. Keys are matched by kubelet's rules:
//! - a key is a host (`registry.example:5000`) or a URL (`https://registry.example/v1/`): its
//!   scheme and a leading `/v1/` or `/v2/` are ignored, and a further path limits it to the
//!   repositories under it (`registry.example/team` is for `registry.example/team/app`);
//! - Docker Hub's keys (`https://index.docker.io/v1/`, `index.docker.io`,
//!   `registry-1.docker.io`) are for `docker.io`, the registry image names use;
//! - a host label may hold `*` (`*.example.com` is for `a.example.com`, not `a.b.example.com`);
//!   ports must be equal;
//! - the most specific key wins: one without `*` before one with, then the longer path, then
//!   the one given first.
//!
//! Pure: no I/O, so the node agent can parse a Secret's bytes as they come.

use std::fmt;

use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ImageError;
use crate::reference::Reference;

/// The registry name images on Docker Hub have.
const DOCKER_HUB: &str = "docker.io";
/// The names Docker configs give Docker Hub.
const DOCKER_HUB_ALIASES: &[&str] = &["docker.io", "index.docker.io", "registry-1.docker.io"];

/// What a registry is asked with.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// HTTP basic credentials; a registry that hands out bearer tokens is asked for one with them.
    Basic { username: String, password: String },
    /// A bearer token, sent as is.
    Bearer(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .finish_non_exhaustive(),
            Credential::Bearer(_) => f.write_str("Bearer(..)"),
        }
    }
}

/// Credentials by registry, from one or more Docker configs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryCredentials {
    /// Most specific first.
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    key: Key,
    credential: Credential,
}

/// Where an entry applies.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    /// Lowercase, maybe with `*` in labels; `docker.io` for Docker Hub.
    host: String,
    port: Option<String>,
    /// A repository prefix, without leading or trailing `/`; empty for the whole registry.
    path: String,
}

/// One entry of a Docker config, as written.
#[derive(Deserialize)]
struct RawEntry {
    username: Option<String>,
    password: Option<String>,
    auth: Option<String>,
    registrytoken: Option<String>,
}

impl RegistryCredentials {
    /// The credentials of a Docker config (`.dockerconfigjson` or `.dockercfg`). Entries with
    /// no credentials (`{}`, as `docker login` leaves beside a credential store) are skipped.
    pub fn from_docker_config(json: &[u8]) -> Result<RegistryCredentials, ImageError> {
        let invalid = |message: String| ImageError::InvalidDocument {
            what: "Docker config".to_string(),
            message,
        };
        let config: Map<String, Value> =
            serde_json::from_slice(json).map_err(|e| invalid(e.to_string()))?;
        let auths = match config.get("auths") {
            Some(Value::Object(auths)) => auths,
            Some(_) => return Err(invalid("\"auths\" is not an object".to_string())),
            None => &config,
        };
        let mut credentials = RegistryCredentials::default();
        for (key, value) in auths {
            let invalid_entry = |reason: String| ImageError::InvalidCredentials {
                registry: key.clone(),
                reason,
            };
            let raw: RawEntry =
                serde_json::from_value(value.clone()).map_err(|e| invalid_entry(e.to_string()))?;
            if let Some(credential) = credential(raw).map_err(invalid_entry)? {
                let key = parse_key(key).map_err(invalid_entry)?;
                credentials.entries.push(Entry { key, credential });
            }
        }
        credentials.sort();
        Ok(credentials)
    }

    /// Adds `other`'s credentials; where both have a key as specific, these come first (the
    /// pod's first image pull secret wins).
    pub fn extend(&mut self, other: RegistryCredentials) {
        self.entries.extend(other.entries);
        self.sort();
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The credential for the registry and repository of `reference`, if any key matches.
    pub fn for_image(&self, reference: &Reference) -> Option<&Credential> {
        let (host, port) = split_port(&reference.registry);
        let host = canonical_host(&host.to_ascii_lowercase());
        self.entries
            .iter()
            .find(|entry| entry.key.matches(&host, port, &reference.repository))
            .map(|entry| &entry.credential)
    }

    fn sort(&mut self) {
        // Stable: among equally specific keys, the first given stays first.
        self.entries.sort_by_key(|entry| {
            (
                entry.key.host.contains('*'),
                std::cmp::Reverse(entry.key.path.len()),
            )
        });
    }
}

/// The credential an entry gives, if any.
fn credential(raw: RawEntry) -> Result<Option<Credential>, String> {
    let non_empty = |field: Option<String>| field.filter(|value| !value.is_empty());
    if let Some(token) = non_empty(raw.registrytoken) {
        return Ok(Some(Credential::Bearer(token)));
    }
    if let Some(auth) = non_empty(raw.auth) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|e| format!("\"auth\" is not base64: {e}"))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| "\"auth\" does not decode to UTF-8 text".to_string())?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| "\"auth\" does not decode to USERNAME:PASSWORD".to_string())?;
        return Ok(Some(Credential::Basic {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    match (non_empty(raw.username), non_empty(raw.password)) {
        (None, None) => Ok(None),
        (username, password) => Ok(Some(Credential::Basic {
            username: username.unwrap_or_default(),
            password: password.unwrap_or_default(),
        })),
    }
}

/// Reads a key: a host with an optional port and path, or a URL.
fn parse_key(key: &str) -> Result<Key, String> {
    let trimmed = key.trim();
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .unwrap_or(trimmed);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = path.trim_matches('/');
    let path = match path.split_once('/') {
        Some(("v1" | "v2", rest)) => rest,
        None if path == "v1" || path == "v2" => "",
        _ => path,
    };
    let (host, port) = split_port(authority);
    if host.is_empty() {
        return Err("the key names no registry host".to_string());
    }
    Ok(Key {
        host: canonical_host(&host.to_ascii_lowercase()),
        port: port.map(str::to_string),
        path: path.trim_matches('/').to_string(),
    })
}

/// `host` and the port after its last `:`, if that is a number.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (host, Some(port))
        }
        _ => (authority, None),
    }
}

fn canonical_host(host: &str) -> String {
    if DOCKER_HUB_ALIASES.contains(&host) {
        DOCKER_HUB.to_string()
    } else {
        host.to_string()
    }
}

impl Key {
    fn matches(&self, host: &str, port: Option<&str>, repository: &str) -> bool {
        self.port.as_deref() == port
            && hosts_match(&self.host, host)
            && (self.path.is_empty()
                || repository == self.path
                || repository
                    .strip_prefix(&self.path)
                    .is_some_and(|rest| rest.starts_with('/')))
    }
}

/// Label by label, `*` matching any run of characters within a label.
fn hosts_match(pattern: &str, host: &str) -> bool {
    let patterns: Vec<&str> = pattern.split('.').collect();
    let labels: Vec<&str> = host.split('.').collect();
    patterns.len() == labels.len()
        && patterns
            .iter()
            .zip(&labels)
            .all(|(pattern, label)| glob(pattern.as_bytes(), label.as_bytes()))
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob(rest, &text[skip..])),
        Some((first, rest)) => text
            .split_first()
            .is_some_and(|(c, text)| c == first && glob(rest, text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(username: &str, password: &str) -> Credential {
        Credential::Basic {
            username: username.to_string(),
            password: password.to_string(),
        }
    }

    fn lookup(credentials: &RegistryCredentials, image: &str) -> Option<Credential> {
        credentials
            .for_image(&Reference::parse(image).unwrap())
            .cloned()
    }

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn a_pull_secret_gives_each_registry_its_credentials() {
        let json = format!(
            r#"{{"auths": {{
                "registry.example:5000": {{"username": "alice", "password": "a-secret"}},
                "quay.io": {{"auth": "{}", "email": "bob@example.com"}},
                "ghcr.io": {{"username": "ignored", "password": "ignored", "auth": "{}"}}
            }}}}"#,
            b64("bob:b:secret"),
            b64("carol:c-secret"),
        );
        let credentials = RegistryCredentials::from_docker_config(json.as_bytes()).unwrap();
        assert_eq!(
            lookup(&credentials, "registry.example:5000/app:1"),
            Some(basic("alice", "a-secret"))
        );
        // The password may hold ':'; only the first separates it from the user.
        assert_eq!(
            lookup(&credentials, "quay.io/team/tool"),
            Some(basic("bob", "b:secret"))
        );
        assert_eq!(
            lookup(&credentials, "ghcr.io/x/y"),
            Some(basic("carol", "c-secret"))
        );
        // Another port, or none, is another registry.
        assert_eq!(lookup(&credentials, "registry.example/app"), None);
        assert_eq!(lookup(&credentials, "registry.example:5001/app"), None);
        assert_eq!(lookup(&credentials, "busybox"), None);
    }

    #[test]
    fn docker_hubs_keys_are_for_docker_io_images() {
        for key in [
            "https://index.docker.io/v1/",
            "index.docker.io",
            "docker.io",
            "https://registry-1.docker.io/v2/",
        ] {
            let json = format!(r#"{{"auths": {{"{key}": {{"auth": "{}"}}}}}}"#, b64("u:p"));
            let credentials = RegistryCredentials::from_docker_config(json.as_bytes()).unwrap();
            for image in [
                "busybox",
                "docker.io/team/app:2",
                "index.docker.io/team/app",
            ] {
                assert_eq!(
                    lookup(&credentials, image),
                    Some(basic("u", "p")),
                    "{key} for {image}"
                );
            }
            assert_eq!(lookup(&credentials, "quay.io/busybox"), None, "{key}");
        }
    }

    #[test]
    fn urls_paths_and_wildcards_match_as_in_kubelet() {
        let json = r#"{"auths": {
            "*.example.com": {"username": "wild", "password": "w"},
            "https://a.example.com/v2/": {"username": "a", "password": "a"},
            "a.example.com/team": {"username": "team", "password": "t"},
            "http://b.example.com:8443/v1/": {"username": "b", "password": "b"}
        }}"#;
        let credentials = RegistryCredentials::from_docker_config(json.as_bytes()).unwrap();
        let user = |image: &str| match lookup(&credentials, image) {
            Some(Credential::Basic { username, .. }) => Some(username),
            _ => None,
        };
        assert_eq!(user("a.example.com/team/app").as_deref(), Some("team"));
        assert_eq!(user("a.example.com/team").as_deref(), Some("team"));
        assert_eq!(user("a.example.com/teammate/app").as_deref(), Some("a"));
        assert_eq!(user("a.example.com/other").as_deref(), Some("a"));
        assert_eq!(user("c.example.com/app").as_deref(), Some("wild"));
        assert_eq!(user("b.example.com:8443/app").as_deref(), Some("b"));
        assert_eq!(user("b.example.com/app").as_deref(), Some("wild"));
        assert_eq!(user("x.c.example.com/app"), None);
        assert_eq!(user("example.com/app"), None);
    }

    #[test]
    fn the_old_dockercfg_and_tokens_are_read_and_empty_entries_skipped() {
        let json = r#"{
            "registry.example": {"username": "old", "password": "format"},
            "tokens.example": {"registrytoken": "t0k3n"},
            "helper.example": {}
        }"#;
        let credentials = RegistryCredentials::from_docker_config(json.as_bytes()).unwrap();
        assert_eq!(
            lookup(&credentials, "registry.example/app"),
            Some(basic("old", "format"))
        );
        assert_eq!(
            lookup(&credentials, "tokens.example/app"),
            Some(Credential::Bearer("t0k3n".into()))
        );
        assert_eq!(lookup(&credentials, "helper.example/app"), None);
        let empty = RegistryCredentials::from_docker_config(br#"{"auths": {}}"#).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn a_later_secret_adds_registries_without_overriding_the_first() {
        let first = br#"{"auths": {"registry.example": {"username": "first", "password": "1"}}}"#;
        let second = br#"{"auths": {
            "registry.example": {"username": "second", "password": "2"},
            "other.example": {"username": "other", "password": "3"}
        }}"#;
        let mut credentials = RegistryCredentials::from_docker_config(first).unwrap();
        credentials.extend(RegistryCredentials::from_docker_config(second).unwrap());
        assert_eq!(
            lookup(&credentials, "registry.example/app"),
            Some(basic("first", "1"))
        );
        assert_eq!(
            lookup(&credentials, "other.example/app"),
            Some(basic("other", "3"))
        );
    }

    #[test]
    fn unusable_configs_say_which_entry_and_why() {
        let error = RegistryCredentials::from_docker_config(b"{not json")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("Docker config is not valid JSON"),
            "{error}"
        );
        let error = RegistryCredentials::from_docker_config(br#"{"auths": []}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("\"auths\" is not an object"), "{error}");
        let error =
            RegistryCredentials::from_docker_config(br#"{"auths": {"r.example": {"auth": "!!"}}}"#)
                .unwrap_err()
                .to_string();
        assert!(
            error.starts_with("registry credentials for \"r.example\": \"auth\" is not base64"),
            "{error}"
        );
        let no_colon = format!(
            r#"{{"auths": {{"r.example": {{"auth": "{}"}}}}}}"#,
            b64("u")
        );
        let error = RegistryCredentials::from_docker_config(no_colon.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(error.contains("USERNAME:PASSWORD"), "{error}");
        let error = RegistryCredentials::from_docker_config(
            br#"{"auths": {"r.example": {"username": 7}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("registry credentials for \"r.example\""),
            "{error}"
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let shown = format!(
            "{:?} {:?}",
            basic("alice", "a-secret"),
            Credential::Bearer("t0k3n".into())
        );
        assert!(
            !shown.contains("a-secret") && !shown.contains("t0k3n"),
            "{shown}"
        );
        assert!(shown.contains("alice"), "{shown}");
    }
}
