//! Serves one API request: authorization, then the verb's logic over [`stored`]. Unary verbs
//! answer once; watch and followed logs keep answering until the caller goes away.

use std::sync::Arc;

use tokio::sync::mpsc;

use flotilla_kernel::api::{
    ApiCall, ApiError, ErrorCode, Input, NodeAnswers, NodeLinks, NodeRequest, Outcome, RawObject,
    Request, Response, TerminalSize,
};
use flotilla_kernel::object::{
    ConditionStatus, Kind, NODE_LEASE_NAMESPACE, Namespace, Object, ObjectMeta, Pod, PodCondition,
    Resource, RuntimeClass, SYSTEM_NAMESPACE, Selector, Time,
};
use flotilla_transport::Identity;

use super::admission::{
    admit_apply, admit_create, admit_runtime_class, admit_status, admit_update,
};
use super::authz::{Facts, Lookup, Scope, authorize, lookup};
use super::certificates::Certificates;
use super::node_pods::NodePods;
use super::stored::{self, Stored, Versioned, describe};
use super::watch::{on_node, watch};

mod top;

/// Namespaces the cluster itself uses: created at start, never deleted.
const SYSTEM_NAMESPACES: [&str; 3] = ["default", SYSTEM_NAMESPACE, NODE_LEASE_NAMESPACE];

