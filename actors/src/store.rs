//! The store actor: the single owner of the MVCC store in this process. Every store operation
//! is a message, so writes are ordered by the mailbox; the blocking RocksDB work runs on the
//! blocking pool so the actor's thread keeps serving the runtime.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use flotilla_store::{
    Expect, KeyValue, RangeResult, Store, StoreError, Txn, TxnResult, Watcher, WriteResult,
};

/// Name under which the store actor registers itself.
pub const STORE: &str = "store";

pub enum StoreMsg {
    Get {
        key: Vec<u8>,
        reply: RpcReplyPort<Result<Option<KeyValue>, StoreError>>,
    },
    Range {
        prefix: Vec<u8>,
        reply: RpcReplyPort<Result<RangeResult, StoreError>>,
    },
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        expect: Expect,
        reply: RpcReplyPort<Result<WriteResult, StoreError>>,
    },
    Delete {
        key: Vec<u8>,
        expect: Expect,
        reply: RpcReplyPort<Result<WriteResult, StoreError>>,
    },
    Txn {
        txn: Txn,
        reply: RpcReplyPort<Result<TxnResult, StoreError>>,
    },
    Watch {
        prefix: Vec<u8>,
        after_revision: u64,
        reply: RpcReplyPort<Result<Watcher, StoreError>>,
    },
}

pub struct StoreActor;

impl Actor for StoreActor {
    type Msg = StoreMsg;
    type State = Store;
    type Arguments = Store;

    async fn pre_start(
        &self,
        _: ActorRef<StoreMsg>,
        store: Store,
    ) -> Result<Store, ActorProcessingErr> {
        Ok(store)
    }

    async fn handle(
        &self,
        _: ActorRef<StoreMsg>,
        msg: StoreMsg,
        store: &mut Store,
    ) -> Result<(), ActorProcessingErr> {
        let store = store.clone();
        // A caller that gave up waiting is not an error of the store.
        match msg {
            StoreMsg::Get { key, reply } => {
                let _ = reply.send(blocking(move || store.get(&key)).await?);
            }
            StoreMsg::Range { prefix, reply } => {
                let _ = reply.send(blocking(move || store.range_prefix(&prefix)).await?);
            }
            StoreMsg::Put {
                key,
                value,
                expect,
                reply,
            } => {
                let _ = reply.send(blocking(move || store.put(&key, &value, expect)).await?);
            }
            StoreMsg::Delete { key, expect, reply } => {
                let _ = reply.send(blocking(move || store.delete(&key, expect)).await?);
            }
            StoreMsg::Txn { txn, reply } => {
                let _ = reply.send(blocking(move || store.txn(txn)).await?);
            }
            StoreMsg::Watch {
                prefix,
                after_revision,
                reply,
            } => {
                // Catching up reads the history from disk, like the reads above.
                let _ = reply
                    .send(blocking(move || store.watch_prefix(&prefix, after_revision)).await?);
            }
        }
        Ok(())
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ActorProcessingErr> {
    Ok(tokio::task::spawn_blocking(work).await?)
}
