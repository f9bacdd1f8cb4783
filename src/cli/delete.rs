//! `flotilla delete`: objects named on the command line (`KIND NAME...`, `KIND/NAME...`) or
//! described by manifests (`-f`). Each object is deleted and reported on its own, so one
//! missing object does not stop the others; pods on a node are stopped gracefully by their
//! node agent unless `--grace-period` says otherwise. `--cascade` says what happens to the
//! objects' dependents, as kubectl's does.

use std::process::ExitCode;

use flotilla_kernel::api::{ApiClient, DeleteOptions, PropagationPolicy};
use flotilla_kernel::object::Kind;

use super::{exit_code, lookup, manifest_files, namespace, resource_arg, terminal};

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// KIND NAME... or KIND/NAME...
    #[arg(value_name = "RESOURCE")]
    resources: Vec<String>,
    /// Delete the objects described in a manifest file, a directory of them, or `-` (stdin).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    files: Vec<String>,
    /// The namespace to delete in (default: "default").
    #[arg(short, long)]
    namespace: Option<String>,
    /// Treat an object that does not exist as deleted.
    #[arg(long)]
    ignore_not_found: bool,
    /// Seconds a pod is given to stop; negative: the pod's own setting.
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    grace_period: Option<i64>,
    /// What happens to the objects' dependents: "background" deletes them after the object,
    /// "foreground" before it, "orphan" leaves them without this owner.
    #[arg(long, value_name = "STRATEGY", default_value = "background", value_parser = parse_cascade)]
    cascade: PropagationPolicy,
}

/// kubectl's `--cascade` values; `true` and `false` are its older spellings of background
/// and orphan.
fn parse_cascade(value: &str) -> Result<PropagationPolicy, String> {
    match value {
        "true" => Ok(PropagationPolicy::Background),
        "false" => Ok(PropagationPolicy::Orphan),
        other => PropagationPolicy::from_cascade(other).ok_or_else(|| {
            format!(
                "invalid cascade value ({other}). Must be \"background\", \"foreground\", or \"orphan\""
            )
        }),
    }
}

/// The arguments do not say what to delete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeleteError {
    #[error("you must provide one or more resources by argument or filename (-f)")]
    NothingNamed,
    #[error("resources may be named by argument or by filename (-f), not both")]
    BothNamings,
    #[error(
        "{kind} were named, but no object of them: pass their names, e.g. 'delete {kind} NAME'"
    )]
    NoNames { kind: String },
}

/// One object to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Doomed {
    kind: Kind,
    namespace: String,
    name: String,
}

pub async fn run(args: DeleteArgs, api: &ApiClient) -> anyhow::Result<ExitCode> {
    let flag = args.namespace.as_deref();
    let mut failed = false;
    let doomed = match (args.resources.is_empty(), args.files.is_empty()) {
        (true, true) => return Err(DeleteError::NothingNamed.into()),
        (false, false) => return Err(DeleteError::BothNamings.into()),
        (false, true) => named(&args.resources, flag)?,
        (true, false) => {
            let sources = manifest_files::read_sources(&args.files)?;
            let mut doomed = Vec::new();
            for document in manifest_files::objects(&sources, flag) {
                match document {
                    Ok(object) => doomed.push(Doomed {
                        kind: object.kind(),
                        namespace: object.meta().namespace.clone(),
                        name: object.meta().name.clone(),
                    }),
                    Err(error) => {
                        failed = true;
                        terminal::print_error(&error.into())?;
                    }
                }
            }
            doomed
        }
    };
    let options = DeleteOptions {
        grace_period_seconds: args.grace_period.filter(|seconds| *seconds >= 0),
        propagation_policy: Some(args.cascade),
        preconditions: None,
    };
    for Doomed {
        kind,
        namespace,
        name,
    } in doomed
    {
        match api
            .delete_with(kind, &namespace, &name, options.clone())
            .await
        {
            Ok(_) => terminal::print_line(deleted_line(kind, &name))?,
            Err(error) if args.ignore_not_found && lookup::is_not_found(&error) => {}
            Err(error) => {
                failed = true;
                terminal::print_error(&lookup::worded(error, kind, &name).into())?;
            }
        }
    }
    Ok(exit_code(failed))
}

/// The objects named by `KIND NAME...` or `KIND/NAME...`.
fn named(resources: &[String], flag: Option<&str>) -> Result<Vec<Doomed>, anyhow::Error> {
    let mut doomed = Vec::new();
    for target in resource_arg::parse_targets(resources)? {
        if target.names.is_empty() {
            let kind = resource_arg::resource_name(target.kind);
            return Err(DeleteError::NoNames { kind }.into());
        }
        let namespace = namespace::for_kind(target.kind, flag);
        doomed.extend(target.names.into_iter().map(|name| Doomed {
            kind: target.kind,
            namespace: namespace.to_string(),
            name,
        }));
    }
    Ok(doomed)
}

/// `pod "x" deleted`, `deployment.apps "web" deleted`.
fn deleted_line(kind: Kind, name: &str) -> String {
    format!("{} \"{name}\" deleted", resource_arg::type_name(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn names_are_deleted_in_the_chosen_namespace() {
        assert_eq!(
            named(&args("po a b"), Some("prod")).unwrap(),
            vec![
                Doomed {
                    kind: Kind::Pod,
                    namespace: "prod".to_string(),
                    name: "a".to_string(),
                },
                Doomed {
                    kind: Kind::Pod,
                    namespace: "prod".to_string(),
                    name: "b".to_string(),
                },
            ]
        );
        assert_eq!(
            named(&args("node/n1"), Some("prod")).unwrap(),
            vec![Doomed {
                kind: Kind::Node,
                namespace: String::new(),
                name: "n1".to_string(),
            }]
        );
    }

    #[test]
    fn a_kind_without_names_deletes_nothing() {
        let error = named(&args("deploy"), None).unwrap_err();
        assert_eq!(
            error.downcast_ref::<DeleteError>(),
            Some(&DeleteError::NoNames {
                kind: "deployments.apps".to_string()
            })
        );
    }

    #[test]
    fn cascade_values_are_kubectls() {
        let cases = [
            ("background", Ok(PropagationPolicy::Background)),
            ("foreground", Ok(PropagationPolicy::Foreground)),
            ("orphan", Ok(PropagationPolicy::Orphan)),
            ("true", Ok(PropagationPolicy::Background)),
            ("false", Ok(PropagationPolicy::Orphan)),
            (
                "later",
                Err("invalid cascade value (later). Must be \"background\", \"foreground\", or \"orphan\"".to_string()),
            ),
        ];
        for (value, want) in cases {
            assert_eq!(parse_cascade(value), want, "{value}");
        }
    }

    #[test]
    fn deleted_lines_read_like_kubectl() {
        assert_eq!(deleted_line(Kind::Pod, "x"), "pod \"x\" deleted");
        assert_eq!(
            deleted_line(Kind::Deployment, "web"),
            "deployment.apps \"web\" deleted"
        );
    }
}