/// Creates the [`SYSTEM_NAMESPACES`] that do not exist yet.
pub(super) async fn ensure_system_namespaces(stored: &Stored) -> Result<(), ApiError> {
    for name in SYSTEM_NAMESPACES {
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: name.to_string(),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        match create(stored, Object::Namespace(namespace)).await {
            Ok(_) => {}
            Err(e) if e.code == ErrorCode::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// How often apply and delete retry when the object changes under them.
const APPLY_ATTEMPTS: usize = 5;

/// What requests need beyond the store.
pub struct Context {
    pub stored: Stored,
    /// What the pods bound to each node reference, for authorizing nodes.
    pub node_pods: Arc<NodePods>,
    pub links: NodeLinks,
    /// Present when this server holds the cluster CA and so can admit and renew nodes.
    pub certificates: Option<Certificates>,
}

/// Serves `call`, sending its responses (or one error) to `call.reply`.
pub async fn serve(call: ApiCall, context: Arc<Context>) {
    let ApiCall {
        caller,
        serial,
        request,
        reply,
        inputs,
    } = call;
    let outcome = match permit(&context, &caller, &request).await {
        Ok(()) => match request {
            Request::ExecAttached {
                namespace,
                pod,
                container,
                command,
                stdin,
                tty,
            } => {
                let attached = Attached {
                    command,
                    stdin,
                    tty,
                    inputs,
                };
                exec_attached(&context, &namespace, &pod, container, attached, &reply)
                    .await
                    .map(|()| None)
            }
            Request::ImportImages { node, base_name } => {
                import_images(&context, &node, base_name, inputs, &reply)
                    .await
                    .map(|()| None)
            }
            request => dispatch(&caller, serial.as_deref(), request, &reply, &context).await,
        },
        Err(denied) => Err(denied),
    };
    match outcome {
        Ok(Some(response)) => {
            let _ = reply.send(response).await;
        }
        Ok(None) => {}
        Err(error) => {
            if error.code == ErrorCode::Internal {
                tracing::error!(%error, "request failed");
            }
            let _ = reply.send(Response::Error(error)).await;
        }
    }
}

/// Authorizes `request`, first looking up the stored state a node's request is judged by.
async fn permit(context: &Context, caller: &Identity, request: &Request) -> Result<(), ApiError> {
    let (stored, node_pods) = (&context.stored, &context.node_pods);
    let scope = Scope::of(request)?;
    let facts = match lookup(caller, &scope) {
        None => Facts::default(),
        Some(Lookup::PodBinding { namespace, name }) => Facts {
            pod_node: stored
                .get(Kind::Pod, &namespace, &name)
                .await?
                .and_then(|v| match v.object {
                    Object::Pod(pod) => Some(pod.spec.node_name),
                    _ => None,
                })
                .filter(|node| !node.is_empty()),
            ..Facts::default()
        },
        Some(Lookup::PodsOnNode { node }) => Facts {
            node_pods: node_pods.on_node(&node).await?,
            ..Facts::default()
        },
    };
    authorize(caller, &scope, &facts)
}

/// Returns the single response of a unary verb, or `None` for streams that answered directly.
async fn dispatch(
    caller: &Identity,
    serial: Option<&[u8]>,
    request: Request,
    reply: &mpsc::Sender<Response>,
    context: &Context,
) -> Result<Option<Response>, ApiError> {
    let stored = &context.stored;
    let response = match request {
        Request::Get {
            kind,
            namespace,
            name,
        } => object(stored.get_existing(kind, &namespace, &name).await?)?,
        Request::List {
            kind,
            namespace,
            selector,
            node_name,
        } => {
            list(
                stored,
                kind,
                namespace.as_deref(),
                selector.as_deref(),
                node_name.as_deref(),
            )
            .await?
        }
        Request::Create { object: raw } => object(create(stored, decode(&raw)?).await?)?,
        Request::Apply { object: raw } => apply(stored, decode(&raw)?).await?,
        Request::Update { object: raw } => {
            let incoming = decode(&raw)?;
            let current = current_for(stored, &incoming).await?;
            let next = admit_update(&current.object, incoming)?;
            object(stored.replace(&next, current.mod_revision).await?)?
        }
        Request::UpdateStatus { object: raw } => {
            let incoming = decode(&raw)?;
            let current = current_for(stored, &incoming).await?;
            let next = admit_status(&current.object, &incoming)?;
            object(stored.replace(&next, current.mod_revision).await?)?
        }
        Request::Bind {
            namespace,
            name,
            node,
        } => object(bind(stored, &namespace, &name, &node).await?)?,
        Request::Delete {
            kind,
            namespace,
            name,
            grace_period_seconds,
        } => {
            // A deleted Node's certificates must not keep working, and its agent is told why.
            // Revoked first, so the agent cannot register the Node again in between.
            if let (Kind::Node, Some(certificates)) = (kind, &context.certificates) {
                stored.get_existing(kind, &namespace, &name).await?;
                let why = format!("node {name:?} was deleted");
                certificates.revoke_node(&name, &why).await?;
            }
            object(delete(stored, kind, &namespace, &name, grace_period_seconds).await?)?
        }
        Request::Watch {
            kind,
            namespace,
            after_revision,
            node_name,
        } => {
            watch(stored, kind, namespace, after_revision, node_name, reply).await?;
            return Ok(None);
        }
        Request::Logs {
            namespace,
            pod,
            container,
            follow,
            tail_lines,
        } => {
            logs(
                context, &namespace, &pod, container, follow, tail_lines, reply,
            )
            .await?;
            return Ok(None);
        }
        Request::Exec {
            namespace,
            pod,
            container,
            command,
        } => {
            exec(context, &namespace, &pod, container, command, reply).await?;
            return Ok(None);
        }
        Request::Top {
            kind,
            namespace,
            name,
        } => top::top(context, kind, namespace.as_deref(), name.as_deref()).await?,
        Request::ExecAttached { .. } | Request::ImportImages { .. } | Request::Input(_) => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "input belongs on the call of an attached exec or an image import",
            ));
        }
        Request::Join {
            token,
            node_name,
            csr_pem,
        } => {
            certificates(context)?
                .join(&token, &node_name, &csr_pem)
                .await?
        }
        Request::RenewCertificate { csr_pem } => {
            certificates(context)?
                .renew(caller, serial, &csr_pem)
                .await?
        }
        Request::RevokeNode { node_name } => {
            let why = format!("node {node_name:?} was revoked by {}", caller.name);
            certificates(context)?.revoke_node(&node_name, &why).await?
        }
        Request::IssueUser {
            name,
            role,
            validity_seconds,
            csr_pem,
        } => {
            let validity = std::time::Duration::from_secs(validity_seconds);
            certificates(context)?
                .issue_operator(&name, &role, validity, &csr_pem)
                .await?
        }
        Request::RevokeUser { name } => {
            certificates(context)?
                .revoke_operator(&name, caller)
                .await?
        }
        Request::ListUsers => certificates(context)?.operators().await?,
        front_door @ (Request::Store { .. } | Request::AgentLink) => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "only a QUIC connection can {} (the API server's front door serves it)",
                    front_door.verb()
                ),
            ));
        }
    };
    Ok(Some(response))
}

fn certificates(context: &Context) -> Result<&Certificates, ApiError> {
    context.certificates.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::BadRequest,
            "this API server does not hold the cluster CA and cannot issue or revoke certificates",
        )
    })
}

fn decode(raw: &RawObject) -> Result<Object, ApiError> {
    Object::from_json(&raw.0).map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))
}

fn object(versioned: Versioned) -> Result<Response, ApiError> {
    Ok(Response::Object(RawObject(versioned.object.to_json())))
}

