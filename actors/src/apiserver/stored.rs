//! The API server's view of the store: typed objects in, typed objects out. The resourceVersion
//! of an object is its key's mod revision; it is set on the way out and never stored.
//!
//! Every request task calls the [`Store`] directly, so nothing serializes them: reads of one
//! key are answered in place and never wait behind writes, writes await the store's group
//! commit (concurrent writes share one fsync), and the work that may take milliseconds —
//! listing and decoding a whole kind, or a watcher reading its catch-up history — runs on the
//! blocking pool so it cannot hold up the process's one runtime thread.

use flotilla_kernel::api::{ApiError, ErrorCode};
use flotilla_kernel::object::{Kind, Object};
use flotilla_store::{Expect, KeyValue, Store, StoreError, Watcher, WriteResult};

use super::keys::{list_prefix, object_key};

/// An object read from the store, with the revision it was last written at.
pub struct Versioned {
    pub object: Object,
    pub mod_revision: u64,
}

/// The store, as the API server uses it. Cheap to clone.
#[derive(Clone)]
pub struct Stored {
    store: Store,
}

impl Stored {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The store's current revision: every write acknowledged so far is at or below it.
    pub fn revision(&self) -> u64 {
        self.store.revision()
    }

    /// Has every watcher told the current revision, once it has what comes before it.
    pub fn request_progress(&self) {
        self.store.request_progress();
    }

    pub async fn get(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Versioned>, ApiError> {
        let key = object_key(kind, namespace, name);
        self.store
            .get(&key)
            .map_err(store_error)?
            .as_ref()
            .map(decode)
            .transpose()
    }

    pub async fn get_existing(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Versioned, ApiError> {
        self.get(kind, namespace, name)
            .await?
            .ok_or_else(|| ApiError::not_found(describe(kind, name)))
    }

    /// Every object of `kind` in `namespace` (or all namespaces) and the revision read at.
    pub async fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<(Vec<Versioned>, u64), ApiError> {
        self.list_map(kind, namespace, Some).await
    }

    /// Like [`Stored::list`], keeping what `keep` makes of each object; the decoding and `keep`
    /// run on the blocking pool with the read.
    pub async fn list_map<T: Send + 'static>(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        mut keep: impl FnMut(Versioned) -> Option<T> + Send + 'static,
    ) -> Result<(Vec<T>, u64), ApiError> {
        let prefix = list_prefix(kind, namespace);
        let store = self.store.clone();
        blocking(move || {
            let range = store.range_prefix(&prefix).map_err(store_error)?;
            let mut kept = Vec::with_capacity(range.kvs.len());
            for kv in &range.kvs {
                kept.extend(keep(decode(kv)?));
            }
            Ok((kept, range.revision))
        })
        .await
    }

    /// Writes a new object; `AlreadyExists` if its name is taken.
    pub async fn create(&self, object: &Object) -> Result<Versioned, ApiError> {
        self.write(object, Expect::Absent).await?.ok_or_else(|| {
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
    pub async fn replace(&self, object: &Object, mod_revision: u64) -> Result<Versioned, ApiError> {
        self.write(object, Expect::ModRevision(mod_revision))
            .await?
            .ok_or_else(|| conflict(object.kind(), &object.meta().name))
    }

    async fn write(&self, object: &Object, expect: Expect) -> Result<Option<Versioned>, ApiError> {
        let result = self
            .store
            .put_async(&key_of(object), &encode(object), expect)
            .await
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
    pub async fn remove(&self, object: &Object, mod_revision: u64) -> Result<(), ApiError> {
        let result = self
            .store
            .delete_async(&key_of(object), Expect::ModRevision(mod_revision))
            .await
            .map_err(store_error)?;
        match result {
            WriteResult::Committed { .. } => Ok(()),
            WriteResult::Conflict { .. } => Err(conflict(object.kind(), &object.meta().name)),
        }
    }

    /// Changes to `kind` (in `namespace`) after `after_revision`.
    pub async fn watch(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        after_revision: u64,
    ) -> Result<Watcher, ApiError> {
        let prefix = list_prefix(kind, namespace);
        let store = self.store.clone();
        // Catching up reads the history from disk.
        blocking(move || {
            store
                .watch_prefix(&prefix, after_revision)
                .map_err(|error| match error {
                    StoreError::Compacted { .. } => {
                        ApiError::new(ErrorCode::Gone, error.to_string())
                    }
                    error => store_error(error),
                })
        })
        .await
    }
}

/// Runs store work that may take milliseconds on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("a store read stopped: {e}")))?
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
