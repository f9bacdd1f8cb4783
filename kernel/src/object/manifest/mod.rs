//! Manifest reading: YAML files of one or more Kubernetes-style documents into `Object`s, with
//! errors an operator can act on (`deploy.yaml:12:3: unknown field spec.replica`).
//!
//! Each document is read on its own (see `documents`), so one bad document does not hide the
//! others, and is read in three passes: as a generic tree with locations (syntax errors, `kind`
//! and `apiVersion`), as the typed object (type errors) and, comparing the two, for fields the
//! type does not know. Line numbers are those of the whole file.

mod documents;
mod tree;
mod unknown_fields;

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_saphyr::{Location, MessageFormatter, Spanned, UserMessageFormatter};
use thiserror::Error;

use self::documents::{Document, split_documents};
use self::tree::{YamlNode, field_at};
use self::unknown_fields::unknown_fields;
use super::config_map::{ConfigMap, Secret};
use super::cron_job::CronJob;
use super::daemon_set::DaemonSet;
use super::deployment::Deployment;
use super::endpoint_slice::EndpointSlice;
use super::job::Job;
use super::kind::{Kind, UnknownKind};
use super::lease::Lease;
use super::namespace::Namespace;
use super::network_policy::NetworkPolicy;
use super::node::Node;
use super::pod::Pod;
use super::pod_disruption_budget::PodDisruptionBudget;
use super::priority_class::PriorityClass;
use super::replica_set::ReplicaSet;
use super::resource::Object;
use super::runtime_class::RuntimeClass;
use super::service::Service;
use super::stateful_set::StatefulSet;

/// Versions Kubernetes once served for a kind and removed: the version, the kind, and the
/// Kubernetes release that removed it.
const REMOVED_API_VERSIONS: [(&str, Kind, &str); 1] = [("batch/v1beta1", Kind::CronJob, "1.25")];

/// A place in a manifest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePosition {
    /// The file name, or `<stdin>`.
    pub file: String,
    /// One-based line in the whole file.
    pub line: u64,
    /// One-based column.
    pub column: u64,
}

impl fmt::Display for SourcePosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Why a manifest document is not an object. Display starts with `file:line:column:`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ManifestError {
    /// The text is not well-formed YAML.
    #[error("{at}: {message}")]
    Malformed { at: SourcePosition, message: String },
    /// The document is a scalar or a list rather than a mapping of fields.
    #[error("{at}: expected a mapping with apiVersion, kind, metadata and spec")]
    NotAMapping { at: SourcePosition },
    /// The document has no `kind` field.
    #[error(
        "{at}: the document has no kind; supported kinds: {}",
        supported_kinds()
    )]
    MissingKind { at: SourcePosition },
    /// The `kind` field names no supported kind.
    #[error("{at}: {unknown}")]
    UnknownKind {
        at: SourcePosition,
        unknown: UnknownKind,
    },
    /// The document has no `apiVersion` field.
    #[error("{at}: {kind} needs apiVersion {:?}", kind.api_version())]
    MissingApiVersion { at: SourcePosition, kind: Kind },
    /// The `apiVersion` is not the one of the kind.
    #[error("{at}: {kind} has apiVersion {found:?}, expected {:?}", kind.api_version())]
    WrongApiVersion {
        at: SourcePosition,
        kind: Kind,
        found: String,
    },
    /// The `apiVersion` is one Kubernetes served for the kind once but no longer does.
    #[error(
        "{at}: {kind} {found} is no longer served (removed in Kubernetes {removed_in}); use \
         apiVersion {:?}",
        kind.api_version()
    )]
    RemovedApiVersion {
        at: SourcePosition,
        kind: Kind,
        found: String,
        removed_in: &'static str,
    },
    /// A field has the wrong type or an invalid value (`replicas: three`).
    #[error("{at}: {message}")]
    Invalid { at: SourcePosition, message: String },
    /// Fields the kind does not have, usually typos.
    #[error("{}", describe_unknown_fields(fields))]
    UnknownFields {
        fields: Vec<(SourcePosition, String)>,
    },
}

/// Parses every non-empty document of `text`, in order. `source` names the file in errors
/// (a path, or `<stdin>`).
pub fn parse_manifests(source: &str, text: &str) -> Vec<Result<Object, ManifestError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    split_documents(text)
        .iter()
        .filter(|document| document.has_content)
        .filter_map(|document| parse_document(source, document))
        .collect()
}

