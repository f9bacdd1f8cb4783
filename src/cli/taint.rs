//! `flotilla taint nodes NODE key[=value]:Effect ... | key[:Effect]-`: add, replace and remove
//! a node's taints, as `kubectl taint`. The specs are parsed and applied to the node's taints
//! by pure functions; the driver reads the node, applies them and writes it back, reading
//! again after a Conflict (the agent updates the node too).

use std::process::ExitCode;

use anyhow::{Context, bail};
use flotilla_kernel::api::{ApiClient, ErrorCode};
use flotilla_kernel::object::{Node, Taint, TaintEffect};

use super::terminal;

/// How often a write that met a Conflict is tried in all.
const MAX_ATTEMPTS: u32 = 5;

#[derive(Debug, clap::Args)]
pub struct TaintArgs {
    /// `nodes` (or `node`, `no`): the only kind with taints.
    resource: String,
    /// The node.
    node: String,
    /// `key=value:Effect` or `key:Effect` adds a taint (Effect: NoSchedule, PreferNoSchedule or
    /// NoExecute); `key:Effect-` removes it; `key-` removes every taint with that key.
    #[arg(required = true, value_name = "TAINT")]
    specs: Vec<String>,
    /// Replace a taint with the same key and effect rather than refuse.
    #[arg(long)]
    overwrite: bool,
}

/// One change a spec asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Add(Taint),
    /// Remove the taints with this key (and this effect, if given).
    Remove {
        key: String,
        effect: Option<TaintEffect>,
    },
}

pub async fn run(args: TaintArgs, api: &ApiClient) -> anyhow::Result<ExitCode> {
    if !matches!(args.resource.as_str(), "nodes" | "node" | "no") {
        bail!(
            "taint: resource type {:?} cannot be tainted: only nodes have taints",
            args.resource
        );
    }
    let changes = args
        .specs
        .iter()
        .map(|spec| parse(spec))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let node = &args.node;
    let mut attempt = 1;
    loop {
        let mut current: Node = api
            .get("", node)
            .await
            .with_context(|| format!("reading node {node:?}"))?;
        apply(&mut current.spec.taints, &changes, args.overwrite)?;
        match api.update(&current).await {
            Ok(_) => break,
            Err(error)
                if error.api_code() == Some(ErrorCode::Conflict) && attempt < MAX_ATTEMPTS =>
            {
                attempt += 1;
            }
            Err(error) => {
                return Err(error).with_context(|| format!("updating node {node:?}"));
            }
        }
    }
    let adds = changes
        .iter()
        .any(|change| matches!(change, Change::Add(_)));
    let verb = if adds { "tainted" } else { "untainted" };
    terminal::print_line(format!("node/{node} {verb}"))?;
    Ok(ExitCode::SUCCESS)
}

/// Reads one spec: `key=value:Effect`, `key:Effect`, `key=value:Effect-`, `key:Effect-`, `key-`.
fn parse(spec: &str) -> anyhow::Result<Change> {
    if let Some(removal) = spec.strip_suffix('-') {
        let (key, effect) = match removal.split_once(':') {
            Some((key_value, effect)) => (key_value, Some(effect_named(effect, spec)?)),
            None => (removal, None),
        };
        let key = key.split_once('=').map_or(key, |(key, _)| key);
        if key.is_empty() {
            bail!("invalid taint spec {spec:?}: the key is empty");
        }
        return Ok(Change::Remove {
            key: key.to_string(),
            effect,
        });
    }
    let Some((key_value, effect)) = spec.split_once(':') else {
        bail!(
            "invalid taint spec {spec:?}: a taint to add needs an effect, as in {spec}:NoSchedule"
        );
    };
    let (key, value) = key_value.split_once('=').unwrap_or((key_value, ""));
    if key.is_empty() {
        bail!("invalid taint spec {spec:?}: the key is empty");
    }
    Ok(Change::Add(Taint {
        key: key.to_string(),
        value: value.to_string(),
        effect: effect_named(effect, spec)?,
    }))
}

fn effect_named(name: &str, spec: &str) -> anyhow::Result<TaintEffect> {
    match name {
        "NoSchedule" => Ok(TaintEffect::NoSchedule),
        "PreferNoSchedule" => Ok(TaintEffect::PreferNoSchedule),
        "NoExecute" => Ok(TaintEffect::NoExecute),
        _ => bail!(
            "invalid taint spec {spec:?}: unsupported taint effect {name:?}; supported: {}",
            TaintEffect::NAMES.join(", ")
        ),
    }
}

