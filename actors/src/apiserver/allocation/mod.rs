//! ClusterIPs and node ports: each Service holds its values as keys of their own in the store
//! (`/registry/ranges/serviceips/<ip>`, `/registry/ranges/servicenodeports/<port>`, as
//! Kubernetes' IPAddress objects), written in the same transaction as the Service, on the
//! condition that they are free, and deleted with it. So no two Services ever hold one value
//! — across restarts of the API server, and between concurrent writes, which share the store's
//! group commit as any other write and are never serialized behind each other.
//!
//! A value the Service leaves to the API server is picked at random above the range's static
//! band (see `ranges`); a pick someone else took makes the write fail, and the next attempt
//! picks again, knowing more — after two such attempts, knowing every claim of the store, so
//! that an exhausted range is reported as Kubernetes reports it ("range is full"). A value
//! the Service asks for that another holds is refused ("provided port is already allocated").
//!
//! The pure parts: `ranges` (the configured ranges and the order of picks), `plan` (what one
//! write claims and releases), `update` (what an update keeps of the stored Service).

mod plan;
mod ranges;
mod update;

#[cfg(test)]
mod tests;

use serde_json::json;

use flotilla_kernel::api::{ApiError, ErrorCode};
use flotilla_kernel::object::{Kind, Resource, Service};
use flotilla_store::Expect;

pub use plan::Ranges;
pub use ranges::{NodePortRange, ServiceCidr, ServiceRangeError};
pub use update::{carry_allocations, check_update};

use plan::{AllocationError, Claim, Taken, held, plan};

use super::stored::{ClaimedWrite, Stored, Versioned, already_exists, conflict};

/// Writes of one Service before giving up on picks others keep taking first.
const ATTEMPTS: usize = 8;
/// Failed writes after which the next pick reads every claim rather than guessing.
const GUESSES: usize = 2;

/// Creates `service`, claiming its ClusterIP and node ports, picking those it leaves out.
pub async fn create(stored: &Stored, service: &Service) -> Result<Versioned, ApiError> {
    write(stored, None, service, Expect::Absent).await
}

/// Replaces the Service stored at `mod_revision` with `service`: claims what it newly holds
/// (picking node ports it leaves out), releases what it no longer holds.
pub async fn replace(
    stored: &Stored,
    service: &Service,
    mod_revision: u64,
) -> Result<Versioned, ApiError> {
    let meta = &service.metadata;
    let current = stored
        .get(Kind::Service, &meta.namespace, &meta.name)
        .await?
        .filter(|stored| stored.mod_revision == mod_revision)
        .and_then(|stored| Service::from_object(stored.object))
        .ok_or_else(|| conflict(Kind::Service, &meta.name))?;
    write(
        stored,
        Some(&current),
        service,
        Expect::ModRevision(mod_revision),
    )
    .await
}

/// Deletes `service`, as stored at `mod_revision`, and releases what it holds.
pub async fn remove(stored: &Stored, service: &Service, mod_revision: u64) -> Result<(), ApiError> {
    let release: Vec<Vec<u8>> = held(service).iter().map(Claim::key).collect();
    stored
        .remove_releasing(&service.clone().into_object(), mod_revision, &release)
        .await
}

async fn write(
    stored: &Stored,
    current: Option<&Service>,
    service: &Service,
    expect: Expect,
) -> Result<Versioned, ApiError> {
    let mut taken = Taken::default();
    for attempt in 1..=ATTEMPTS {
        let mut next = service.clone();
        let plan = plan(stored.ranges(), current, &mut next, &taken, random())
            .map_err(|error| refused(&next, error))?;
        let holder = holder(&next);
        let claim: Vec<(Vec<u8>, Vec<u8>)> = plan
            .claim
            .keys()
            .map(|claim| (claim.key(), holder.clone()))
            .collect();
        let release: Vec<Vec<u8>> = plan.release.iter().map(Claim::key).collect();
        let object = next.clone().into_object();
        match stored
            .write_claiming(&object, expect.clone(), &claim, &release)
            .await?
        {
            ClaimedWrite::Written(written) => return Ok(*written),
            ClaimedWrite::ObjectChanged => {
                return Err(match expect {
                    Expect::Absent => already_exists(&object),
                    _ => conflict(Kind::Service, &next.metadata.name),
                });
            }
            ClaimedWrite::Taken(keys) => {
                for claim in keys.iter().filter_map(|key| Claim::from_key(key)) {
                    let refusal = plan.claim.get(&claim).and_then(|origin| {
                        AllocationError::already_allocated(&next, claim, *origin)
                    });
                    if let Some(error) = refusal {
                        return Err(refused(&next, error));
                    }
                    taken.claims.insert(claim);
                }
                if attempt >= GUESSES {
                    taken = every_claim(stored).await?;
                }
            }
        }
    }
    Err(ApiError::new(
        ErrorCode::Conflict,
        format!(
            "Service {:?}: other Services took the ClusterIP or node ports picked for it {ATTEMPTS} \
             times in a row; try again",
            service.metadata.name
        ),
    ))
}

/// Every claim in the store.
async fn every_claim(stored: &Stored) -> Result<Taken, ApiError> {
    let prefixes = Claim::prefixes().map(<[u8]>::to_vec).to_vec();
    let keys = stored.keys_under(prefixes).await?;
    Ok(Taken {
        claims: keys.iter().filter_map(|key| Claim::from_key(key)).collect(),
        complete: true,
    })
}

/// What a claim key holds: the Service it belongs to, for whoever reads the store.
fn holder(service: &Service) -> Vec<u8> {
    let meta = &service.metadata;
    json!({"kind": "Service", "namespace": meta.namespace, "name": meta.name, "uid": meta.uid})
        .to_string()
        .into_bytes()
}

/// Kubernetes' errors: a refused value makes the Service invalid; a full range is an internal
/// error (the Service is fine, the cluster is out of values).
fn refused(service: &Service, error: AllocationError) -> ApiError {
    if error.is_range_full() {
        ApiError::internal(format!("Internal error occurred: {error}"))
    } else {
        ApiError::new(
            ErrorCode::Invalid,
            format!("Service {:?} is invalid: {error}", service.metadata.name),
        )
    }
}

/// A random number for picks, from the system's generator (through UUIDv4).
fn random() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}
