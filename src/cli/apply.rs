//! `flotilla apply -f`: creates or updates every object the manifests describe. Each document
//! stands alone: a broken one is reported (file:line:column or field path) and the rest are
//! still applied. Namespaces and Nodes go first so that the objects placed in or on them
//! find them already there.

use std::process::ExitCode;

use flotilla_kernel::api::ApiClient;
use flotilla_kernel::object::{Kind, Object};

use super::{exit_code, manifest_files, resource_arg, terminal};

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// A manifest file, a directory of them (its .yaml, .yml and .json files), or `-` for
    /// standard input; repeatable.
    #[arg(short = 'f', long = "filename", value_name = "FILE", required = true)]
    files: Vec<String>,
    /// The namespace for objects whose manifest names none (default: "default").
    #[arg(short, long)]
    namespace: Option<String>,
}

/// The manifests hold nothing to apply.
#[derive(Debug, thiserror::Error)]
#[error("no objects passed to apply")]
pub struct NothingToApply;

pub async fn run(args: ApplyArgs, api: &ApiClient) -> anyhow::Result<ExitCode> {
    let sources = manifest_files::read_sources(&args.files)?;
    let mut failed = false;
    let mut objects = Vec::new();
    for document in manifest_files::objects(&sources, args.namespace.as_deref()) {
        match document {
            Ok(object) => objects.push(object),
            Err(error) => {
                failed = true;
                terminal::print_error(&error.into())?;
            }
        }
    }
    if objects.is_empty() && !failed {
        return Err(NothingToApply.into());
    }
    for object in in_apply_order(objects) {
        match api.apply(&object).await {
            Ok((applied, outcome)) => terminal::print_line(format!(
                "{}/{} {}",
                resource_arg::type_name(applied.kind()),
                applied.meta().name,
                outcome.as_str()
            ))?,
            Err(error) => {
                failed = true;
                terminal::print_error(&error.into())?;
            }
        }
    }
    Ok(exit_code(failed))
}

/// Namespaces first, then Nodes and RuntimeClasses (which pods name), then everything else,
/// each in manifest order.
fn in_apply_order(mut objects: Vec<Object>) -> Vec<Object> {
    objects.sort_by_key(|object| match object.kind() {
        Kind::Namespace => 0,
        Kind::Node | Kind::RuntimeClass | Kind::PriorityClass => 1,
        _ => 2,
    });
    objects
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{Deployment, Namespace, Node, Pod, RuntimeClass};

    use super::*;

    fn named<T: Default>(name: &str, into: fn(T) -> Object) -> Object {
        let mut object = into(T::default());
        object.meta_mut().name = name.to_string();
        object
    }

    #[test]
    fn namespaces_nodes_and_runtime_classes_go_first_and_order_is_kept_otherwise() {
        let objects = vec![
            named::<Pod>("p1", Object::Pod),
            named::<Node>("n1", Object::Node),
            named::<Deployment>("d1", Object::Deployment),
            named::<Namespace>("ns1", Object::Namespace),
            named::<Pod>("p2", Object::Pod),
            named::<RuntimeClass>("rc1", Object::RuntimeClass),
            named::<Namespace>("ns2", Object::Namespace),
        ];
        let names: Vec<String> = in_apply_order(objects)
            .iter()
            .map(|object| object.meta().name.clone())
            .collect();
        assert_eq!(names, ["ns1", "ns2", "n1", "rc1", "p1", "d1", "p2"]);
    }
}
