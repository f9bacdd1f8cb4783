//! The Job controller (batch/v1): runs each Job's pods to completion with Kubernetes'
//! semantics — parallelism and completions, NonIndexed and Indexed modes, the backoff limit
//! (per index too), the pod failure policy, the active deadline, suspension, and deletion
//! `ttlSecondsAfterFinished` after the Job finishes.
//!
//! The key is a Job's namespace and name. Jobs and pods are kept in caches fed by the
//! controller's watches, pods indexed by the Job that controls them, so a reconcile costs the
//! Job's own pods. Each reconcile performs the pure [`plan::plan`] and records its own writes
//! in the caches at once, so the next reconcile does not create a pod twice before the watch
//! reports it.
//!
//! Pods whose controlling Job is gone (deleted, or replaced by a new Job of the same name)
//! are deleted here, as a last resort: the garbage collector only follows Deployment and
//! ReplicaSet owners.

mod failure_policy;
mod indexes;
pub mod plan;
mod pod_template;
#[cfg(test)]
mod tests;

use std::time::SystemTime;

use flotilla_kernel::api::{ApiClient, ClientError, ErrorCode, EventType, Watched};
use flotilla_kernel::object::{Job, Kind, Pod, Resource, Time};

use self::plan::{Effect, plan};
use super::driver::{Action, Controller, Watches};
use super::key::ObjectKey;
use super::ownership::is_terminating;
use crate::informer::Cache;

/// The Job controller and its watch-fed caches.
pub struct JobController {
    jobs: Cache<Job>,
    /// Pods controlled by a Job, indexed by `namespace/job-name`.
    pods: Cache<Pod>,
}

impl Default for JobController {
    fn default() -> Self {
        Self {
            jobs: Cache::new(),
            pods: Cache::indexed(owning_job),
        }
    }
}

impl std::fmt::Debug for JobController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobController")
            .field("jobs", &self.jobs.len())
            .field("pods", &self.pods.len())
            .finish()
    }
}

/// What the Job controller watches.
#[derive(Debug)]
pub enum JobEvent {
    Job(Box<Watched<Job>>),
    Pod(Box<Watched<Pod>>),
}

