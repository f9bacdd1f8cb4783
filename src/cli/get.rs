//! `flotilla get`: objects of one or more kinds as a table (kubectl's columns), JSON, YAML or
//! names. Objects are fetched as the API server's JSON and printed from it, so `-o json` and
//! `-o yaml` show every field even ones this build does not know; only tables read them
//! typed. Missing names are reported one by one while the others are still shown. With
//! `--watch`, changes follow (see [`watch`]).

use std::process::ExitCode;
use std::time::SystemTime;

use serde_json::Value;

use flotilla_kernel::api::{ApiClient, RawObject};
use flotilla_kernel::object::{Kind, Object, Selector};

use super::printers::{self, OutputFormat};
use super::resource_arg::{self, Target};
use super::table::Table;
use super::{columns, exit_code, lookup, namespace, terminal};

mod watch;

#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// KIND[,KIND...] [NAME...] or KIND/NAME... (kinds: pods/po, deployments/deploy, replicasets/rs,
    /// nodes/no, namespaces/ns).
    #[arg(required = true, value_name = "RESOURCE")]
    resources: Vec<String>,
    /// The namespace to look in (default: "default").
    #[arg(short, long)]
    namespace: Option<String>,
    /// List across all namespaces.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Only objects whose labels match, e.g. `app=web,tier!=db`.
    #[arg(short = 'l', long)]
    selector: Option<String>,
    /// Output format (default: a table).
    #[arg(short, long, value_enum)]
    output: Option<OutputFormat>,
    /// Print the current objects, then every change as it happens, one event per line (one
    /// kind only).
    #[arg(short, long)]
    watch: bool,
}

/// The arguments ask for something `get` cannot do.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    #[error("a resource cannot be retrieved by name across all namespaces")]
    NameAcrossNamespaces,
    #[error("a label selector (-l) cannot be combined with resource names")]
    SelectorWithNames,
    #[error("reading the object the API server returned")]
    Json(#[source] serde_json::Error),
    #[error("--watch follows one kind at a time")]
    WatchOneKind,
}

/// What was fetched for one target.
struct Fetched {
    kind: Kind,
    objects: Vec<RawObject>,
    /// All objects of the kind were listed (rather than named).
    listed: bool,
}

pub async fn run(args: GetArgs, api: &ApiClient) -> anyhow::Result<ExitCode> {
    let targets = resource_arg::parse_targets(&args.resources)?;
    let named = targets.iter().any(|target| !target.names.is_empty());
    if named && args.all_namespaces {
        return Err(GetError::NameAcrossNamespaces.into());
    }
    if named && args.selector.is_some() {
        return Err(GetError::SelectorWithNames.into());
    }
    if let Some(selector) = &args.selector {
        Selector::parse(selector)?;
    }
    if args.watch {
        return watch::run(&targets, &args, api).await;
    }
    let mut failed = false;
    let mut fetched = Vec::new();
    for target in &targets {
        let (result, missing) = fetch(api, target, &args).await?;
        failed |= missing;
        fetched.push(result);
    }
    let namespace = args.namespace.as_deref();
    match args.output {
        None | Some(OutputFormat::Wide) => {
            let wide = args.output == Some(OutputFormat::Wide);
            print_tables(&fetched, namespace, args.all_namespaces, wide)?;
        }
        Some(OutputFormat::Name) => {
            announce_empty(&fetched, namespace, args.all_namespaces)?;
            for group in &fetched {
                for raw in &group.objects {
                    let object = lookup::decode(raw)?;
                    terminal::print_line(printers::name(group.kind, &object.meta().name))?;
                }
            }
        }
        Some(format @ (OutputFormat::Json | OutputFormat::Yaml)) => {
            let names: usize = targets.iter().map(|target| target.names.len()).sum();
            let as_list = names != 1 || fetched.iter().any(|group| group.listed);
            print_documents(&fetched, as_list, format)?;
        }
    }
    Ok(exit_code(failed))
}

/// The objects as JSON or YAML: one object as itself, several (or a listing) as a `List`.
fn print_documents(fetched: &[Fetched], as_list: bool, format: OutputFormat) -> anyhow::Result<()> {
    let items = fetched
        .iter()
        .flat_map(|group| &group.objects)
        .map(|raw| serde_json::from_slice::<Value>(&raw.0))
        .collect::<Result<Vec<_>, _>>()
        .map_err(GetError::Json)?;
    if items.is_empty() && !as_list {
        return Ok(());
    }
    let document = printers::document(items, as_list);
    let text = match format {
        OutputFormat::Yaml => printers::yaml(&document)?,
        _ => printers::json(&document)?,
    };
    terminal::print(&text)?;
    Ok(())
}

/// Lists the target's kind or gets each of its names; a name that cannot be had is reported
/// at once and makes the second value true.
async fn fetch(
    api: &ApiClient,
    target: &Target,
    args: &GetArgs,
) -> anyhow::Result<(Fetched, bool)> {
    let kind = target.kind;
    let namespace = namespace::for_kind(kind, args.namespace.as_deref());
    if target.names.is_empty() {
        let scope = (kind.namespaced() && !args.all_namespaces).then_some(namespace);
        let (objects, _revision) = api.list_raw(kind, scope, args.selector.as_deref()).await?;
        let fetched = Fetched {
            kind,
            objects,
            listed: true,
        };
        return Ok((fetched, false));
    }
    let mut objects = Vec::new();
    let mut missing = false;
    for name in &target.names {
        match lookup::get_raw(api, kind, namespace, name).await {
            Ok(raw) => objects.push(raw),
            Err(error) => {
                missing = true;
                terminal::print_error(&error.into())?;
            }
        }
    }
    let fetched = Fetched {
        kind,
        objects,
        listed: false,
    };
    Ok((fetched, missing))
}

