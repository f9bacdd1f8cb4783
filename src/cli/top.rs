//! `flotilla top pod|node`: the CPU and memory pods and nodes use now, as `kubectl top` shows
//! them — CPU in millicores (`250m`), memory in whole mebibytes (`34Mi`), and for nodes the
//! share of what they offer to pods. There is no metrics server: the API server asks each
//! node's agent, which reads its cgroups and procfs. A node that cannot be asked is reported
//! on standard error (the exit code is then 1) and the others are shown.

use std::process::ExitCode;

use flotilla_kernel::api::{
    ApiClient, ClientError, NodeMetrics, PodMetrics, Request, ResourceUsage, Response, TopReport,
};
use flotilla_kernel::object::Kind;

use super::{Table, exit_code, lookup, namespace, resource_arg, terminal};

#[derive(Debug, clap::Args)]
pub struct TopArgs {
    #[command(subcommand)]
    what: TopCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TopCommand {
    /// The CPU and memory pods use.
    #[command(visible_alias = "pods", alias = "po")]
    Pod(PodArgs),
    /// The CPU and memory nodes use, and their shares of what each node offers to pods.
    #[command(visible_alias = "nodes", alias = "no")]
    Node(NodeArgs),
}

#[derive(Debug, clap::Args)]
struct PodArgs {
    /// Only this pod: NAME or pod/NAME.
    name: Option<String>,
    /// The pods' namespace (default: "default").
    #[arg(short, long)]
    namespace: Option<String>,
    /// The pods of every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// One row per container.
    #[arg(long)]
    containers: bool,
}

#[derive(Debug, clap::Args)]
struct NodeArgs {
    /// Only this node: NAME or node/NAME.
    name: Option<String>,
}

/// The arguments ask for something `top` cannot do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopError {
    #[error("a resource cannot be retrieved by name across all namespaces")]
    NameAcrossNamespaces,
    #[error("{kind} \"{name}\" is not a {wanted}")]
    WrongKind {
        wanted: &'static str,
        kind: String,
        name: String,
    },
}

pub async fn run(args: TopArgs, api: &ApiClient) -> anyhow::Result<ExitCode> {
    match args.what {
        TopCommand::Pod(args) => pods(args, api).await,
        TopCommand::Node(args) => nodes(args, api).await,
    }
}

