//! `flotilla create job NAME --from=cronjob/CRONJOB`: runs a CronJob's Job now, as kubectl
//! does — the CronJob's job template under the given name, annotated
//! `cronjob.kubernetes.io/instantiate: manual` and controlled by the CronJob.

use std::process::ExitCode;

use flotilla_kernel::api::ApiClient;
use flotilla_kernel::object::{CronJob, INSTANTIATE_ANNOTATION, Job, Kind, job_from_template};

use super::{lookup, namespace, resource_arg, terminal};

/// What `create` makes.
#[derive(Debug, clap::Subcommand)]
pub enum CreateCommand {
    /// Create a Job from a CronJob's template: `create job NAME --from=cronjob/CRONJOB`.
    Job(CreateJobArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateJobArgs {
    /// The new Job's name.
    name: String,
    /// The CronJob whose template to use, as `cronjob/NAME`.
    #[arg(long, required = true, value_name = "cronjob/NAME")]
    from: String,
    /// The namespace (default: "default").
    #[arg(short, long)]
    namespace: Option<String>,
}

/// `--from` does not name a CronJob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--from={from:?}: from must be an existing cronjob, given as cronjob/NAME")]
pub struct NotACronJob {
    from: String,
}

pub async fn run(command: CreateCommand, api: &ApiClient) -> anyhow::Result<ExitCode> {
    let CreateCommand::Job(args) = command;
    let source = cron_job_name(&args.from)?;
    let namespace = namespace::for_kind(Kind::CronJob, args.namespace.as_deref());
    let cron_job: CronJob = api
        .get(namespace, &source)
        .await
        .map_err(|error| lookup::worded(error, Kind::CronJob, &source))?;
    let created = api.create(&manual_job(&cron_job, &args.name)).await?;
    terminal::print_line(format!(
        "{}/{} created",
        resource_arg::type_name(Kind::Job),
        created.metadata.name
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// The CronJob's name from `cronjob/NAME` (any spelling of the kind).
fn cron_job_name(from: &str) -> Result<String, NotACronJob> {
    match resource_arg::parse_kind_name(from) {
        Ok((Kind::CronJob, name)) => Ok(name),
        _ => Err(NotACronJob {
            from: from.to_owned(),
        }),
    }
}

/// The Job kubectl makes from `cron_job` for `create job NAME --from`.
fn manual_job(cron_job: &CronJob, name: &str) -> Job {
    let annotation = (INSTANTIATE_ANNOTATION.to_owned(), "manual".to_owned());
    job_from_template(cron_job, name, [annotation])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_must_name_a_cron_job() {
        for good in ["cronjob/hello", "cj/hello", "cronjobs.batch/hello"] {
            assert_eq!(cron_job_name(good), Ok("hello".to_owned()), "{good}");
        }
        for bad in ["hello", "deployment/web", "cronjob/", "cronjob/a/b"] {
            assert!(cron_job_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_manual_job_is_the_template_annotated_and_owned() {
        let mut cron_job = CronJob::default();
        cron_job.metadata.name = "hello".into();
        cron_job.metadata.namespace = "default".into();
        cron_job.metadata.uid = "c1".into();
        cron_job.spec.job_template.spec.completions = Some(2);
        let job = manual_job(&cron_job, "hello-now");
        assert_eq!(job.metadata.name, "hello-now");
        assert_eq!(job.metadata.annotations[INSTANTIATE_ANNOTATION], "manual");
        assert_eq!(job.metadata.controller_ref().unwrap().uid, "c1");
        assert_eq!(job.spec.completions, Some(2));
    }
}