/// Reads one document; `None` when it turns out to be empty (`~`).
fn parse_document(source: &str, document: &Document<'_>) -> Option<Result<Object, ManifestError>> {
    let text = document.text_at_original_lines();
    let fallback = SourcePosition {
        file: source.to_owned(),
        line: u64::try_from(document.first_line).map_or(u64::MAX, |line| line + 1),
        column: 1,
    };
    let reader = DocumentReader {
        source,
        text: &text,
        fallback,
    };
    let root: Spanned<YamlNode> = match serde_saphyr::from_str(&text) {
        Ok(root) => root,
        Err(error) => {
            return Some(Err(ManifestError::Malformed {
                at: reader.error_position(&error),
                message: saphyr_message(&error),
            }));
        }
    };
    if matches!(root.value, YamlNode::Scalar(serde_json::Value::Null)) {
        return None;
    }
    Some(reader.read(&root))
}

/// The context errors of one document are reported in.
struct DocumentReader<'a> {
    source: &'a str,
    /// The document's text, padded to the original line numbers.
    text: &'a str,
    /// Where the document starts, for errors saphyr gives no location for.
    fallback: SourcePosition,
}

impl DocumentReader<'_> {
    fn read(&self, root: &Spanned<YamlNode>) -> Result<Object, ManifestError> {
        if !matches!(root.value, YamlNode::Map(_)) {
            return Err(ManifestError::NotAMapping {
                at: self.position(root.referenced),
            });
        }
        let kind = self.kind(root)?;
        self.check_api_version(root, kind)?;
        match kind {
            Kind::Namespace => self.typed::<Namespace>(root).map(Object::Namespace),
            Kind::Node => self.typed::<Node>(root).map(Object::Node),
            Kind::Pod => self.typed::<Pod>(root).map(Object::Pod),
            Kind::ReplicaSet => self.typed::<ReplicaSet>(root).map(Object::ReplicaSet),
            Kind::Deployment => self.typed::<Deployment>(root).map(Object::Deployment),
            Kind::ConfigMap => self.typed::<ConfigMap>(root).map(Object::ConfigMap),
            Kind::Secret => self.typed::<Secret>(root).map(Object::Secret),
            Kind::Lease => self.typed::<Lease>(root).map(Object::Lease),
            Kind::RuntimeClass => self.typed::<RuntimeClass>(root).map(Object::RuntimeClass),
            Kind::Service => self.typed::<Service>(root).map(Object::Service),
            Kind::EndpointSlice => self.typed::<EndpointSlice>(root).map(Object::EndpointSlice),
            Kind::NetworkPolicy => self.typed::<NetworkPolicy>(root).map(Object::NetworkPolicy),
            Kind::PriorityClass => self.typed::<PriorityClass>(root).map(Object::PriorityClass),
            Kind::PodDisruptionBudget => self
                .typed::<PodDisruptionBudget>(root)
                .map(Object::PodDisruptionBudget),
            Kind::Job => self.typed::<Job>(root).map(Object::Job),
            Kind::CronJob => self.typed::<CronJob>(root).map(Object::CronJob),
            Kind::DaemonSet => self.typed::<DaemonSet>(root).map(Object::DaemonSet),
            Kind::StatefulSet => self.typed::<StatefulSet>(root).map(Object::StatefulSet),
        }
    }

    /// The kind named exactly as Kubernetes spells it (`Deployment`).
    fn kind(&self, root: &Spanned<YamlNode>) -> Result<Kind, ManifestError> {
        let Some(field) = root.value.get("kind") else {
            return Err(ManifestError::MissingKind {
                at: self.position(root.referenced),
            });
        };
        let name = field.value.as_text().unwrap_or_default();
        Kind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| ManifestError::UnknownKind {
                at: self.position(field.referenced),
                unknown: UnknownKind { name },
            })
    }

    fn check_api_version(&self, root: &Spanned<YamlNode>, kind: Kind) -> Result<(), ManifestError> {
        let Some(field) = root.value.get("apiVersion") else {
            return Err(ManifestError::MissingApiVersion {
                at: self.position(root.referenced),
                kind,
            });
        };
        let found = field.value.as_text().unwrap_or_default();
        let removed = REMOVED_API_VERSIONS
            .iter()
            .find(|(version, removed_kind, _)| *version == found && *removed_kind == kind);
        if found == kind.api_version() {
            Ok(())
        } else if let Some((_, _, removed_in)) = removed {
            Err(ManifestError::RemovedApiVersion {
                at: self.position(field.referenced),
                kind,
                found,
                removed_in,
            })
        } else {
            Err(ManifestError::WrongApiVersion {
                at: self.position(field.referenced),
                kind,
                found,
            })
        }
    }

    /// Decodes the document as `T`, then rejects fields `T` does not have.
    fn typed<T: DeserializeOwned + Serialize>(
        &self,
        root: &Spanned<YamlNode>,
    ) -> Result<T, ManifestError> {
        let typed: T =
            serde_saphyr::from_str(self.text).map_err(|error| ManifestError::Invalid {
                at: self.error_position(&error),
                message: describe_type_error(root, &error),
            })?;
        let round_trip = serde_json::to_value(&typed).map_err(|error| ManifestError::Invalid {
            at: self.position(root.referenced),
            message: error.to_string(),
        })?;
        let unknown = unknown_fields(&root.value, &round_trip);
        if unknown.is_empty() {
            return Ok(typed);
        }
        Err(ManifestError::UnknownFields {
            fields: unknown
                .into_iter()
                .map(|field| (self.position(field.location), field.path))
                .collect(),
        })
    }

    fn position(&self, location: Location) -> SourcePosition {
        if location == Location::UNKNOWN {
            return self.fallback.clone();
        }
        SourcePosition {
            file: self.source.to_owned(),
            line: location.line(),
            column: location.column(),
        }
    }

    fn error_position(&self, error: &serde_saphyr::Error) -> SourcePosition {
        error
            .location()
            .map_or_else(|| self.fallback.clone(), |location| self.position(location))
    }
}

