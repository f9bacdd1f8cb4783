//! The API server's view of the store: typed objects in, typed objects out, through the store
//! actor found by name. The resourceVersion of an object is its key's mod revision; it is set
//! on the way out and never stored.

use std::time::Duration;

use ractor::{ActorRef, RpcReplyPort, rpc::CallResult};

use flotilla_kernel::api::{ApiError, ErrorCode};
use flotilla_kernel::object::{Kind, Object};
use flotilla_store::{Expect, KeyValue, StoreError, Watcher, WriteResult};

use super::keys::{list_prefix, object_key};
use crate::store::{STORE, StoreMsg};

/// How long one store operation may take before the request fails.
const STORE_TIMEOUT: Duration = Duration::from_secs(30);

/// An object read from the store, with the revision it was last written at.
pub struct Versioned {
    pub object: Object,
    pub mod_revision: u64,
}

async fn call<T: Send + 'static>(
    build: impl FnOnce(RpcReplyPort<T>) -> StoreMsg,
) -> Result<T, ApiError> {
    let store = ActorRef::<StoreMsg>::where_is(STORE)
        .ok_or_else(|| ApiError::new(ErrorCode::Unavailable, "the store is restarting; retry"))?;
    match store.call(build, Some(STORE_TIMEOUT)).await {
        Ok(CallResult::Success(answer)) => Ok(answer),
        Ok(CallResult::Timeout) => Err(ApiError::new(
            ErrorCode::Unavailable,
            "the store did not answer in time; retry",
        )),
        Ok(CallResult::SenderError) | Err(_) => Err(ApiError::new(
            ErrorCode::Unavailable,
            "the store stopped while answering; retry",
        )),
    }
}

fn store_error(error: StoreError) -> ApiError {
    ApiError::internal(format!("store: {error}"))
}

/// Decodes a stored object and stamps its resourceVersion.
pub fn decode(kv: &KeyValue) -> Result<Versioned, ApiError> {
    let mut object = Object::from_json(&kv.value).map_err(|e| {
        ApiError::internal(format!(
            "stored object {} is unreadable: {e}",
            String::from_utf8_lossy(&kv.key)
        ))
    })?;
    object.meta_mut().resource_version = kv.mod_revision.to_string();
    Ok(Versioned {
        object,
        mod_revision: kv.mod_revision,
    })
}

fn encode(object: &Object) -> Vec<u8> {
    let mut object = object.clone();
    object.meta_mut().resource_version.clear();
    object.to_json()
}

fn key_of(object: &Object) -> Vec<u8> {
    let meta = object.meta();
    object_key(object.kind(), &meta.namespace, &meta.name)
}

/// `pods "web"`, as kubectl words it.
pub fn describe(kind: Kind, name: &str) -> String {
    format!("{} {name:?}", kind.plural())
}

pub async fn get(kind: Kind, namespace: &str, name: &str) -> Result<Option<Versioned>, ApiError> {
    let key = object_key(kind, namespace, name);
    call(|reply| StoreMsg::Get { key, reply })
        .await?
        .map_err(store_error)?
        .as_ref()
        .map(decode)
        .transpose()
}

pub async fn get_existing(kind: Kind, namespace: &str, name: &str) -> Result<Versioned, ApiError> {
    get(kind, namespace, name)
        .await?
        .ok_or_else(|| ApiError::not_found(describe(kind, name)))
}

/// Every object of `kind` in `namespace` (or all namespaces) and the revision read at.
pub async fn list(kind: Kind, namespace: Option<&str>) -> Result<(Vec<Versioned>, u64), ApiError> {
    let prefix = list_prefix(kind, namespace);
    let range = call(|reply| StoreMsg::Range { prefix, reply })
        .await?
        .map_err(store_error)?;
    let objects = range.kvs.iter().map(decode).collect::<Result<_, _>>()?;
    Ok((objects, range.revision))
}

/// Writes a new object; `AlreadyExists` if its name is taken.
pub async fn create(object: &Object) -> Result<Versioned, ApiError> {
    write(object, Expect::Absent).await?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::AlreadyExists,
            format!(
                "{} already exists",
                describe(object.kind(), &object.meta().name)
            ),
        )
    })
}

/// Replaces an object if it is still at `mod_revision`; `Conflict` otherwise.
pub async fn replace(object: &Object, mod_revision: u64) -> Result<Versioned, ApiError> {
    write(object, Expect::ModRevision(mod_revision))
        .await?
        .ok_or_else(|| conflict(object.kind(), &object.meta().name))
}

pub fn conflict(kind: Kind, name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        format!(
            "Operation cannot be fulfilled on {}: the object has been modified; \
             please apply your changes to the latest version and try again",
            describe(kind, name)
        ),
    )
}

async fn write(object: &Object, expect: Expect) -> Result<Option<Versioned>, ApiError> {
    let key = key_of(object);
    let value = encode(object);
    let result = call(|reply| StoreMsg::Put {
        key,
        value,
        expect,
        reply,
    })
    .await?
    .map_err(store_error)?;
    Ok(match result {
        WriteResult::Committed { revision, .. } => {
            let mut object = object.clone();
            object.meta_mut().resource_version = revision.to_string();
            Some(Versioned {
                object,
                mod_revision: revision,
            })
        }
        WriteResult::Conflict { .. } => None,
    })
}

/// Removes an object if it is still at `mod_revision`; `Conflict` otherwise.
pub async fn remove(object: &Object, mod_revision: u64) -> Result<(), ApiError> {
    let key = key_of(object);
    let result = call(|reply| StoreMsg::Delete {
        key,
        expect: Expect::ModRevision(mod_revision),
        reply,
    })
    .await?
    .map_err(store_error)?;
    match result {
        WriteResult::Committed { .. } => Ok(()),
        WriteResult::Conflict { .. } => Err(conflict(object.kind(), &object.meta().name)),
    }
}

pub async fn watch(
    kind: Kind,
    namespace: Option<&str>,
    after_revision: u64,
) -> Result<Watcher, ApiError> {
    let prefix = list_prefix(kind, namespace);
    call(|reply| StoreMsg::Watch {
        prefix,
        after_revision,
        reply,
    })
    .await?
    .map_err(|error| match error {
        StoreError::Compacted { .. } => ApiError::new(ErrorCode::Gone, error.to_string()),
        error => store_error(error),
    })
}
