//! Checks for a pod's DNS settings: `subdomain`, `dnsPolicy` and `dnsConfig`, with
//! Kubernetes' limits (three nameservers, 32 search domains of 2,048 characters in all).

use super::{FieldError, report, unsupported};
use crate::object::names::{check_dns1123_label, check_dns1123_subdomain};
use crate::object::pod_spec::PodSpec;

const MAX_NAMESERVERS: usize = 3;
const MAX_SEARCHES: usize = 32;
const MAX_SEARCH_CHARS: usize = 2048;

pub(super) fn validate_pod_dns(spec: &PodSpec, path: &str, errors: &mut Vec<FieldError>) {
    if !spec.subdomain.is_empty()
        && let Err(problem) = check_dns1123_label(&spec.subdomain)
    {
        report(errors, format!("{path}.subdomain"), problem);
    }
    if !spec.dns_policy.is_empty() && !PodSpec::DNS_POLICIES.contains(&spec.dns_policy.as_str()) {
        report(
            errors,
            format!("{path}.dnsPolicy"),
            unsupported(&spec.dns_policy, &PodSpec::DNS_POLICIES),
        );
    }
    let config = spec.dns_config.as_ref();
    let nameservers = config.map_or(&[][..], |c| &c.nameservers[..]);
    if spec.dns_policy == "None" && nameservers.is_empty() {
        report(
            errors,
            format!("{path}.dnsConfig.nameservers"),
            "Required value: must provide at least one DNS nameserver when `dnsPolicy` is None",
        );
    }
    let Some(config) = config else {
        return;
    };
    let at = format!("{path}.dnsConfig");
    if nameservers.len() > MAX_NAMESERVERS {
        report(
            errors,
            format!("{at}.nameservers"),
            format!(
                "Invalid value: {nameservers:?}: must not have more than {MAX_NAMESERVERS} nameservers"
            ),
        );
    }
    for (index, server) in nameservers.iter().enumerate() {
        if server.parse::<std::net::IpAddr>().is_err() {
            report(
                errors,
                format!("{at}.nameservers[{index}]"),
                format!("Invalid value: {server:?}: must be a valid IP address"),
            );
        }
    }
    if config.searches.len() > MAX_SEARCHES {
        report(
            errors,
            format!("{at}.searches"),
            format!("Invalid value: must not have more than {MAX_SEARCHES} search paths"),
        );
    }
    let chars: usize = config.searches.iter().map(|s| s.len() + 1).sum();
    if chars > MAX_SEARCH_CHARS {
        report(
            errors,
            format!("{at}.searches"),
            format!(
                "Invalid value: must not have more than {MAX_SEARCH_CHARS} characters (including spaces) in the search list"
            ),
        );
    }
    for (index, search) in config.searches.iter().enumerate() {
        let name = search.strip_suffix('.').unwrap_or(search);
        if let Err(problem) = check_dns1123_subdomain(name) {
            report(errors, format!("{at}.searches[{index}]"), problem);
        }
    }
    for (index, option) in config.options.iter().enumerate() {
        if option.name.is_empty() {
            report(
                errors,
                format!("{at}.options[{index}].name"),
                "Required value: must not be empty",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::pod_spec::{PodDnsConfig, PodDnsConfigOption};

    fn errors_of(spec: &PodSpec) -> Vec<String> {
        let mut errors = Vec::new();
        validate_pod_dns(spec, "spec", &mut errors);
        errors
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect()
    }

    #[test]
    fn policies_and_configs_are_checked_as_kubernetes_does() {
        let mut spec = PodSpec {
            dns_policy: "ClusterFirst".into(),
            subdomain: "web".into(),
            ..PodSpec::default()
        };
        assert!(errors_of(&spec).is_empty());

        spec.dns_policy = "Cluster".into();
        spec.subdomain = "Web_Set".into();
        let found = errors_of(&spec);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("spec.subdomain: "), "{found:?}");
        assert_eq!(
            found[1],
            "spec.dnsPolicy: Unsupported value: \"Cluster\": supported values: \"ClusterFirst\", \"ClusterFirstWithHostNet\", \"Default\", \"None\""
        );

        spec.subdomain.clear();
        spec.dns_policy = "None".into();
        assert_eq!(
            errors_of(&spec),
            [
                "spec.dnsConfig.nameservers: Required value: must provide at least one DNS nameserver when `dnsPolicy` is None"
            ]
        );
        spec.dns_config = Some(PodDnsConfig {
            nameservers: vec![
                "1.1.1.1".into(),
                "x".into(),
                "8.8.8.8".into(),
                "9.9.9.9".into(),
            ],
            searches: vec!["ns1.svc.cluster-domain.example".into(), "bad_domain".into()],
            options: vec![
                PodDnsConfigOption {
                    name: "ndots".into(),
                    value: Some("2".into()),
                },
                PodDnsConfigOption::default(),
            ],
        });
        let paths: Vec<String> = errors_of(&spec)
            .iter()
            .map(|e| e.split(':').next().unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "spec.dnsConfig.nameservers",
                "spec.dnsConfig.nameservers[1]",
                "spec.dnsConfig.searches[1]",
                "spec.dnsConfig.options[1].name",
            ]
        );
    }
}