/// Why one reconcile of a Job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("creating a pod for job {key}")]
    CreatePod {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
    #[error("deleting pod {pod} of job {key}")]
    DeletePod {
        key: ObjectKey,
        pod: String,
        #[source]
        source: ClientError,
    },
    #[error("updating the status of job {key}")]
    UpdateStatus {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
    #[error("deleting job {key}, finished longer than its ttlSecondsAfterFinished")]
    DeleteJob {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
}

/// `namespace/name` of the Job controlling `pod`, if one does.
fn owning_job(pod: &Pod) -> Option<String> {
    let owner = pod.metadata.controller_ref()?;
    (owner.kind == Kind::Job.as_str() && owner.api_version == Kind::Job.api_version())
        .then(|| format!("{}/{}", pod.metadata.namespace, owner.name))
}

impl Controller for JobController {
    const NAME: &'static str = "job-controller";
    type Key = ObjectKey;
    type Event = JobEvent;
    type Error = JobError;

    async fn open_watches(watches: &mut Watches<JobEvent>) -> Result<(), ClientError> {
        watches
            .open("jobs", |job| JobEvent::Job(Box::new(job)))
            .await?;
        watches
            .open("pods", |pod| JobEvent::Pod(Box::new(pod)))
            .await
    }

    fn route(&mut self, event: JobEvent) -> Vec<ObjectKey> {
        match event {
            JobEvent::Job(w) => {
                let key = ObjectKey::of(&w.object.metadata);
                self.jobs.apply(w.event, w.object);
                vec![key]
            }
            JobEvent::Pod(w) => {
                let Watched { event, object, .. } = *w;
                let Some(owner) = object.metadata.controller_ref() else {
                    return Vec::new();
                };
                if owning_job(&object).is_none() {
                    return Vec::new();
                }
                let key = ObjectKey::new(object.metadata.namespace.clone(), owner.name.clone());
                self.pods.apply(event, object);
                vec![key]
            }
        }
    }

    /// Every Job, and every Job name that still controls pods (a deleted Job's go).
    async fn resync(&mut self, _api: &ApiClient) -> Result<Vec<ObjectKey>, ClientError> {
        let mut keys: Vec<ObjectKey> = self
            .jobs
            .iter()
            .map(|job| ObjectKey::of(&job.metadata))
            .collect();
        keys.extend(self.pods.index_values().filter_map(|value| {
            let (namespace, name) = value.split_once('/')?;
            Some(ObjectKey::new(namespace, name))
        }));
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    async fn reconcile(&mut self, api: &ApiClient, key: &ObjectKey) -> Result<Action, JobError> {
        let job = self.jobs.get(&key.namespace, &key.name).cloned();
        let uid = job
            .as_ref()
            .map(|j| j.metadata.uid.as_str())
            .unwrap_or_default();
        let (own, orphans): (Vec<&Pod>, Vec<&Pod>) = self
            .pods
            .indexed_under(&key.to_string())
            .map(AsRef::as_ref)
            .partition(|pod: &&Pod| pod.metadata.controller_ref().is_some_and(|r| r.uid == uid));
        let orphans: Vec<String> = orphans
            .iter()
            .filter(|pod| !is_terminating(&pod.metadata))
            .map(|pod| pod.metadata.name.clone())
            .collect();
        let plan = job.as_ref().map(|job| plan(job, &own, SystemTime::now()));
        for name in orphans {
            self.delete_pod(api, key, &name).await?;
        }
        let (Some(job), Some(plan)) = (job, plan) else {
            return Ok(Action::Done);
        };
        for effect in plan.effects {
            self.perform(api, key, &job, effect).await?;
        }
        Ok(plan.requeue_after.map_or(Action::Done, Action::Requeue))
    }
}

impl JobController {
    async fn perform(
        &mut self,
        api: &ApiClient,
        key: &ObjectKey,
        job: &Job,
        effect: Effect,
    ) -> Result<(), JobError> {
        match effect {
            Effect::CreatePod(pod) => {
                let created =
                    api.create(pod.as_ref())
                        .await
                        .map_err(|source| JobError::CreatePod {
                            key: key.clone(),
                            source,
                        })?;
                tracing::info!(job = %key, pod = %created.metadata.name, "created pod");
                self.pods.apply(EventType::Added, created);
            }
            Effect::DeletePod(name) => self.delete_pod(api, key, &name).await?,
            Effect::UpdateStatus(status) => {
                let mut next = job.clone();
                next.status = *status;
                let updated =
                    api.update_status(&next)
                        .await
                        .map_err(|source| JobError::UpdateStatus {
                            key: key.clone(),
                            source,
                        })?;
                self.jobs.apply(EventType::Modified, updated);
            }
            Effect::DeleteJob => {
                match api.delete(Kind::Job, &key.namespace, &key.name, None).await {
                    Ok(_) => tracing::info!(job = %key, "deleted finished job after its ttl"),
                    Err(e) if e.api_code() == Some(ErrorCode::NotFound) => {}
                    Err(source) => {
                        return Err(JobError::DeleteJob {
                            key: key.clone(),
                            source,
                        });
                    }
                }
                self.jobs.apply(EventType::Deleted, job.clone());
            }
        }
        Ok(())
    }

    /// Deletes a pod (one already gone is fine) and marks it terminating in the cache.
    async fn delete_pod(
        &mut self,
        api: &ApiClient,
        key: &ObjectKey,
        name: &str,
    ) -> Result<(), JobError> {
        match api.delete(Kind::Pod, &key.namespace, name, None).await {
            Ok(_) => tracing::info!(job = %key, pod = %name, "deleted pod"),
            Err(e) if e.api_code() == Some(ErrorCode::NotFound) => {}
            Err(source) => {
                return Err(JobError::DeletePod {
                    key: key.clone(),
                    pod: name.to_owned(),
                    source,
                });
            }
        }
        if let Some(pod) = self.pods.get(&key.namespace, name) {
            let mut pod = Pod::clone(pod);
            pod.meta_mut().deletion_timestamp = Some(Time::now());
            self.pods.apply(EventType::Modified, pod);
        }
        Ok(())
    }
}
