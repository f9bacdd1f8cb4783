//! `flotilla get KIND --watch`: the current objects of one kind, then each change as it
//! happens, one line per event (`ADDED pod/web-1`; with `-A` the namespace first), or with
//! `-o json` one `{"type": ..., "object": ...}` document per line, like kubectl's
//! `--output-watch-events`. The watch outlives a restart of the API server: it resumes after
//! the last change it printed, so nothing is printed twice or missed.

use std::process::ExitCode;

use serde_json::{Value, json};

use flotilla_kernel::api::{ApiClient, EventType, WatchEvent};
use flotilla_kernel::object::{Kind, Selector};

use super::super::printers::{self, OutputFormat};
use super::super::resource_arg::Target;
use super::super::{lookup, namespace, terminal};
use super::{GetArgs, GetError};

pub async fn run(targets: &[Target], args: &GetArgs, api: &ApiClient) -> anyhow::Result<ExitCode> {
    let [target] = targets else {
        return Err(GetError::WatchOneKind.into());
    };
    let selector = args.selector.as_deref().map(Selector::parse).transpose()?;
    let kind = target.kind;
    let namespace = namespace::for_kind(kind, args.namespace.as_deref());
    let scope = (kind.namespaced() && !args.all_namespaces).then_some(namespace);
    let mut events = api.watch_raw(kind, scope, 0).await?;
    while let Some(event) = events.recv().await {
        let event = event?;
        let object = lookup::decode(&event.object)?;
        let meta = object.meta();
        let named = target.names.is_empty() || target.names.contains(&meta.name);
        let selected = selector.as_ref().is_none_or(|s| s.matches(&meta.labels));
        if named && selected {
            let shown_namespace =
                (kind.namespaced() && args.all_namespaces).then_some(&*meta.namespace);
            print_event(&event, kind, &meta.name, shown_namespace, args.output)?;
        }
    }
    // The server ended the watch (it is shutting down for good, or restarting its API).
    Ok(ExitCode::SUCCESS)
}

fn print_event(
    event: &WatchEvent,
    kind: Kind,
    name: &str,
    namespace: Option<&str>,
    output: Option<OutputFormat>,
) -> anyhow::Result<()> {
    let word = event_word(event.event);
    match output {
        Some(format @ (OutputFormat::Json | OutputFormat::Yaml)) => {
            let object: Value = serde_json::from_slice(&event.object.0).map_err(GetError::Json)?;
            let document = json!({ "type": word, "object": object });
            if format == OutputFormat::Json {
                terminal::print_line(document.to_string())?;
            } else {
                terminal::print(&format!("---\n{}", printers::yaml(&document)?))?;
            }
        }
        None | Some(OutputFormat::Wide | OutputFormat::Name) => {
            let name = printers::name(kind, name);
            let line = match namespace {
                Some(namespace) => format!("{word} {namespace} {name}"),
                None => format!("{word} {name}"),
            };
            terminal::print_line(line)?;
        }
    }
    Ok(())
}

/// The event as kubectl names it.
fn event_word(event: EventType) -> &'static str {
    match event {
        EventType::Added => "ADDED",
        EventType::Modified => "MODIFIED",
        EventType::Deleted => "DELETED",
    }
}
