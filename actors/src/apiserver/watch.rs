//! Watch: store events turned into API events. A watch from revision 0 starts with the current
//! objects as `Added` and a bookmark at the listing's revision, then follows changes, so a
//! client can list and watch in one call.

use tokio::sync::mpsc;

use flotilla_kernel::api::{ApiError, ErrorCode, EventType, RawObject, Response, WatchEvent};
use flotilla_kernel::object::{Kind, Object};
use flotilla_store::{Event, EventKind, KeyValue};

use super::stored::{self, Stored};

pub async fn watch(
    stored: &Stored,
    kind: Kind,
    namespace: Option<String>,
    after_revision: u64,
    node_name: Option<String>,
    reply: &mpsc::Sender<Response>,
) -> Result<(), ApiError> {
    let wanted = |object: &Object| on_node(node_name.as_deref(), object);
    let mut from = after_revision;
    if after_revision == 0 {
        let (objects, revision) = stored.list(kind, namespace.as_deref()).await?;
        for v in objects.into_iter().filter(|v| wanted(&v.object)) {
            if !send(reply, EventType::Added, &v.object, v.mod_revision).await {
                return Ok(());
            }
        }
        if reply.send(Response::Bookmark { revision }).await.is_err() {
            return Ok(());
        }
        from = revision;
    }
    let mut watcher = stored.watch(kind, namespace.as_deref(), from).await?;
    loop {
        let event = tokio::select! {
            _ = reply.closed() => return Ok(()),
            event = watcher.next() => event,
        };
        let event = match event {
            Ok(Some(event)) => event,
            Ok(None) => return Ok(()),
            Err(error) => {
                return Err(ApiError::new(
                    ErrorCode::Gone,
                    format!("watch ended: {error}; list and watch again"),
                ));
            }
        };
        let Some((event_type, object)) = translate(&event)? else {
            continue;
        };
        if wanted(&object) && !send(reply, event_type, &object, event.kv.mod_revision).await {
            return Ok(());
        }
    }
}

/// Whether `object` passes a `node_name` filter: without one everything does, with one only
/// the pods bound to that node.
pub fn on_node(node_name: Option<&str>, object: &Object) -> bool {
    match (node_name, object) {
        (None, _) => true,
        (Some(node), Object::Pod(pod)) => pod.spec.node_name == node,
        (Some(_), _) => false,
    }
}

/// The API event for a store event; deletions carry the object as it was.
fn translate(event: &Event) -> Result<Option<(EventType, Object)>, ApiError> {
    let (event_type, kv): (EventType, &KeyValue) = match (&event.kind, &event.prev) {
        (EventKind::Put, None) => (EventType::Added, &event.kv),
        (EventKind::Put, Some(_)) => (EventType::Modified, &event.kv),
        (EventKind::Delete, Some(prev)) => (EventType::Deleted, prev),
        (EventKind::Delete, None) => return Ok(None),
    };
    let mut object = stored::decode(kv)?.object;
    object.meta_mut().resource_version = event.kv.mod_revision.to_string();
    Ok(Some((event_type, object)))
}

async fn send(
    reply: &mpsc::Sender<Response>,
    event: EventType,
    object: &Object,
    revision: u64,
) -> bool {
    let event = WatchEvent {
        event,
        object: RawObject(object.to_json()),
        revision,
    };
    reply.send(Response::Event(event)).await.is_ok()
}
