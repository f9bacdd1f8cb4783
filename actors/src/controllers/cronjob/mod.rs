//! The CronJob controller (batch/v1): creates each CronJob's Jobs on its schedule, in its time
//! zone, with Kubernetes' concurrency policies, starting deadline, missed-schedule handling,
//! history limits and suspension, and keeps `status.active`, `lastScheduleTime` and
//! `lastSuccessfulTime`.
//!
//! The key is a CronJob's namespace and name. CronJobs and Jobs are kept in caches fed by the
//! controller's watches, Jobs indexed by the CronJob that controls them. Each reconcile
//! performs the pure [`plan::plan`], records its writes in the caches and asks to be woken at
//! the next scheduled time. The schedule state lives in the CronJob's status, so a restarted
//! control plane picks up where it was (running the most recent missed time).
//!
//! Jobs whose controlling CronJob is gone are deleted here, as a last resort: the garbage
//! collector only follows Deployment and ReplicaSet owners.

pub mod plan;
#[cfg(test)]
mod tests;

use std::time::SystemTime;

use flotilla_kernel::api::{ApiClient, ClientError, ErrorCode, EventType, Watched};
use flotilla_kernel::object::{CronJob, Job, Kind, Resource, Time};

use self::plan::{Effect, plan};
use super::driver::{Action, Controller, Watches};
use super::key::ObjectKey;
use super::ownership::is_terminating;
use crate::informer::Cache;

/// The CronJob controller and its watch-fed caches.
pub struct CronJobController {
    cron_jobs: Cache<CronJob>,
    /// Jobs controlled by a CronJob, indexed by `namespace/cronjob-name`.
    jobs: Cache<Job>,
}

impl Default for CronJobController {
    fn default() -> Self {
        Self {
            cron_jobs: Cache::new(),
            jobs: Cache::indexed(owning_cron_job),
        }
    }
}

impl std::fmt::Debug for CronJobController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CronJobController")
            .field("cron_jobs", &self.cron_jobs.len())
            .field("jobs", &self.jobs.len())
            .finish()
    }
}

/// What the CronJob controller watches.
#[derive(Debug)]
pub enum CronJobEvent {
    CronJob(Box<Watched<CronJob>>),
    Job(Box<Watched<Job>>),
}

/// Why one reconcile of a CronJob failed.
#[derive(Debug, thiserror::Error)]
pub enum CronJobError {
    #[error("creating job {job} for cronjob {key}")]
    CreateJob {
        key: ObjectKey,
        job: String,
        #[source]
        source: ClientError,
    },
    #[error("deleting job {job} of cronjob {key}")]
    DeleteJob {
        key: ObjectKey,
        job: String,
        #[source]
        source: ClientError,
    },
    #[error("updating the status of cronjob {key}")]
    UpdateStatus {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
}

/// `namespace/name` of the CronJob controlling `job`, if one does.
fn owning_cron_job(job: &Job) -> Option<String> {
    let owner = job.metadata.controller_ref()?;
    (owner.kind == Kind::CronJob.as_str() && owner.api_version == Kind::CronJob.api_version())
        .then(|| format!("{}/{}", job.metadata.namespace, owner.name))
}

impl Controller for CronJobController {
    const NAME: &'static str = "cronjob-controller";
    type Key = ObjectKey;
    type Event = CronJobEvent;
    type Error = CronJobError;

    async fn open_watches(watches: &mut Watches<CronJobEvent>) -> Result<(), ClientError> {
        watches
            .open("cronjobs", |c| CronJobEvent::CronJob(Box::new(c)))
            .await?;
        watches
            .open("jobs", |job| CronJobEvent::Job(Box::new(job)))
            .await
    }

    fn route(&mut self, event: CronJobEvent) -> Vec<ObjectKey> {
        match event {
            CronJobEvent::CronJob(w) => {
                let key = ObjectKey::of(&w.object.metadata);
                self.cron_jobs.apply(w.event, w.object);
                vec![key]
            }
            CronJobEvent::Job(w) => {
                let Watched { event, object, .. } = *w;
                let Some(owner) = owning_cron_job(&object) else {
                    return Vec::new();
                };
                let (namespace, name) = owner.split_once('/').unwrap_or_default();
                let key = ObjectKey::new(namespace, name);
                self.jobs.apply(event, object);
                vec![key]
            }
        }
    }