/// saphyr's message for `error` without its location suffix (the caller puts the location
/// first), on one line and free of control characters from the input.
fn saphyr_message(error: &serde_saphyr::Error) -> String {
    UserMessageFormatter
        .format_message(error.without_snippet())
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// saphyr's message prefixed with the field it is about, and the offending value when the
/// message does not quote it (`spec.replicas: invalid i32 (got "three")`).
fn describe_type_error(root: &Spanned<YamlNode>, error: &serde_saphyr::Error) -> String {
    let message = saphyr_message(error);
    let Some((path, node)) = error
        .location()
        .and_then(|location| field_at(root, location))
    else {
        return message;
    };
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    };
    match node.as_text() {
        Some(text) if !message.contains(&text) => format!("{prefix}{message} (got {text:?})"),
        _ => format!("{prefix}{message}"),
    }
}

fn supported_kinds() -> String {
    Kind::ALL.map(Kind::as_str).join(", ")
}

fn describe_unknown_fields(fields: &[(SourcePosition, String)]) -> String {
    fields
        .iter()
        .map(|(at, path)| format!("{at}: unknown field {path}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::intstr::IntOrString;
    use crate::object::pod_spec::RestartPolicy;
    use crate::object::quantity::Quantity;
    use crate::object::resource::Resource;

    const DEPLOYMENT: &str = "\
# web tier
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  strategy:
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 25%
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: web:1.2
        args: [--port, \"8080\"]
        env:
        - name: MODE
          value: prod
        resources:
          requests:
            cpu: 0.5
            memory: 128Mi
          limits:
            cpu: 1
";

    fn only_error(results: Vec<Result<Object, ManifestError>>) -> ManifestError {
        assert_eq!(results.len(), 1, "{results:?}");
        results.into_iter().next().unwrap().unwrap_err()
    }

    #[test]
    fn reads_a_deployment() {
        let results = parse_manifests("web.yaml", DEPLOYMENT);
        assert_eq!(results.len(), 1);
        let object = results.into_iter().next().unwrap().unwrap();
        let deployment = Deployment::from_object(object).unwrap();
        assert_eq!(deployment.metadata.name, "web");
        assert_eq!(deployment.spec.replicas, Some(3));
        let rolling = deployment.spec.strategy.rolling_update.unwrap();
        assert_eq!(rolling.max_surge, Some(IntOrString::Int(1)));
        assert_eq!(
            rolling.max_unavailable,
            Some(IntOrString::String("25%".into()))
        );
        let container = &deployment.spec.template.spec.containers[0];
        assert_eq!(container.args, ["--port", "8080"]);
        assert_eq!(container.env[0].value, "prod");
        assert_eq!(container.resources.requests["cpu"], Quantity::from("0.5"));
        assert_eq!(container.resources.limits["cpu"], Quantity::from("1"));
        assert_eq!(
            deployment.spec.template.spec.restart_policy,
            RestartPolicy::Always
        );
    }

    #[test]
    fn reads_every_document_and_skips_empty_ones() {
        let text = "---\n# nothing here\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n---\n~\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: i}]\n";
        let kinds: Vec<Kind> = parse_manifests("all.yaml", text)
            .into_iter()
            .map(|result| result.unwrap().kind())
            .collect();
        assert_eq!(kinds, [Kind::Namespace, Kind::Pod]);
        assert!(parse_manifests("empty.yaml", "").is_empty());
        assert!(parse_manifests("empty.yaml", "# just a comment\n").is_empty());
    }

    #[test]
    fn a_bad_document_does_not_hide_the_others() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: a\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n";
        let results = parse_manifests("mixed.yaml", text);
        assert_eq!(results.len(), 2);
        assert!(matches!(results[0], Err(ManifestError::Malformed { .. })));
        assert_eq!(results[1].as_ref().unwrap().meta().name, "ok");
    }

    #[test]
    fn malformed_yaml_reports_file_line_and_column() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n";
        let results = parse_manifests("bad.yaml", text);
        let error = results.into_iter().nth(1).unwrap().unwrap_err();
        let ManifestError::Malformed { at, message } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(at.file, "bad.yaml");
        assert!(
            at.line >= 8,
            "line {} is of the whole file: {error}",
            at.line
        );
        assert!(!message.is_empty());
        assert!(
            error
                .to_string()
                .starts_with(&format!("bad.yaml:{}:", at.line))
        );
    }

    #[test]
    fn missing_and_unknown_kinds_list_the_supported_ones() {
        let error = only_error(parse_manifests(
            "a.yaml",
            "\n\napiVersion: v1\nmetadata: {}\n",
        ));
        assert!(matches!(error, ManifestError::MissingKind { .. }));
        let message = error.to_string();
        assert!(
            message.starts_with("a.yaml:3:1: the document has no kind"),
            "{message}"
        );
        assert!(
            message.contains(
                "Namespace, Node, Pod, ReplicaSet, Deployment, ConfigMap, Secret, Lease, \
                 RuntimeClass, Service, EndpointSlice, NetworkPolicy, PriorityClass, \
                 PodDisruptionBudget, Job, CronJob, DaemonSet, StatefulSet"
            ),
            "{message}"
        );

        let error = only_error(parse_manifests(
            "a.yaml",
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\n",
        ));
        assert_eq!(
            error.to_string(),
            "a.yaml:2:7: unknown kind \"Ingress\"; supported kinds: Namespace, Node, Pod, \
             ReplicaSet, Deployment, ConfigMap, Secret, Lease, RuntimeClass, Service, \
             EndpointSlice, NetworkPolicy, PriorityClass, PodDisruptionBudget, Job, CronJob, \
             DaemonSet, StatefulSet"
        );
    }

    #[test]
    fn a_removed_api_version_says_which_one_to_use() {
        let error = only_error(parse_manifests(
            "cron.yaml",
            "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: hello}\n",
        ));
        assert_eq!(
            error.to_string(),
            "cron.yaml:1:13: CronJob batch/v1beta1 is no longer served (removed in Kubernetes \
             1.25); use apiVersion \"batch/v1\""
        );
    }

    #[test]
    fn api_version_must_match_the_kind() {
        let error = only_error(parse_manifests(
            "d.yaml",
            "apiVersion: v1\nkind: Deployment\n",
        ));
        assert_eq!(
            error.to_string(),
            "d.yaml:1:13: Deployment has apiVersion \"v1\", expected \"apps/v1\""
        );
        let error = only_error(parse_manifests("p.yaml", "kind: Pod\n"));
        assert_eq!(error.to_string(), "p.yaml:1:1: Pod needs apiVersion \"v1\"");
    }

    #[test]
    fn type_errors_point_at_the_value() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\napiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: three\n";
        let results = parse_manifests("t.yaml", text);
        let error = results.into_iter().nth(1).unwrap().unwrap_err();
        let ManifestError::Invalid { at, message } = &error else {
            panic!("{error:?}");
        };
        assert_eq!((at.line, at.column), (8, 13), "{error}");
        assert!(message.starts_with("spec.replicas: "), "{message}");
        assert!(message.contains("\"three\""), "{message}");

        let text = "apiVersion: v1\nkind: Pod\nspec:\n  restartPolicy: Sometimes\n";
        let error = only_error(parse_manifests("p.yaml", text));
        let message = error.to_string();
        assert!(
            message.starts_with("p.yaml:4:18: spec.restartPolicy: unknown variant"),
            "{message}"
        );
    }

    #[test]
    fn the_kubernetes_documentations_nginx_deployment_is_read_whole() {
        // https://kubernetes.io/docs/concepts/workloads/controllers/deployment/
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: nginx-deployment\n  \
                    labels:\n    app: nginx\nspec:\n  replicas: 3\n  selector:\n    matchLabels:\n      \
                    app: nginx\n  template:\n    metadata:\n      labels:\n        app: nginx\n    \
                    spec:\n      containers:\n      - name: nginx\n        image: nginx:1.14.2\n        \
                    imagePullPolicy: IfNotPresent\n        ports:\n        - containerPort: 80\n";
        let mut results = parse_manifests("nginx.yaml", text);
        let Object::Deployment(deployment) = results.remove(0).unwrap() else {
            panic!("a Deployment");
        };
        let container = &deployment.spec.template.spec.containers[0];
        assert_eq!(container.ports[0].container_port, 80);
        assert_eq!(container.image_pull_policy, "IfNotPresent");
    }

    #[test]
    fn unknown_fields_are_named_by_path() {
        let text = DEPLOYMENT.replace("  replicas: 3", "  replica: 3").replace(
            "        image: web:1.2",
            "        image: web:1.2\n        imagePullPolicyy: Always",
        );
        let error = only_error(parse_manifests("web.yaml", &text));
        assert_eq!(
            error.to_string(),
            "web.yaml:9:3: unknown field spec.replica; web.yaml:25:9: unknown field \
             spec.template.spec.containers[0].imagePullPolicyy"
        );
    }

    #[test]
    fn empty_unknown_fields_are_tolerated() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  creationTimestamp: null\nspec:\n  containers: [{name: c, image: i}]\n  dnsPolicy: ''\nstatus: {}\n";
        let object = only_ok(parse_manifests("p.yaml", text));
        assert_eq!(object.meta().name, "p");
    }

    const POD_WITH_PROBES: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  initContainers:
  - name: migrate
    image: web:1.2
    command: [/bin/migrate]
  - name: proxy
    image: proxy:2
    restartPolicy: Always
    ports:
    - name: admin
      containerPort: 9901
    readinessProbe:
      tcpSocket:
        port: admin
        host: 127.0.0.1
  containers:
  - name: web
    image: web:1.2
    tty: true
    stdin: true
    stdinOnce: true
    terminationMessagePath: /tmp/message
    terminationMessagePolicy: FallbackToLogsOnError
    ports:
    - name: http
      containerPort: 8080
    env:
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: APP
      valueFrom:
        fieldRef:
          apiVersion: v1
          fieldPath: metadata.labels['app']
    - name: MEMORY_LIMIT_MI
      valueFrom:
        resourceFieldRef:
          containerName: web
          resource: limits.memory
          divisor: 1Mi
    livenessProbe:
      httpGet:
        path: /healthz
        port: http
        scheme: HTTPS
        httpHeaders:
        - name: X-Probe
          value: liveness
      initialDelaySeconds: 5
      periodSeconds: 20
      failureThreshold: 5
      terminationGracePeriodSeconds: 10
    readinessProbe:
      grpc:
        port: 9090
        service: ready
      timeoutSeconds: 3
      successThreshold: 2
    startupProbe:
      exec:
        command: [cat, /tmp/started]
    lifecycle:
      postStart:
        httpGet:
          port: 8080
      preStop:
        sleep:
          seconds: 5
