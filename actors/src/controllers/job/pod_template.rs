//! The pods a Job creates: its template, owned by it, and for Indexed Jobs carrying the
//! completion index as Kubernetes puts it — an annotation and a label, the
//! `JOB_COMPLETION_INDEX` variable in every container, and the hostname `<job>-<index>`.

use flotilla_kernel::object::{
    EnvVar, EnvVarSource, JOB_COMPLETION_INDEX, JOB_COMPLETION_INDEX_ENV, Job, Kind,
    ObjectFieldSelector, ObjectMeta, Pod, PodStatus,
};

use crate::controllers::ownership::controller_reference;

/// Generated names are cut so that the random suffix still fits in 63 characters.
const MAX_GENERATE_NAME: usize = 58;

/// A new pod of `job`, for completion `index` in Indexed mode.
pub fn new_pod(job: &Job, index: Option<i32>) -> Pod {
    let template = &job.spec.template;
    let mut pod = Pod {
        api_version: Kind::Pod.api_version().to_owned(),
        kind: Kind::Pod.as_str().to_owned(),
        metadata: ObjectMeta {
            generate_name: generate_name(&job.metadata.name, index),
            namespace: job.metadata.namespace.clone(),
            labels: template.metadata.labels.clone(),
            annotations: template.metadata.annotations.clone(),
            owner_references: vec![controller_reference(Kind::Job, &job.metadata)],
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: PodStatus::default(),
    };
    if let Some(index) = index {
        let value = index.to_string();
        let meta = &mut pod.metadata;
        meta.annotations
            .insert(JOB_COMPLETION_INDEX.to_owned(), value.clone());
        meta.labels.insert(JOB_COMPLETION_INDEX.to_owned(), value);
        for container in pod.spec.all_containers_mut() {
            if !container
                .env
                .iter()
                .any(|e| e.name == JOB_COMPLETION_INDEX_ENV)
            {
                container.env.push(index_env());
            }
        }
        if pod.spec.hostname.is_empty() {
            pod.spec.hostname = format!("{}-{index}", job.metadata.name);
        }
    }
    pod
}

/// `JOB_COMPLETION_INDEX` from the pod's annotation, so the variable and the annotation can
/// never disagree.
fn index_env() -> EnvVar {
    EnvVar {
        name: JOB_COMPLETION_INDEX_ENV.to_owned(),
        value: String::new(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: ObjectFieldSelector::DEFAULT_API_VERSION.to_owned(),
                field_path: format!("metadata.annotations['{JOB_COMPLETION_INDEX}']"),
            }),
            ..EnvVarSource::default()
        }),
    }
}

/// `<job>-` or `<job>-<index>-`, the job name cut so the whole fits `MAX_GENERATE_NAME`.
fn generate_name(job: &str, index: Option<i32>) -> String {
    let appendix = match index {
        Some(index) => format!("-{index}-"),
        None => "-".to_owned(),
    };
    let mut cut = MAX_GENERATE_NAME
        .saturating_sub(appendix.len())
        .min(job.len());
    while !job.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{appendix}", &job[..cut])
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::Container;

    use super::*;

    fn job(name: &str) -> Job {
        let mut job = Job::default();
        job.metadata.name = name.into();
        job.metadata.namespace = "default".into();
        job.metadata.uid = "u1".into();
        job.spec
            .template
            .metadata
            .labels
            .insert("app".into(), "pi".into());
        job.spec.template.spec.containers.push(Container {
            name: "pi".into(),
            image: "perl:5".into(),
            ..Container::default()
        });
        job
    }

    #[test]
    fn a_non_indexed_pod_is_the_template_owned_by_the_job() {
        let pod = new_pod(&job("pi"), None);
        assert_eq!(pod.metadata.generate_name, "pi-");
        assert_eq!(pod.metadata.labels["app"], "pi");
        let owner = pod.metadata.controller_ref().unwrap();
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("Job", "u1"));
        assert_eq!(owner.api_version, "batch/v1");
        assert!(pod.spec.containers[0].env.is_empty());
        assert!(pod.spec.hostname.is_empty());
    }

    #[test]
    fn an_indexed_pod_carries_its_index_everywhere() {
        let pod = new_pod(&job("pi"), Some(3));
        assert_eq!(pod.metadata.generate_name, "pi-3-");
        assert_eq!(pod.metadata.annotations[JOB_COMPLETION_INDEX], "3");
        assert_eq!(pod.metadata.labels[JOB_COMPLETION_INDEX], "3");
        assert_eq!(pod.spec.hostname, "pi-3");
        let env = &pod.spec.containers[0].env[0];
        assert_eq!(env.name, "JOB_COMPLETION_INDEX");
        let field = env.value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
        assert_eq!(
            field.field_path,
            "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        );
    }

    #[test]
    fn long_names_are_cut_before_the_index() {
        let name = "a".repeat(63);
        let generated = new_pod(&job(&name), Some(12)).metadata.generate_name;
        assert_eq!(generated.len(), MAX_GENERATE_NAME);
        assert!(generated.ends_with("a-12-"));
    }
}