fn print_tables(
    fetched: &[Fetched],
    namespace: Option<&str>,
    all_namespaces: bool,
    wide: bool,
) -> anyhow::Result<()> {
    announce_empty(fetched, namespace, all_namespaces)?;
    let mut groups = Vec::new();
    for group in fetched.iter().filter(|group| !group.objects.is_empty()) {
        let objects = group
            .objects
            .iter()
            .map(lookup::decode)
            .collect::<Result<Vec<_>, _>>()?;
        groups.push((group.kind, objects));
    }
    let layout = Layout {
        all_namespaces,
        wide,
        prefix_kind: fetched.len() > 1,
    };
    terminal::print(&render_tables(&groups, layout, SystemTime::now()))?;
    Ok(())
}

/// Says "No resources found" on standard error for each listed kind that has no objects.
fn announce_empty(
    fetched: &[Fetched],
    namespace: Option<&str>,
    all_namespaces: bool,
) -> std::io::Result<()> {
    for group in fetched
        .iter()
        .filter(|group| group.listed && group.objects.is_empty())
    {
        if group.kind.namespaced() && !all_namespaces {
            let namespace = namespace::chosen(namespace);
            terminal::notice(format!("No resources found in {namespace} namespace."))?;
        } else {
            terminal::notice("No resources found")?;
        }
    }
    Ok(())
}

/// How tables are laid out.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// Objects come from every namespace: a NAMESPACE column first (namespaced kinds).
    all_namespaces: bool,
    /// `-o wide`'s extra columns.
    wide: bool,
    /// Several kinds are shown: names read `kind/name`, as kubectl does.
    prefix_kind: bool,
}

/// One table per kind, separated by a blank line.
fn render_tables(groups: &[(Kind, Vec<Object>)], layout: Layout, now: SystemTime) -> String {
    let tables: Vec<String> = groups
        .iter()
        .map(|(kind, objects)| render_table(*kind, objects, layout, now))
        .collect();
    tables.join("\n")
}

fn render_table(kind: Kind, objects: &[Object], layout: Layout, now: SystemTime) -> String {
    let with_namespace = layout.all_namespaces && kind.namespaced();
    let mut headers = columns::headers(kind, layout.wide);
    if with_namespace {
        headers.insert(0, "NAMESPACE");
    }
    let mut table = Table::new(headers);
    for object in objects {
        let mut cells = columns::cells(object, now, layout.wide);
        if layout.prefix_kind
            && let Some(name) = cells.first_mut()
        {
            *name = printers::name(kind, name);
        }
        if with_namespace {
            cells.insert(0, object.meta().namespace.clone());
        }
        table.push(cells);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use flotilla_kernel::object::{Deployment, Namespace, ObjectMeta, Pod, Time};

    use super::*;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000)
    }

    fn meta(namespace: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: name.to_string(),
            namespace: namespace.to_string(),
            creation_timestamp: Some(Time::from(now() - Duration::from_secs(300))),
            ..ObjectMeta::default()
        }
    }

    fn pod(namespace: &str, name: &str) -> Object {
        Object::Pod(Pod {
            metadata: meta(namespace, name),
            ..Pod::default()
        })
    }

    const PLAIN: Layout = Layout {
        all_namespaces: false,
        wide: false,
        prefix_kind: false,
    };

    #[test]
    fn a_plain_pod_table() {
        let groups = vec![(
            Kind::Pod,
            vec![pod("default", "web-1"), pod("default", "db")],
        )];
        assert_eq!(
            render_tables(&groups, PLAIN, now()),
            "NAME    READY   STATUS    RESTARTS   AGE\n\
             web-1   0/0     Pending   0          5m\n\
             db      0/0     Pending   0          5m\n"
        );
    }

    #[test]
    fn all_namespaces_adds_a_namespace_column_to_namespaced_kinds_only() {
        let layout = Layout {
            all_namespaces: true,
            ..PLAIN
        };
        let groups = vec![
            (Kind::Pod, vec![pod("prod", "web-1")]),
            (
                Kind::Namespace,
                vec![Object::Namespace(Namespace {
                    metadata: meta("", "prod"),
                    ..Namespace::default()
                })],
            ),
        ];
        assert_eq!(
            render_tables(&groups, layout, now()),
            "NAMESPACE   NAME    READY   STATUS    RESTARTS   AGE\n\
             prod        web-1   0/0     Pending   0          5m\n\
             \n\
             NAME   STATUS   AGE\n\
             prod   Active   5m\n"
        );
    }

    #[test]
    fn several_kinds_prefix_names_with_their_kind() {
        let layout = Layout {
            prefix_kind: true,
            ..PLAIN
        };
        let mut deployment = Deployment {
            metadata: meta("default", "web"),
            ..Deployment::default()
        };
        deployment.spec.replicas = Some(2);
        let groups = vec![
            (Kind::Deployment, vec![Object::Deployment(deployment)]),
            (Kind::Pod, vec![pod("default", "web-1")]),
        ];
        let text = render_tables(&groups, layout, now());
        assert!(
            text.starts_with(
                "NAME                  READY   UP-TO-DATE   AVAILABLE   AGE\n\
                 deployment.apps/web   0/2     0            0           5m\n\n"
            ),
            "{text}"
        );
        assert!(text.contains("\npod/web-1   0/0"), "{text}");
    }
}