";

    #[test]
    fn a_pod_with_probes_hooks_sidecars_and_the_downward_api_is_read_defaulted_and_valid() {
        use crate::object::defaults::apply_defaults;
        use crate::object::pod::Pod;
        use crate::object::pod_spec::{ObjectFieldSelector, ResourceFieldSelector};
        use crate::object::probe::{
            ExecAction, GrpcAction, HttpGetAction, HttpHeader, Probe, SleepAction, TcpSocketAction,
        };
        use crate::object::validation::validate;

        let mut object = only_ok(parse_manifests("web.yaml", POD_WITH_PROBES));
        let pod = Pod::from_object(object.clone()).unwrap();
        let [migrate, proxy] = &pod.spec.init_containers[..] else {
            panic!("two init containers: {:?}", pod.spec.init_containers);
        };
        assert!(!migrate.is_sidecar());
        assert!(proxy.is_sidecar());
        assert_eq!(
            proxy.readiness_probe.as_ref().unwrap().tcp_socket,
            Some(TcpSocketAction {
                port: IntOrString::String("admin".into()),
                host: "127.0.0.1".into(),
            })
        );
        let web = &pod.spec.containers[0];
        assert!(web.tty && web.stdin && web.stdin_once);
        assert_eq!(web.termination_message_path, "/tmp/message");
        assert_eq!(web.termination_message_policy, "FallbackToLogsOnError");
        let sources: Vec<_> = web
            .env
            .iter()
            .map(|variable| variable.value_from.clone().unwrap())
            .collect();
        assert_eq!(
            sources[1].field_ref,
            Some(ObjectFieldSelector {
                api_version: "v1".into(),
                field_path: "metadata.labels['app']".into(),
            })
        );
        assert_eq!(
            sources[2].resource_field_ref,
            Some(ResourceFieldSelector {
                container_name: "web".into(),
                resource: "limits.memory".into(),
                divisor: Some(Quantity::from("1Mi")),
            })
        );
        assert_eq!(
            web.liveness_probe,
            Some(Probe {
                http_get: Some(HttpGetAction {
                    path: "/healthz".into(),
                    port: IntOrString::String("http".into()),
                    host: String::new(),
                    scheme: "HTTPS".into(),
                    http_headers: vec![HttpHeader {
                        name: "X-Probe".into(),
                        value: "liveness".into(),
                    }],
                }),
                initial_delay_seconds: 5,
                period_seconds: 20,
                failure_threshold: 5,
                termination_grace_period_seconds: Some(10),
                ..Probe::default()
            })
        );
        assert_eq!(
            web.readiness_probe.as_ref().unwrap().grpc,
            Some(GrpcAction {
                port: 9090,
                service: "ready".into(),
            })
        );
        assert_eq!(
            web.startup_probe.as_ref().unwrap().exec,
            Some(ExecAction {
                command: vec!["cat".into(), "/tmp/started".into()],
            })
        );
        let lifecycle = web.lifecycle.as_ref().unwrap();
        let post_start = lifecycle.post_start.as_ref().unwrap();
        assert_eq!(
            post_start.http_get.as_ref().map(|http| &http.port),
            Some(&IntOrString::Int(8080))
        );
        assert_eq!(
            lifecycle.pre_stop.as_ref().unwrap().sleep,
            Some(SleepAction { seconds: 5 })
        );

        apply_defaults(&mut object);
        assert_eq!(validate(&object), Ok(()));
        let pod = Pod::from_object(object).unwrap();
        let web = &pod.spec.containers[0];
        let readiness = web.readiness_probe.as_ref().unwrap();
        assert_eq!(
            (
                readiness.timeout_seconds,
                readiness.period_seconds,
                readiness.success_threshold,
                readiness.failure_threshold
            ),
            (3, 10, 2, 3)
        );
        let post_start = web.lifecycle.as_ref().unwrap().post_start.as_ref().unwrap();
        let http = post_start.http_get.as_ref().unwrap();
        assert_eq!((http.path.as_str(), http.scheme.as_str()), ("/", "HTTP"));
        let pod_name = web.env[0].value_from.as_ref().unwrap().field_ref.as_ref();
        assert_eq!(pod_name.unwrap().api_version, "v1");
        assert_eq!(
            pod.spec.init_containers[0].termination_message_policy,
            "File"
        );
    }

    #[test]
    fn the_kubernetes_documentations_runtime_class_round_trips() {
        use crate::object::defaults::apply_defaults;
        use crate::object::validation::validate;

        // https://kubernetes.io/docs/concepts/containers/runtime-class/
        let text = "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: myclass\n\
                    handler: myconfiguration\n";
        let mut object = only_ok(parse_manifests("class.yaml", text));
        let class = RuntimeClass::from_object(object.clone()).unwrap();
        assert_eq!(class.metadata.name, "myclass");
        assert_eq!(class.handler, "myconfiguration");
        assert!(class.overhead.is_none() && class.scheduling.is_none());
        apply_defaults(&mut object);
        assert_eq!(validate(&object), Ok(()));
        assert_eq!(
            object.to_value(),
            serde_json::json!({
                "apiVersion": "node.k8s.io/v1",
                "kind": "RuntimeClass",
                "metadata": {"name": "myclass"},
                "handler": "myconfiguration",
            })
        );
        assert_eq!(Object::from_json(&object.to_json()).unwrap(), object);
    }

    #[test]
    fn a_runtime_class_s_unsupported_overhead_is_read_and_then_refused_by_path() {
        use crate::object::validation::validate;

        let text = "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: kata}\n\
                    handler: kata\noverhead:\n  podFixed: {memory: 120Mi, cpu: 250m}\n\
                    scheduling:\n  nodeSelector: {runtime: kata}\n  tolerations:\n  \
                    - {key: kata, operator: Exists, effect: NoSchedule}\n";
        let object = only_ok(parse_manifests("kata.yaml", text));
        let class = RuntimeClass::from_object(object.clone()).unwrap();
        assert_eq!(class.node_selector().unwrap()["runtime"], "kata");
        assert_eq!(
            class.scheduling.as_ref().unwrap().tolerations[0].key,
            "kata"
        );
        let error = validate(&object).unwrap_err();
        let paths: Vec<&str> = error.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["overhead"]);
        assert!(
            error
                .to_string()
                .starts_with("RuntimeClass kata: overhead: not supported yet"),
            "{error}"
        );

        let typo = "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: kata}\n\
                    handlr: kata\n";
        let error = only_error(parse_manifests("kata.yaml", typo));
        assert_eq!(error.to_string(), "kata.yaml:4:1: unknown field handlr");
    }

    /// The Services of https://kubernetes.io/docs/concepts/services-networking/service/, as
    /// written there.
    const DOCUMENTED_SERVICES: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: my-service
