//! `flotilla label|annotate RESOURCE... KEY=VALUE... KEY-`: set and remove labels or
//! annotations of objects of any kind, as kubectl does. The arguments are split and read, and
//! the changes applied to a map, by pure functions; the driver reads each object, applies them
//! and writes it back with the resourceVersion it read, reading again after a Conflict.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, bail};
use flotilla_kernel::api::{ApiClient, ErrorCode};
use flotilla_kernel::object::{Object, check_label_value, check_qualified_name};

use super::{exit_code, lookup, namespace, resource_arg, terminal};

/// How often a write that met a Conflict is tried in all.
const MAX_ATTEMPTS: u32 = 5;

#[derive(Debug, clap::Args)]
pub struct MetaArgs {
    /// `KIND NAME...` or `KIND/NAME...`, then `KEY=VALUE` to set and `KEY-` to remove.
    #[arg(required = true, value_name = "RESOURCE|KEY=VALUE|KEY-")]
    args: Vec<String>,
    /// Replace a value the key already has rather than refuse.
    #[arg(long)]
    overwrite: bool,
    /// The namespace (default: "default").
    #[arg(short, long)]
    namespace: Option<String>,
}

/// Which map of the metadata a command changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Labels,
    Annotations,
}

impl Field {
    fn verb(self) -> &'static str {
        match self {
            Self::Labels => "label",
            Self::Annotations => "annotate",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Labels => "label",
            Self::Annotations => "annotation",
        }
    }

    /// What the command prints: `labeled`, `unlabeled`, `annotated`.
    fn done(self, only_removed: bool) -> &'static str {
        match (self, only_removed) {
            (Self::Labels, false) => "labeled",
            (Self::Labels, true) => "unlabeled",
            (Self::Annotations, _) => "annotated",
        }
    }
}

/// The changes the arguments ask for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Changes {
    set: BTreeMap<String, String>,
    remove: Vec<String>,
}

pub async fn run(field: Field, args: MetaArgs, api: &ApiClient) -> anyhow::Result<ExitCode> {
    let (resources, changes) = split(field, &args.args)?;
    let targets = resource_arg::parse_targets(&resources)?;
    if let Some(target) = targets.iter().find(|target| target.names.is_empty()) {
        bail!(
            "resource(s) were provided, but no name was specified: {} {} NAME",
            field.verb(),
            resource_arg::resource_name(target.kind)
        );
    }
    let mut failed = false;
    for target in targets {
        let namespace = namespace::for_kind(target.kind, args.namespace.as_deref());
        for name in &target.names {
            let what = format!("{}/{name}", resource_arg::type_name(target.kind));
            let mut attempt = 1;
            let outcome = loop {
                let mut object = match api.get_object(target.kind, namespace, name).await {
                    Ok(object) => object,
                    Err(error) => break Err(lookup::worded(error, target.kind, name).into()),
                };
                if let Err(error) = apply(map(&mut object, field), &changes, args.overwrite) {
                    break Err(error);
                }
                match api.update_object(&object).await {
                    Ok(_) => break Ok(()),
                    Err(error)
                        if error.api_code() == Some(ErrorCode::Conflict)
                            && attempt < MAX_ATTEMPTS =>
                    {
                        attempt += 1;
                    }
                    Err(error) => {
                        break Err(anyhow::Error::new(error).context(format!("updating {what}")));
                    }
                }
            };
            match outcome {
                Ok(()) => {
                    let only_removed = changes.set.is_empty();
                    terminal::print_line(format!("{what} {}", field.done(only_removed)))?;
                }
                Err(error) => {
                    failed = true;
                    terminal::print_error(&error)?;
                }
            }
        }
    }
    Ok(exit_code(failed))
}

fn map(object: &mut Object, field: Field) -> &mut BTreeMap<String, String> {
    let meta = object.meta_mut();
    match field {
        Field::Labels => &mut meta.labels,
        Field::Annotations => &mut meta.annotations,
    }
}