/// Applies `changes` to `taints` in order; a taint of the same key and effect as one added
/// is refused unless `overwrite`, and a removal that matches nothing is refused.
fn apply(taints: &mut Vec<Taint>, changes: &[Change], overwrite: bool) -> anyhow::Result<()> {
    for change in changes {
        match change {
            Change::Add(taint) => {
                let same = taints
                    .iter()
                    .position(|t| t.key == taint.key && t.effect == taint.effect);
                match same {
                    Some(index) if overwrite => taints[index] = taint.clone(),
                    Some(_) => bail!(
                        "node already has a {:?} taint with effect {} and --overwrite is false",
                        taint.key,
                        taint.effect.as_str()
                    ),
                    None => taints.push(taint.clone()),
                }
            }
            Change::Remove { key, effect } => {
                let before = taints.len();
                taints.retain(|t| &t.key != key || effect.is_some_and(|e| e != t.effect));
                if taints.len() == before {
                    let named = match effect {
                        Some(effect) => format!("{key}:{}", effect.as_str()),
                        None => key.clone(),
                    };
                    bail!("taint {named:?} not found");
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.into(),
            value: value.into(),
            effect,
        }
    }

    #[test]
    fn specs_read_as_kubectl_writes_them() {
        assert_eq!(
            parse("dedicated=gpu:NoSchedule").unwrap(),
            Change::Add(taint("dedicated", "gpu", TaintEffect::NoSchedule))
        );
        assert_eq!(
            parse("maintenance:PreferNoSchedule").unwrap(),
            Change::Add(taint("maintenance", "", TaintEffect::PreferNoSchedule))
        );
        assert_eq!(
            parse("dedicated=gpu:NoExecute-").unwrap(),
            Change::Remove {
                key: "dedicated".into(),
                effect: Some(TaintEffect::NoExecute)
            }
        );
        assert_eq!(
            parse("dedicated-").unwrap(),
            Change::Remove {
                key: "dedicated".into(),
                effect: None
            }
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let message = |spec| parse(spec).unwrap_err().to_string();
        assert_eq!(
            message("dedicated=gpu"),
            "invalid taint spec \"dedicated=gpu\": a taint to add needs an effect, as in \
             dedicated=gpu:NoSchedule"
        );
        assert_eq!(
            message("dedicated=gpu:Never"),
            "invalid taint spec \"dedicated=gpu:Never\": unsupported taint effect \"Never\"; \
             supported: NoSchedule, PreferNoSchedule, NoExecute"
        );
        assert_eq!(
            message("=x:NoSchedule"),
            "invalid taint spec \"=x:NoSchedule\": the key is empty"
        );
        assert_eq!(message("-"), "invalid taint spec \"-\": the key is empty");
    }

    #[test]
    fn adding_removing_and_overwriting() {
        let mut taints = vec![taint("a", "1", TaintEffect::NoSchedule)];
        let add_b = parse("b=2:NoExecute").unwrap();
        apply(&mut taints, &[add_b], false).unwrap();
        assert_eq!(taints.len(), 2);
        let same_key_effect = parse("b=3:NoExecute").unwrap();
        assert_eq!(
            apply(&mut taints, std::slice::from_ref(&same_key_effect), false)
                .unwrap_err()
                .to_string(),
            "node already has a \"b\" taint with effect NoExecute and --overwrite is false"
        );
        apply(&mut taints, &[same_key_effect], true).unwrap();
        assert_eq!(taints[1], taint("b", "3", TaintEffect::NoExecute));
        apply(
            &mut taints,
            &[parse("b=3:PreferNoSchedule").unwrap()],
            false,
        )
        .unwrap();
        apply(&mut taints, &[parse("b:NoExecute-").unwrap()], false).unwrap();
        assert_eq!(
            taints,
            [
                taint("a", "1", TaintEffect::NoSchedule),
                taint("b", "3", TaintEffect::PreferNoSchedule)
            ]
        );
        apply(
            &mut taints,
            &[parse("b-").unwrap(), parse("a-").unwrap()],
            false,
        )
        .unwrap();
        assert!(taints.is_empty());
        assert_eq!(
            apply(&mut taints, &[parse("a:NoSchedule-").unwrap()], false)
                .unwrap_err()
                .to_string(),
            "taint \"a:NoSchedule\" not found"
        );
    }
}