spec:
  selector:
    app.kubernetes.io/name: MyApp
  ports:
    - protocol: TCP
      port: 80
      targetPort: 9376
---
apiVersion: v1
kind: Service
metadata:
  name: nginx-service
spec:
  selector:
    app.kubernetes.io/name: proxy
  ports:
  - name: name-of-service-port
    protocol: TCP
    port: 80
    targetPort: http-web-svc
---
apiVersion: v1
kind: Service
metadata:
  name: my-service
spec:
  selector:
    app.kubernetes.io/name: MyApp
  ports:
    - name: http
      protocol: TCP
      port: 80
      targetPort: 9376
    - name: https
      protocol: TCP
      port: 443
      targetPort: 9377
---
apiVersion: v1
kind: Service
metadata:
  name: my-service
spec:
  type: NodePort
  selector:
    app.kubernetes.io/name: MyApp
  ports:
    - port: 80
      # By default and for convenience, the `targetPort` is set to
      # the same value as the `port` field.
      targetPort: 80
      # Optional field
      # By default and for convenience, the Kubernetes control plane
      # will allocate a port from a range (default: 30000-32767)
      nodePort: 30007
---
apiVersion: v1
kind: Service
metadata:
  name: my-service
  namespace: prod
spec:
  type: ExternalName
  externalName: my.database.example.com