/// Splits the arguments into the resources (those before the first change) and the changes.
fn split(field: Field, args: &[String]) -> anyhow::Result<(Vec<String>, Changes)> {
    let first_change = args
        .iter()
        .position(|arg| arg.contains('=') || arg.ends_with('-'))
        .with_context(|| {
            format!(
                "at least one {} update is required: KEY=VALUE or KEY-",
                field.noun()
            )
        })?;
    let (resources, updates) = args.split_at(first_change);
    let mut changes = Changes::default();
    for update in updates {
        if let Some((key, value)) = update.split_once('=') {
            check_key(field, key)?;
            if field == Field::Labels
                && let Err(problem) = check_label_value(value)
            {
                bail!("invalid label value {update:?}: {problem}");
            }
            if changes
                .set
                .insert(key.to_string(), value.to_string())
                .is_some()
            {
                bail!("can not both modify and remove the same key twice: {key:?}");
            }
        } else if let Some(key) = update.strip_suffix('-') {
            check_key(field, key)?;
            changes.remove.push(key.to_string());
        } else {
            bail!("{update:?} is not KEY=VALUE or KEY-: resources go before the changes");
        }
    }
    if let Some(key) = changes
        .remove
        .iter()
        .find(|key| changes.set.contains_key(*key))
    {
        bail!("can not both modify and remove the key {key:?} in the same command");
    }
    Ok((resources.to_vec(), changes))
}

fn check_key(field: Field, key: &str) -> anyhow::Result<()> {
    check_qualified_name(key)
        .map_err(|problem| anyhow::anyhow!("invalid {} key {key:?}: {problem}", field.noun()))
}

/// Applies `changes` to `map`: a key that already has another value is refused unless
/// `overwrite`; removing a key that is not there is refused too.
fn apply(
    map: &mut BTreeMap<String, String>,
    changes: &Changes,
    overwrite: bool,
) -> anyhow::Result<()> {
    for (key, value) in &changes.set {
        match map.get(key) {
            Some(current) if current != value && !overwrite => {
                bail!("{key:?} already has a value ({current}), and --overwrite is false")
            }
            _ => {
                map.insert(key.clone(), value.clone());
            }
        }
    }
    for key in &changes.remove {
        if map.remove(key).is_none() {
            bail!("{key:?} not found");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn resources_come_before_the_changes() {
        let (resources, changes) = split(
            Field::Labels,
            &args(&["nodes", "n1", "n2", "disk=ssd", "old-"]),
        )
        .unwrap();
        assert_eq!(resources, ["nodes", "n1", "n2"]);
        assert_eq!(changes.set, BTreeMap::from([("disk".into(), "ssd".into())]));
        assert_eq!(changes.remove, ["old"]);
        let (resources, _) = split(Field::Annotations, &args(&["pod/web", "note=a b"])).unwrap();
        assert_eq!(resources, ["pod/web"]);
    }

    #[test]
    fn bad_changes_say_what_is_wrong() {
        let message = |field, list: &[&str]| split(field, &args(list)).unwrap_err().to_string();
        assert_eq!(
            message(Field::Labels, &["nodes", "n1"]),
            "at least one label update is required: KEY=VALUE or KEY-"
        );
        assert!(
            message(Field::Labels, &["nodes", "n1", "disk=fast ssd"])
                .starts_with("invalid label value \"disk=fast ssd\": ")
        );
        assert!(
            message(Field::Annotations, &["nodes", "n1", "bad key=x"])
                .starts_with("invalid annotation key \"bad key\": ")
        );
        assert_eq!(
            message(Field::Labels, &["nodes", "n1", "a=1", "n2"]),
            "\"n2\" is not KEY=VALUE or KEY-: resources go before the changes"
        );
        assert_eq!(
            message(Field::Labels, &["nodes", "n1", "a=1", "a-"]),
            "can not both modify and remove the key \"a\" in the same command"
        );
        // Annotation values may hold anything.
        assert!(
            split(
                Field::Annotations,
                &args(&["nodes", "n1", "note=fast ssd!"])
            )
            .is_ok()
        );
    }

    #[test]
    fn values_are_replaced_only_with_overwrite() {
        let mut map = BTreeMap::from([("disk".to_string(), "hdd".to_string())]);
        let (_, change) = split(Field::Labels, &args(&["no", "n1", "disk=ssd"])).unwrap();
        assert_eq!(
            apply(&mut map, &change, false).unwrap_err().to_string(),
            "\"disk\" already has a value (hdd), and --overwrite is false"
        );
        apply(&mut map, &change, true).unwrap();
        assert_eq!(map["disk"], "ssd");
        // Setting the value it has is no change, and needs no --overwrite.
        apply(&mut map, &change, false).unwrap();
        let (_, removal) = split(Field::Labels, &args(&["no", "n1", "disk-"])).unwrap();
        apply(&mut map, &removal, false).unwrap();
        assert!(map.is_empty());
        assert_eq!(
            apply(&mut map, &removal, false).unwrap_err().to_string(),
            "\"disk\" not found"
        );
    }
}
