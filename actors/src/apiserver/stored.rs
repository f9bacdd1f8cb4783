//! The API server's view of the store: typed objects in, typed objects out. The resourceVersion
//! of an object is its key's mod revision; it is set on the way out and never stored.
//!
//! Every request task calls the [`Store`] directly, so nothing serializes them: reads of one
//! key are answered in place and never wait behind writes, writes await the store's group
//! commit (concurrent writes share one fsync), and the work that may take milliseconds —
//! listing and decoding a whole kind, or a watcher reading its catch-up history — runs on the
//! blocking pool so it cannot hold up the process's one runtime thread.
//!
//! A Service's ClusterIP and node ports are keys of their own, written and deleted in the same
//! transaction as the Service: its writes go through `allocation`, whatever the caller.

use flotilla_kernel::api::{ApiError, ErrorCode};
use flotilla_kernel::object::{Kind, Object};
use flotilla_store::{
    Compare, Expect, KeyValue, Op, OpResult, RangeRequest, Store, StoreError, Txn, Watcher,
    WriteResult,
};

use super::allocation::{self, Ranges};
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
    /// Where Services' ClusterIPs and node ports come from.
    ranges: Ranges,
}

/// The outcome of a write that claims keys beside its object.
pub enum ClaimedWrite {
    Written(Box<Versioned>),
    /// The object's precondition failed: it exists, or moved on.
    ObjectChanged,
    /// Claimed keys that exist already.
    Taken(Vec<Vec<u8>>),
}

impl Stored {
    pub fn new(store: Store, ranges: Ranges) -> Self {
        Self { store, ranges }
    }

    pub fn ranges(&self) -> &Ranges {
        &self.ranges
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
        if let Object::Service(service) = object {
            return allocation::create(self, service).await;
        }
        self.write(object, Expect::Absent)
            .await?
            .ok_or_else(|| already_exists(object))
    }

    /// Replaces an object if it is still at `mod_revision`; `Conflict` otherwise.
    pub async fn replace(&self, object: &Object, mod_revision: u64) -> Result<Versioned, ApiError> {
        if let Object::Service(service) = object {
            return allocation::replace(self, service, mod_revision).await;
        }
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

    /// Removes an object, as stored at `mod_revision`, if it is still at it; `Conflict`
    /// otherwise.
    pub async fn remove(&self, object: &Object, mod_revision: u64) -> Result<(), ApiError> {
        if let Object::Service(service) = object {
            return allocation::remove(self, service, mod_revision).await;
        }
        self.remove_releasing(object, mod_revision, &[]).await
    }

    /// Writes `object` if `expect` holds for it and none of the `claim` keys exists, creating
    /// them with their values and deleting the `release` keys, all in one transaction.
    pub async fn write_claiming(
        &self,
        object: &Object,
        expect: Expect,
        claim: &[(Vec<u8>, Vec<u8>)],
        release: &[Vec<u8>],
    ) -> Result<ClaimedWrite, ApiError> {
        let key = key_of(object);
        let mut compares = expect.compares(&key);
        compares.extend(claim.iter().map(|(claimed, _)| Compare::absent(claimed)));
        let mut success = vec![Op::put(&key, &encode(object))];
        success.extend(claim.iter().map(|(claimed, value)| Op::put(claimed, value)));
        success.extend(release.iter().map(|released| Op::delete(released)));
        // On failure, read what the compares looked at, to tell which failed.
        let mut failure = vec![Op::get(&key)];
        failure.extend(claim.iter().map(|(claimed, _)| Op::get(claimed)));
        let txn = Txn {
            compares,
            success,
            failure,
        };
        let result = self.store.txn_async(txn).await.map_err(store_error)?;
        if result.succeeded {
            let mut object = object.clone();
            object.meta_mut().resource_version = result.revision.to_string();
            return Ok(ClaimedWrite::Written(Box::new(Versioned {
                object,
                mod_revision: result.revision,
            })));
        }
        let mut found = result.results.into_iter().map(|read| match read {
            OpResult::Range(range) => range.kvs.into_iter().next(),
            _ => None,
        });
        let stored = found.next().flatten();
        let object_holds = match expect {
            Expect::Any => true,
            Expect::Absent => stored.is_none(),
            Expect::ModRevision(revision) => stored.map_or(0, |kv| kv.mod_revision) == revision,
        };
        let taken: Vec<Vec<u8>> = found.flatten().map(|kv| kv.key).collect();
        Ok(if !object_holds || taken.is_empty() {
            ClaimedWrite::ObjectChanged
        } else {
            ClaimedWrite::Taken(taken)
        })
    }

    /// [`Stored::remove`], deleting the `release` keys in the same transaction.
    pub async fn remove_releasing(
        &self,
        object: &Object,
        mod_revision: u64,
        release: &[Vec<u8>],
    ) -> Result<(), ApiError> {
        let key = key_of(object);
        let mut success = vec![Op::delete(&key)];
        success.extend(release.iter().map(|released| Op::delete(released)));
        let txn = Txn {
            compares: Expect::ModRevision(mod_revision).compares(&key),
            success,
            failure: Vec::new(),
        };
        let result = self.store.txn_async(txn).await.map_err(store_error)?;
        if result.succeeded {
            Ok(())
        } else {
            Err(conflict(object.kind(), &object.meta().name))
        }
    }

    /// Every key under each of `prefixes` (keys only).
    pub async fn keys_under(&self, prefixes: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, ApiError> {
        let store = self.store.clone();
        blocking(move || {
            let mut keys = Vec::new();
            for prefix in prefixes {
                let mut request = RangeRequest::prefix(&prefix);
                request.keys_only = true;
                let range = store.range(&request).map_err(store_error)?;
                keys.extend(range.kvs.into_iter().map(|kv| kv.key));
            }
            Ok(keys)
        })
        .await
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

/// `pods "web" already exists`.
pub fn already_exists(object: &Object) -> ApiError {
    ApiError::new(
        ErrorCode::AlreadyExists,
        format!(
            "{} already exists",
            describe(object.kind(), &object.meta().name)
        ),
    )
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