---
apiVersion: v1
kind: Service
metadata:
  name: my-headless
spec:
  clusterIP: None
  selector:
    app.kubernetes.io/name: MyApp
  ports:
    - port: 80
"#;

    #[test]
    fn the_kubernetes_documentations_services_are_read_defaulted_and_valid() {
        use crate::object::defaults::apply_defaults;
        use crate::object::intstr::IntOrString;
        use crate::object::service::{Service, ServiceType};
        use crate::object::validation::validate;

        let mut services = Vec::new();
        for result in parse_manifests("services.yaml", DOCUMENTED_SERVICES) {
            let mut object = result.unwrap();
            if object.meta().namespace.is_empty() {
                object.meta_mut().namespace = "default".into();
            }
            apply_defaults(&mut object);
            assert_eq!(validate(&object), Ok(()), "{object:?}");
            assert_eq!(Object::from_json(&object.to_json()).unwrap(), object);
            services.push(Service::from_object(object).unwrap());
        }
        let [plain, named, multi, node_port, external, headless] = &services[..] else {
            panic!("six services, got {}", services.len());
        };
        assert_eq!(plain.spec.selector["app.kubernetes.io/name"], "MyApp");
        assert_eq!(
            plain.spec.ports[0].target_port,
            Some(IntOrString::Int(9376))
        );
        assert_eq!(plain.spec.type_, ServiceType::ClusterIp);
        assert_eq!(
            named.spec.ports[0].target_port,
            Some(IntOrString::String("http-web-svc".into()))
        );
        assert_eq!(multi.spec.ports[1].name, "https");
        assert_eq!(node_port.spec.ports[0].node_port, 30007);
        assert_eq!(external.spec.external_name, "my.database.example.com");
        assert_eq!(external.metadata.namespace, "prod");
        assert!(headless.spec.is_headless());
        assert_eq!(
            headless.spec.ports[0].target_port,
            Some(IntOrString::Int(80))
        );
    }

    #[test]
    fn a_service_s_typos_and_unknown_types_are_refused_where_they_are() {
        let typo = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports:\n  \
                    - port: 80\n    targetport: 8080\n";
        let error = only_error(parse_manifests("svc.yaml", typo));
        assert_eq!(
            error.to_string(),
            "svc.yaml:7:5: unknown field spec.ports[0].targetport"
        );
        let wrong =
            "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: Ingress\n";
        let message = only_error(parse_manifests("svc.yaml", wrong)).to_string();
        assert!(message.starts_with("svc.yaml:5:9: "), "{message}");
        assert!(message.contains("NodePort"), "{message}");
    }

    /// The NetworkPolicies of
    /// https://kubernetes.io/docs/concepts/services-networking/network-policies/, as written
    /// there.
    const DOCUMENTED_NETWORK_POLICIES: &str = r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: test-network-policy
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
  - Ingress
  - Egress
  ingress:
  - from:
    - ipBlock:
        cidr: 172.17.0.0/16
        except:
        - 172.17.1.0/24
    - namespaceSelector:
        matchLabels:
          project: myproject
    - podSelector:
        matchLabels:
          role: frontend
    ports:
    - protocol: TCP
      port: 6379
  egress:
  - to:
    - ipBlock:
        cidr: 10.0.0.0/24
    ports:
    - protocol: TCP
      port: 5978
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-ingress
spec:
  podSelector: {}
  policyTypes:
  - Ingress
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-all-ingress
spec:
  podSelector: {}
  ingress:
  - {}
  policyTypes:
  - Ingress
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-all
spec:
  podSelector: {}
  policyTypes:
  - Ingress
  - Egress
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: multi-port-egress
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
    - Egress
  egress:
    - to:
        - ipBlock:
            cidr: 10.0.0.0/24
      ports:
        - protocol: TCP
          port: 32000
          endPort: 32768