async fn pods(args: PodArgs, api: &ApiClient) -> anyhow::Result<ExitCode> {
    let name = args
        .name
        .as_deref()
        .map(|arg| name_of(Kind::Pod, arg))
        .transpose()?;
    if name.is_some() && args.all_namespaces {
        return Err(TopError::NameAcrossNamespaces.into());
    }
    let namespace = namespace::chosen(args.namespace.as_deref()).to_string();
    let request = Request::Top {
        kind: Kind::Pod,
        namespace: (!args.all_namespaces).then(|| namespace.clone()),
        name: name.clone(),
    };
    let report = top(api, request, Kind::Pod, name.as_deref()).await?;
    if report.pods.is_empty() && report.unavailable.is_empty() {
        if args.all_namespaces {
            terminal::notice("No resources found")?;
        } else {
            terminal::notice(format!("No resources found in {namespace} namespace."))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !report.pods.is_empty() {
        let table = pod_table(&report.pods, args.all_namespaces, args.containers);
        terminal::print(&table.render())?;
    }
    unavailable(&report)
}

async fn nodes(args: NodeArgs, api: &ApiClient) -> anyhow::Result<ExitCode> {
    let name = args
        .name
        .as_deref()
        .map(|arg| name_of(Kind::Node, arg))
        .transpose()?;
    let request = Request::Top {
        kind: Kind::Node,
        namespace: None,
        name: name.clone(),
    };
    let report = top(api, request, Kind::Node, name.as_deref()).await?;
    if report.nodes.is_empty() {
        terminal::notice("No resources found")?;
    } else {
        terminal::print(&node_table(&report.nodes).render())?;
    }
    unavailable(&report)
}

/// The name in `NAME` or `KIND/NAME`, which must name a `kind`.
fn name_of(kind: Kind, arg: &str) -> anyhow::Result<String> {
    if !arg.contains('/') {
        return Ok(arg.to_string());
    }
    match resource_arg::parse_kind_name(arg)? {
        (named, name) if named == kind => Ok(name),
        (named, name) => Err(TopError::WrongKind {
            wanted: if kind == Kind::Node { "node" } else { "pod" },
            kind: resource_arg::resource_name(named),
            name,
        }
        .into()),
    }
}

async fn top(
    api: &ApiClient,
    request: Request,
    kind: Kind,
    name: Option<&str>,
) -> Result<TopReport, ClientError> {
    match api.call(request).await {
        Ok(Response::Top(report)) => Ok(report),
        Ok(other) => Err(ClientError::Unexpected {
            call: "top",
            got: other.kind_name(),
        }),
        Err(error) => Err(match name {
            Some(name) => lookup::worded(error, kind, name),
            None => error,
        }),
    }
}

/// Says on standard error why some pods or nodes could not be measured.
fn unavailable(report: &TopReport) -> anyhow::Result<ExitCode> {
    for message in &report.unavailable {
        terminal::notice(format!("error: {message}"))?;
    }
    Ok(exit_code(!report.unavailable.is_empty()))
}

/// `NAME CPU(cores) MEMORY(bytes)` per pod, or `POD NAME ...` per container, after a
/// NAMESPACE column across all namespaces.
fn pod_table(pods: &[PodMetrics], all_namespaces: bool, containers: bool) -> Table {
    let mut headers = Vec::new();
    if all_namespaces {
        headers.push("NAMESPACE");
    }
    if containers {
        headers.push("POD");
    }
    headers.extend(["NAME", "CPU(cores)", "MEMORY(bytes)"]);
    let mut table = Table::new(headers);
    for pod in pods {
        let rows: Vec<(Option<&str>, ResourceUsage)> = if containers {
            pod.containers
                .iter()
                .map(|c| (Some(c.name.as_str()), c.usage))
                .collect()
        } else {
            vec![(None, pod.total())]
        };
        for (container, usage) in rows {
            let mut row = Vec::new();
            if all_namespaces {
                row.push(pod.namespace.clone());
            }
            row.push(pod.name.clone());
            row.extend(container.map(str::to_string));
            row.extend([cpu(usage.cpu_millis), memory(usage.memory_bytes)]);
            table.push(row);
        }
    }
    table
}

/// `NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)` per node, the shares of its allocatable
/// amounts; `<unknown>` where its agent could not be asked.
fn node_table(nodes: &[NodeMetrics]) -> Table {
    let mut table = Table::new(["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]);
    for node in nodes {
        let cells = match node.usage {
            Some(usage) => [
                cpu(usage.cpu_millis),
                percent(usage.cpu_millis, node.allocatable.cpu_millis),
                memory(usage.memory_bytes),
                percent(usage.memory_bytes, node.allocatable.memory_bytes),
            ],
            None => std::array::from_fn(|_| UNKNOWN.to_string()),
        };
        let mut row = vec![node.name.clone()];
        row.extend(cells);
        table.push(row);
    }
    table
}

const UNKNOWN: &str = "<unknown>";

/// Millicores as kubectl top prints them: `5m`, `1250m`.
fn cpu(millis: u64) -> String {
    format!("{millis}m")
}

/// Bytes in whole mebibytes, rounded down, as kubectl top prints them: `34Mi`.
fn memory(bytes: u64) -> String {
    format!("{}Mi", bytes >> 20)
}

/// `part` as a whole percent of `whole`, rounded down; `<unknown>` without a whole.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return UNKNOWN.to_string();
    }
    format!("{}%", u128::from(part) * 100 / u128::from(whole))
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::api::ContainerMetrics;

    use super::*;

    fn usage(cpu_millis: u64, memory_mib: u64) -> ResourceUsage {
        ResourceUsage {
            cpu_millis,
            memory_bytes: memory_mib << 20,
        }
    }

    fn pods() -> Vec<PodMetrics> {
        let container = |name: &str, usage| ContainerMetrics {
            name: name.to_string(),
            usage,
        };
        vec![
            PodMetrics {
                namespace: "default".into(),
                name: "web-7d4b9c-x2x8q".into(),
                containers: vec![
                    container("app", usage(250, 64)),
                    container("proxy", usage(3, 12)),
                ],
            },
            PodMetrics {
                namespace: "prod".into(),
                name: "db-0".into(),
                containers: vec![container("main", usage(1005, 1536))],
            },
        ]
    }

    #[test]
    fn quantities_read_like_kubectl_top() {
        assert_eq!(cpu(0), "0m");
        assert_eq!(cpu(12), "12m");
        assert_eq!(cpu(2000), "2000m");
        assert_eq!(memory(0), "0Mi");
        assert_eq!(memory(34 << 20), "34Mi");
        assert_eq!(memory((1 << 20) - 1), "0Mi");
        assert_eq!(memory(3 << 30), "3072Mi");
        assert_eq!(percent(1750, 3500), "50%");
        assert_eq!(percent(1, 3), "33%");
        assert_eq!(percent(5, 0), "<unknown>");
    }

    #[test]
    fn pods_show_their_totals() {
        assert_eq!(
            pod_table(&pods(), false, false).render(),
            "NAME               CPU(cores)   MEMORY(bytes)\n\
             web-7d4b9c-x2x8q   253m         76Mi\n\
             db-0               1005m        1536Mi\n"
        );
    }

    #[test]
    fn containers_get_a_row_each_and_all_namespaces_a_column() {
        assert_eq!(
            pod_table(&pods(), true, true).render(),
            "NAMESPACE   POD                NAME    CPU(cores)   MEMORY(bytes)\n\
             default     web-7d4b9c-x2x8q   app     250m         64Mi\n\
             default     web-7d4b9c-x2x8q   proxy   3m           12Mi\n\
             prod        db-0               main    1005m        1536Mi\n"
        );
    }

    #[test]
    fn nodes_show_shares_and_unknowns() {
        let nodes = [
            NodeMetrics {
                name: "n1".into(),
                usage: Some(usage(875, 2048)),
                allocatable: usage(3500, 8192),
            },
            NodeMetrics {
                name: "n2".into(),
                usage: None,
                allocatable: usage(2000, 4096),
            },
        ];
        assert_eq!(
            node_table(&nodes).render(),
            "NAME   CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)\n\
             n1     875m         25%         2048Mi          25%\n\
             n2     <unknown>    <unknown>   <unknown>       <unknown>\n"
        );
    }

    #[test]
    fn names_may_carry_their_kind() {
        assert_eq!(name_of(Kind::Pod, "web").unwrap(), "web");
        assert_eq!(name_of(Kind::Pod, "po/web").unwrap(), "web");
        assert_eq!(name_of(Kind::Node, "node/n1").unwrap(), "n1");
        let error = name_of(Kind::Node, "pod/web").unwrap_err();
        assert_eq!(error.to_string(), "pods \"web\" is not a node");
    }
}