/// The stored object `incoming` replaces, checking the resourceVersion the client read.
async fn current_for(stored: &Stored, incoming: &Object) -> Result<Versioned, ApiError> {
    let meta = incoming.meta();
    let current = stored
        .get_existing(incoming.kind(), &meta.namespace, &meta.name)
        .await?;
    if !meta.resource_version.is_empty()
        && meta.resource_version != current.mod_revision.to_string()
    {
        return Err(stored::conflict(incoming.kind(), &meta.name));
    }
    Ok(current)
}

async fn list(
    stored: &Stored,
    kind: Kind,
    namespace: Option<&str>,
    selector: Option<&str>,
    node_name: Option<&str>,
) -> Result<Response, ApiError> {
    let selector = selector
        .map(Selector::parse)
        .transpose()
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
    let node_name = node_name.map(str::to_string);
    let (items, revision) = stored
        .list_map(kind, namespace, move |v| {
            let wanted = selector
                .as_ref()
                .is_none_or(|s| s.matches(&v.object.meta().labels))
                && on_node(node_name.as_deref(), &v.object);
            wanted.then(|| RawObject(v.object.to_json()))
        })
        .await?;
    Ok(Response::List { items, revision })
}

pub(super) async fn create(stored: &Stored, object: Object) -> Result<Versioned, ApiError> {
    let namespace = object.meta().namespace.clone();
    if object.kind().namespaced() {
        if namespace.is_empty() {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("{}: metadata.namespace is required", object.kind().as_str()),
            ));
        }
        let owner = stored.get(Kind::Namespace, "", &namespace).await?;
        match owner {
            None => return Err(ApiError::not_found(describe(Kind::Namespace, &namespace))),
            Some(ns) if ns.object.meta().deletion_timestamp.is_some() => {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    format!("namespace {namespace:?} is being terminated"),
                ));
            }
            Some(_) => {}
        }
    }
    let uid = uuid::Uuid::new_v4().to_string();
    let suffix = random_suffix(&uid);
    let mut admitted = admit_create(object, uid, Time::now(), &suffix)?;
    if let Object::Pod(pod) = &mut admitted
        && let Some(name) = &pod.spec.runtime_class_name
    {
        let class = stored
            .get(Kind::RuntimeClass, "", name)
            .await?
            .and_then(|v| RuntimeClass::from_object(v.object));
        admit_runtime_class(pod, class.as_ref())?;
    }
    stored.create(&admitted).await
}

/// Five lowercase alphanumerics, as Kubernetes appends to generated names.
fn random_suffix(uid: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let seed = u128::from_str_radix(&uid.replace('-', ""), 16).unwrap_or_default();
    (0..5)
        .map(|i| ALPHABET[((seed >> (i * 8)) % ALPHABET.len() as u128) as usize] as char)
        .collect()
}

async fn apply(stored: &Stored, manifest: Object) -> Result<Response, ApiError> {
    for _ in 0..APPLY_ATTEMPTS {
        let meta = manifest.meta();
        let Some(current) = stored
            .get(manifest.kind(), &meta.namespace, &meta.name)
            .await?
        else {
            return match create(stored, manifest.clone()).await {
                Ok(created) => applied(created.object, Outcome::Created),
                Err(e) if e.code == ErrorCode::AlreadyExists => continue,
                Err(e) => Err(e),
            };
        };
        let Some(next) = admit_apply(&current.object, manifest.clone())? else {
            return applied(current.object, Outcome::Unchanged);
        };
        match stored.replace(&next, current.mod_revision).await {
            Ok(updated) => return applied(updated.object, Outcome::Configured),
            Err(e) if e.code == ErrorCode::Conflict => continue,
            Err(e) => return Err(e),
        }
    }
    Err(stored::conflict(manifest.kind(), &manifest.meta().name))
}

fn applied(object: Object, outcome: Outcome) -> Result<Response, ApiError> {
    Ok(Response::Applied {
        object: RawObject(object.to_json()),
        outcome,
    })
}

async fn bind(
    stored: &Stored,
    namespace: &str,
    name: &str,
    node: &str,
) -> Result<Versioned, ApiError> {
    let current = stored.get_existing(Kind::Pod, namespace, name).await?;
    let Object::Pod(mut pod) = current.object else {
        return Err(ApiError::internal(format!(
            "{} is not stored as a pod",
            describe(Kind::Pod, name)
        )));
    };
    if !pod.spec.node_name.is_empty() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "pod {name:?} is already assigned to node {:?}",
                pod.spec.node_name
            ),
        ));
    }
    if !pod.spec.scheduling_gates.is_empty() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("pod {name:?} has scheduling gates and may not be bound yet"),
        ));
    }
    if stored.get(Kind::Node, "", node).await?.is_none() {
        return Err(ApiError::not_found(describe(Kind::Node, node)));
    }
    pod.spec.node_name = node.to_string();
    pod.set_condition(
        PodCondition {
            type_: "PodScheduled".into(),
            status: ConditionStatus::True,
            ..PodCondition::default()
        },
        Time::now(),
    );
    stored
        .replace(&Object::Pod(pod), current.mod_revision)
        .await
}