"#;

    #[test]
    fn the_kubernetes_documentations_network_policies_are_read_defaulted_and_valid() {
        use crate::object::defaults::apply_defaults;
        use crate::object::intstr::IntOrString;
        use crate::object::network_policy::{NetworkPolicy, PolicyType};
        use crate::object::validation::validate;

        let mut policies = Vec::new();
        for result in parse_manifests("policies.yaml", DOCUMENTED_NETWORK_POLICIES) {
            let mut object = result.unwrap();
            if object.meta().namespace.is_empty() {
                object.meta_mut().namespace = "default".into();
            }
            apply_defaults(&mut object);
            assert_eq!(validate(&object), Ok(()), "{object:?}");
            assert_eq!(Object::from_json(&object.to_json()).unwrap(), object);
            policies.push(NetworkPolicy::from_object(object).unwrap());
        }
        let [test, deny, allow, deny_all, multi_port] = &policies[..] else {
            panic!("five policies, got {}", policies.len());
        };
        let from = &test.spec.ingress[0].from;
        assert_eq!(from[0].ip_block.as_ref().unwrap().except, ["172.17.1.0/24"]);
        assert!(from[1].namespace_selector.is_some() && from[1].pod_selector.is_none());
        assert_eq!(
            test.spec.ingress[0].ports[0].port,
            Some(IntOrString::Int(6379))
        );
        assert!(deny.spec.pod_selector.is_empty() && deny.spec.ingress.is_empty());
        assert_eq!(allow.spec.ingress.len(), 1);
        assert_eq!(
            deny_all.spec.policy_types,
            [PolicyType::Ingress, PolicyType::Egress]
        );
        assert_eq!(multi_port.spec.egress[0].ports[0].end_port, Some(32768));
        assert_eq!(multi_port.spec.policy_types, [PolicyType::Egress]);
    }

    #[test]
    fn a_network_policy_s_typos_are_refused_where_they_are() {
        let typo = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\n\
                    spec:\n  podSelector: {}\n  ingress:\n  - form:\n    - podSelector: {matchLabels: {app: web}}\n";
        let error = only_error(parse_manifests("netpol.yaml", typo));
        assert_eq!(
            error.to_string(),
            "netpol.yaml:7:5: unknown field spec.ingress[0].form"
        );
    }

    fn only_ok(results: Vec<Result<Object, ManifestError>>) -> Object {
        assert_eq!(results.len(), 1, "{results:?}");
        results.into_iter().next().unwrap().unwrap()
    }

    #[test]
    fn scalar_documents_are_not_objects() {
        let error = only_error(parse_manifests("s.yaml", "just text\n"));
        assert!(
            matches!(error, ManifestError::NotAMapping { .. }),
            "{error:?}"
        );
        assert!(error.to_string().starts_with("s.yaml:1:1: "), "{error}");
    }
}