    /// Every CronJob, and every CronJob name that still controls Jobs (a deleted one's go).
    async fn resync(&mut self, _api: &ApiClient) -> Result<Vec<ObjectKey>, ClientError> {
        let mut keys: Vec<ObjectKey> = self
            .cron_jobs
            .iter()
            .map(|c| ObjectKey::of(&c.metadata))
            .collect();
        keys.extend(self.jobs.index_values().filter_map(|value| {
            let (namespace, name) = value.split_once('/')?;
            Some(ObjectKey::new(namespace, name))
        }));
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    async fn reconcile(
        &mut self,
        api: &ApiClient,
        key: &ObjectKey,
    ) -> Result<Action, CronJobError> {
        let cron_job = self.cron_jobs.get(&key.namespace, &key.name).cloned();
        let uid = cron_job
            .as_ref()
            .map(|c| c.metadata.uid.as_str())
            .unwrap_or_default();
        let (own, orphans): (Vec<&Job>, Vec<&Job>) = self
            .jobs
            .indexed_under(&key.to_string())
            .map(AsRef::as_ref)
            .partition(|job: &&Job| job.metadata.controller_ref().is_some_and(|r| r.uid == uid));
        let orphans: Vec<String> = orphans
            .iter()
            .filter(|job| !is_terminating(&job.metadata))
            .map(|job| job.metadata.name.clone())
            .collect();
        let plan = cron_job
            .as_ref()
            .map(|cron_job| plan(cron_job, &own, SystemTime::now()));
        for name in orphans {
            self.delete_job(api, key, &name).await?;
        }
        let (Some(cron_job), Some(plan)) = (cron_job, plan) else {
            return Ok(Action::Done);
        };
        for warning in &plan.warnings {
            tracing::warn!(cronjob = %key, "{warning}");
        }
        for effect in plan.effects {
            self.perform(api, key, &cron_job, effect).await?;
        }
        Ok(plan.requeue_after.map_or(Action::Done, Action::Requeue))
    }
}

impl CronJobController {
    async fn perform(
        &mut self,
        api: &ApiClient,
        key: &ObjectKey,
        cron_job: &CronJob,
        effect: Effect,
    ) -> Result<(), CronJobError> {
        match effect {
            Effect::CreateJob(job) => match api.create(job.as_ref()).await {
                Ok(created) => {
                    tracing::info!(cronjob = %key, job = %created.metadata.name, "created job");
                    self.jobs.apply(EventType::Added, created);
                }
                // Created by an earlier reconcile whose status write was lost.
                Err(e) if e.api_code() == Some(ErrorCode::AlreadyExists) => {}
                Err(source) => {
                    return Err(CronJobError::CreateJob {
                        key: key.clone(),
                        job: job.metadata.name.clone(),
                        source,
                    });
                }
            },
            Effect::DeleteJob(name) => self.delete_job(api, key, &name).await?,
            Effect::UpdateStatus(status) => {
                let mut next = cron_job.clone();
                next.status = *status;
                let updated = api.update_status(&next).await.map_err(|source| {
                    CronJobError::UpdateStatus {
                        key: key.clone(),
                        source,
                    }
                })?;
                self.cron_jobs.apply(EventType::Modified, updated);
            }
        }
        Ok(())
    }

    /// Deletes a Job (one already gone is fine) and marks it terminating in the cache.
    async fn delete_job(
        &mut self,
        api: &ApiClient,
        key: &ObjectKey,
        name: &str,
    ) -> Result<(), CronJobError> {
        match api.delete(Kind::Job, &key.namespace, name, None).await {
            Ok(_) => tracing::info!(cronjob = %key, job = %name, "deleted job"),
            Err(e) if e.api_code() == Some(ErrorCode::NotFound) => {}
            Err(source) => {
                return Err(CronJobError::DeleteJob {
                    key: key.clone(),
                    job: name.to_owned(),
                    source,
                });
            }
        }
        if let Some(job) = self.jobs.get(&key.namespace, name) {
            let mut job = Job::clone(job);
            job.meta_mut().deletion_timestamp = Some(Time::now());
            self.jobs.apply(EventType::Modified, job);
        }
        Ok(())
    }
}