/// Deletes an object. A delete names no revision, so one that meets a concurrent write (a node
/// agent updating the pod's status, say) starts again from the object as it now is, as
/// Kubernetes' does.
async fn delete(
    stored: &Stored,
    kind: Kind,
    namespace: &str,
    name: &str,
    grace_period_seconds: Option<i64>,
) -> Result<Versioned, ApiError> {
    for _ in 0..APPLY_ATTEMPTS {
        match delete_once(stored, kind, namespace, name, grace_period_seconds).await {
            Err(e) if e.code == ErrorCode::Conflict => continue,
            done => return done,
        }
    }
    Err(stored::conflict(kind, name))
}

async fn delete_once(
    stored: &Stored,
    kind: Kind,
    namespace: &str,
    name: &str,
    grace_period_seconds: Option<i64>,
) -> Result<Versioned, ApiError> {
    let current = stored.get_existing(kind, namespace, name).await?;
    match &current.object {
        Object::Pod(pod) if graceful(pod, grace_period_seconds) => {
            mark_terminating(
                stored,
                pod.clone(),
                grace_period_seconds,
                current.mod_revision,
            )
            .await
        }
        Object::Namespace(_) if SYSTEM_NAMESPACES.contains(&name) => Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("namespace {name:?} is the cluster's own and may not be deleted"),
        )),
        Object::Namespace(_) => {
            empty_namespace(stored, name).await?;
            stored.remove(&current.object, current.mod_revision).await?;
            Ok(current)
        }
        _ => {
            stored.remove(&current.object, current.mod_revision).await?;
            Ok(current)
        }
    }
}

/// A pod a node may be running is stopped by its node agent first, which then deletes it
/// with a zero grace period.
fn graceful(pod: &Pod, grace_period_seconds: Option<i64>) -> bool {
    !pod.spec.node_name.is_empty() && grace_period_seconds != Some(0) && !pod.is_terminal()
}

async fn mark_terminating(
    stored: &Stored,
    mut pod: Pod,
    grace_period_seconds: Option<i64>,
    mod_revision: u64,
) -> Result<Versioned, ApiError> {
    if pod.metadata.deletion_timestamp.is_some() {
        let object = Object::Pod(pod);
        return Ok(Versioned {
            object,
            mod_revision,
        });
    }
    let grace = grace_period_seconds
        .or(pod.spec.termination_grace_period_seconds)
        .unwrap_or(30)
        .max(1);
    pod.metadata.deletion_timestamp = Some(Time::now());
    pod.metadata.deletion_grace_period_seconds = Some(grace);
    stored.replace(&Object::Pod(pod), mod_revision).await
}

