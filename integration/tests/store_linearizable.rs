//! Linearizability of the store as clients see it, across crash-restarts: concurrent clients
//! get, put and compare-and-put a few shared keys while the `flotilla store serve` process is
//! killed with SIGKILL now and then; the recorded history (calls that were cut off have an
//! unknown outcome) must be linearizable for a key-value register model.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use tokio::task::JoinSet;

use flotilla_actors::store_service::StoreClient;
use flotilla_integration::StoreServer;
use flotilla_lincheck::{History, KvInput, KvOutput, Verdict, check_kv};
use flotilla_store::{Compare, CompareOp, CompareTarget, Op, OpResult, RangeRequest, Txn};
use flotilla_transport::ClientOptions;

const CRASHES: usize = 8;
const CLIENTS: u64 = 4;
const KEYS: u64 = 3;
const VALUES: u64 = 4;
const LOAD: Duration = Duration::from_millis(150);

type Recorder = Arc<Mutex<(History<KvInput, KvOutput>, Instant)>>;

#[test]
fn client_histories_are_linearizable_across_crash_restarts() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut server = StoreServer::start()?;
    let seed = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as u64 | 1;
    eprintln!("linearizability test seed {seed}");
    let recorder: Recorder = Arc::new(Mutex::new((History::new(), Instant::now())));
    for round in 0..=CRASHES {
        runtime.block_on(async {
            let client = server.client_with(ClientOptions {
                call_deadline: Duration::from_secs(10),
                ..ClientOptions::default()
            })?;
            let mut tasks = JoinSet::new();
            for id in 0..CLIENTS {
                let state = seed ^ (u64::try_from(round)? << 32) ^ (id + 1);
                tasks.spawn(run_client(client.clone(), id, state, Arc::clone(&recorder)));
            }
            tokio::time::sleep(LOAD).await;
            if round < CRASHES {
                server.kill()?;
            }
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            anyhow::Ok(())
        })?;
        if round < CRASHES {
            server.restart()?;
        }
    }
    let Ok(recorder) = Arc::try_unwrap(recorder) else {
        bail!("a client task outlived the test");
    };
    let (history, _) = recorder
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let operations = history.into_operations()?;
    let returned = operations
        .iter()
        .filter(|op| op.returned_at().is_some())
        .count();
    eprintln!("{} operations, {returned} returned", operations.len());
    assert!(returned > 100, "too few operations returned: {returned}");
    match check_kv(&operations)? {
        Verdict::Linearizable => Ok(()),
        verdict => bail!("seed {seed}: {verdict}"),
    }
}

fn now(recorder: &Recorder) -> u64 {
    let guard = recorder
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    u64::try_from(guard.1.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Random operations until a call fails (the server died) or the task is aborted. An op whose
/// answer never came stays pending here and is marked unknown below, by the recorder's drop.
async fn run_client(client: StoreClient, id: u64, mut state: u64, recorder: Recorder) {
    loop {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let key = format!("lin/{}", state % KEYS).into_bytes();
        let value = format!("{}", (state >> 8) % VALUES).into_bytes();
        let input = match (state >> 16) % 3 {
            0 => KvInput::Get { key },
            1 => KvInput::Put { key, value },
            _ => KvInput::CompareAndPut {
                key,
                expected: Some(format!("{}", (state >> 24) % VALUES).into_bytes())
                    .filter(|_| !(state >> 32).is_multiple_of(4)),
                value,
            },
        };
        let call = now(&recorder);
        let op = {
            let mut guard = recorder
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            guard.0.invoke(id, input.clone(), call)
        };
        let pending = Pending {
            recorder: Arc::clone(&recorder),
            op: Some(op),
        };
        let Ok(output) = perform(&client, &input).await else {
            return;
        };
        pending.returned(output);
    }
}

/// Marks its op unknown unless told how it returned: an aborted or failed call may or may not
/// have taken effect.
struct Pending {
    recorder: Recorder,
    op: Option<flotilla_lincheck::OpId>,
}

impl Pending {
    fn returned(mut self, output: KvOutput) {
        let at = now(&self.recorder);
        if let Some(op) = self.op.take() {
            let mut guard = self
                .recorder
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = guard.0.returned(op, output, at);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(op) = self.op.take() {
            let mut guard = self
                .recorder
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = guard.0.unknown(op);
        }
    }
}

async fn perform(client: &StoreClient, input: &KvInput) -> Result<KvOutput> {
    Ok(match input {
        KvInput::Get { key } => {
            let range = client.range(RangeRequest::key(key)).await?;
            KvOutput::Get(range.kvs.into_iter().next().map(|kv| kv.value))
        }
        KvInput::Put { key, value } => {
            client.put(key, value, flotilla_store::Expect::Any).await?;
            KvOutput::Put
        }
        KvInput::Delete { key } => {
            let result = client
                .delete_range(flotilla_store::KeyRange::Key(key.clone()))
                .await?;
            let deleted = result
                .results
                .iter()
                .any(|r| matches!(r, OpResult::Delete { deleted } if !deleted.is_empty()));
            KvOutput::Delete { deleted }
        }
        KvInput::CompareAndPut {
            key,
            expected,
            value,
        } => {
            let compare = match expected {
                Some(expected) => Compare::new(
                    key,
                    CompareOp::Equal,
                    CompareTarget::Value(expected.clone()),
                ),
                None => Compare::absent(key),
            };
            let result = client
                .txn(Txn {
                    compares: vec![compare],
                    success: vec![Op::put(key, value)],
                    failure: Vec::new(),
                })
                .await?;
            KvOutput::CompareAndPut {
                succeeded: result.succeeded,
            }
        }
    })
}