/// Deletes what lives in a namespace being deleted: workloads at once, pods gracefully.
async fn empty_namespace(stored: &Stored, namespace: &str) -> Result<(), ApiError> {
    let kinds = [
        Kind::Deployment,
        Kind::DaemonSet,
        Kind::StatefulSet,
        Kind::ReplicaSet,
        Kind::Pod,
        Kind::Service,
        Kind::EndpointSlice,
        Kind::NetworkPolicy,
        Kind::ConfigMap,
        Kind::Secret,
        Kind::Lease,
    ];
    for kind in kinds {
        let (objects, _) = stored.list(kind, Some(namespace)).await?;
        for v in objects {
            let name = v.object.meta().name.clone();
            // Boxed: deleting a namespace deletes its objects through this same function.
            match Box::pin(delete(stored, kind, namespace, &name, None)).await {
                Ok(_) => {}
                Err(e) if matches!(e.code, ErrorCode::NotFound | ErrorCode::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

async fn logs(
    context: &Context,
    namespace: &str,
    name: &str,
    container: Option<String>,
    follow: bool,
    tail_lines: Option<u64>,
    reply: &mpsc::Sender<Response>,
) -> Result<(), ApiError> {
    let (pod, container) = pod_container(context, namespace, name, container).await?;
    let request = NodeRequest::Logs {
        pod_uid: pod.metadata.uid.clone(),
        namespace: namespace.to_string(),
        pod: name.to_string(),
        container,
        follow,
        tail_lines,
    };
    relay(context, &pod.spec.node_name, request, reply).await
}

async fn exec(
    context: &Context,
    namespace: &str,
    name: &str,
    container: Option<String>,
    command: Vec<String>,
    reply: &mpsc::Sender<Response>,
) -> Result<(), ApiError> {
    if command.is_empty() {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "you must specify at least one command for the container",
        ));
    }
    let (pod, container) = pod_container(context, namespace, name, container).await?;
    let request = NodeRequest::Exec {
        pod_uid: pod.metadata.uid.clone(),
        container,
        command,
    };
    relay(context, &pod.spec.node_name, request, reply).await
}

/// An attached exec's command and streams.
struct Attached {
    command: Vec<String>,
    stdin: bool,
    tty: Option<TerminalSize>,
    inputs: Option<mpsc::Receiver<Input>>,
}

/// [`exec`] with standard input and a terminal, as the caller asked: its inputs go on to the
/// node's agent with the call.
async fn exec_attached(
    context: &Context,
    namespace: &str,
    name: &str,
    container: Option<String>,
    attached: Attached,
    reply: &mpsc::Sender<Response>,
) -> Result<(), ApiError> {
    if attached.command.is_empty() {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "you must specify at least one command for the container",
        ));
    }
    let (pod, container) = pod_container(context, namespace, name, container).await?;
    let request = NodeRequest::ExecAttached {
        pod_uid: pod.metadata.uid.clone(),
        container,
        command: attached.command,
        stdin: attached.stdin,
        tty: attached.tty,
    };
    let answers = context
        .links
        .call_with_inputs(&pod.spec.node_name, request, attached.inputs)
        .await?;
    relay_answers(answers, reply).await;
    Ok(())
}

/// Passes an uploaded archive on to `node`'s agent, which imports its images into the node's
/// store.
async fn import_images(
    context: &Context,
    node: &str,
    base_name: Option<String>,
    inputs: Option<mpsc::Receiver<Input>>,
    reply: &mpsc::Sender<Response>,
) -> Result<(), ApiError> {
    context.stored.get_existing(Kind::Node, "", node).await?;
    let answers = context
        .links
        .call_with_inputs(node, NodeRequest::ImportImages { base_name }, inputs)
        .await?;
    relay_answers(answers, reply).await;
    Ok(())
}

/// The pod `name`, bound to a node, and the container chosen: `container` if the pod has it,
/// else the pod's only one.
async fn pod_container(
    context: &Context,
    namespace: &str,
    name: &str,
    container: Option<String>,
) -> Result<(Pod, String), ApiError> {
    let current = context
        .stored
        .get_existing(Kind::Pod, namespace, name)
        .await?;
    let Object::Pod(pod) = current.object else {
        return Err(ApiError::internal(format!(
            "{} is not stored as a pod",
            describe(Kind::Pod, name)
        )));
    };
    let names: Vec<&str> = pod
        .spec
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let container = match container {
        Some(c) if pod.spec.all_containers().any(|known| known.name == c) => c,
        Some(c) => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "container {c:?} is not in pod {name:?}; choose one of: {}",
                    names.join(", ")
                ),
            ));
        }
        None if names.len() == 1 => names[0].to_string(),
        None => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!(
                    "a container name must be specified for pod {name:?}, choose one of: {}",
                    names.join(", ")
                ),
            ));
        }
    };
    if pod.spec.node_name.is_empty() {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("pod {name:?} is not scheduled to a node yet"),
        ));
    }
    Ok((pod, container))
}

/// Passes `node`'s answers to `request` on to the caller until either side is done.
async fn relay(
    context: &Context,
    node: &str,
    request: NodeRequest,
    reply: &mpsc::Sender<Response>,
) -> Result<(), ApiError> {
    let answers = context.links.call(node, request).await?;
    relay_answers(answers, reply).await;
    Ok(())
}

/// Passes a node agent's answers on until they end or the caller goes away.
async fn relay_answers(mut answers: NodeAnswers, reply: &mpsc::Sender<Response>) {
    loop {
        let answer = tokio::select! {
            () = reply.closed() => return,
            answer = answers.next() => answer,
        };
        let Some(answer) = answer else {
            return;
        };
        if reply.send(answer).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_five_safe_characters() {
        let s = random_suffix("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
        assert_eq!(s.len(), 5);
        assert!(
            s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert_ne!(s, random_suffix("00000000-0000-0000-0000-000000000001"));
    }
}
