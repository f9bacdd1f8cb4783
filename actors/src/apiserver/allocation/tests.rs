//! ClusterIPs and node ports through the API server, in-process, on a real store: what
//! Services get, what they may not share, what deleting and updating gives back, and that
//! none of it depends on the API server's memory.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use flotilla_kernel::api::{ApiClient, ClientError, ErrorCode, Outcome};
use flotilla_kernel::object::{
    Kind, Namespace, Object, ObjectMeta, Service, ServicePort, ServiceSpec, ServiceType,
};

use super::plan::Claim;
use crate::test_api::TestApi;

/// A Service `name` in `default` of `type_` with one port per node port given (0: none
/// asked for), asking for `cluster_ip` (empty: none).
fn service(name: &str, type_: ServiceType, cluster_ip: &str, node_ports: &[i32]) -> Service {
    Service {
        metadata: ObjectMeta {
            name: name.into(),
            namespace: "default".into(),
            ..ObjectMeta::default()
        },
        spec: ServiceSpec {
            type_,
            selector: [("app".to_string(), name.to_string())].into(),
            cluster_ip: cluster_ip.into(),
            ports: node_ports
                .iter()
                .enumerate()
                .map(|(index, node_port)| ServicePort {
                    name: format!("port-{index}"),
                    port: 80 + index as i32,
                    node_port: *node_port,
                    ..ServicePort::default()
                })
                .collect(),
            ..ServiceSpec::default()
        },
        ..Service::default()
    }
}

fn api_error(error: ClientError) -> (ErrorCode, String) {
    let ClientError::Api(error) = error else {
        panic!("not an API error: {error}");
    };
    (error.code, error.message)
}

fn node_ports(service: &Service) -> Vec<i32> {
    service
        .spec
        .ports
        .iter()
        .map(|port| port.node_port)
        .collect()
}

/// Whether the store holds `claim`'s key.
fn claimed(api: &TestApi, claim: Claim) -> bool {
    api.store
        .get(&claim.key())
        .expect("the store reads")
        .is_some()
}

fn ip(text: &str) -> Ipv4Addr {
    text.parse().expect("an IPv4 address")
}

#[tokio::test]
async fn services_get_an_address_and_node_ports_held_in_the_store() {
    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    let web = admin
        .create(&service("web", ServiceType::ClusterIp, "", &[0]))
        .await
        .unwrap();
    let address = ip(&web.spec.cluster_ip);
    assert_eq!(web.spec.cluster_ips, [address.to_string()]);
    // Above the static band (10.43.0.1-10.43.1.0), left for requests such as DNS's.
    assert!(
        address >= ip("10.43.1.1") && address <= ip("10.43.255.254"),
        "{address}"
    );
    assert!(claimed(&api, Claim::ClusterIp(address)));

    let exposed = admin
        .create(&service(
            "exposed",
            ServiceType::NodePort,
            "10.43.0.10",
            &[30007, 0],
        ))
        .await
        .unwrap();
    assert_eq!(exposed.spec.cluster_ip, "10.43.0.10");
    let ports = node_ports(&exposed);
    assert_eq!(ports[0], 30007);
    assert!((30086..=32767).contains(&ports[1]), "{ports:?}");
    for port in ports {
        let port = u16::try_from(port).unwrap();
        assert!(claimed(&api, Claim::NodePort(port)));
    }
    // What is stored is what the creator got back.
    let stored: Service = admin.get("default", "exposed").await.unwrap();
    assert_eq!(stored.spec, exposed.spec);

    // Headless and ExternalName Services hold nothing.
    let headless = admin
        .create(&service("headless", ServiceType::ClusterIp, "None", &[0]))
        .await
        .unwrap();
    assert_eq!(headless.spec.cluster_ip, "None");
    let mut alias = service("alias", ServiceType::ExternalName, "", &[]);
    alias.spec.external_name = "db.example.com".into();
    let alias = admin.create(&alias).await.unwrap();
    assert!(alias.spec.cluster_ip.is_empty());
    let claims = api.store.range_prefix(b"/registry/ranges/").unwrap();
    assert_eq!(
        claims.kvs.len(),
        4,
        "web's and exposed's address, two node ports"
    );
}

#[tokio::test]
async fn a_value_another_service_holds_is_refused_and_nothing_is_half_written() {
    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    admin
        .create(&service(
            "dns",
            ServiceType::NodePort,
            "10.43.0.10",
            &[30080],
        ))
        .await
        .unwrap();

    let error = admin
        .create(&service(
            "copy",
            ServiceType::NodePort,
            "10.43.0.10",
            &[30081],
        ))
        .await
        .unwrap_err();
    assert_eq!(
        api_error(error),
        (
            ErrorCode::Invalid,
            "Service \"copy\" is invalid: spec.clusterIPs: Invalid value: \
             []string{\"10.43.0.10\"}: failed to allocate IP 10.43.0.10: provided IP is already \
             allocated"
                .to_string()
        )
    );
    assert!(!claimed(&api, Claim::NodePort(30081)), "not half claimed");

    let error = admin
        .create(&service(
            "port",
            ServiceType::NodePort,
            "10.43.0.11",
            &[30080],
        ))
        .await
        .unwrap_err();
    assert_eq!(
        api_error(error).1,
        "Service \"port\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided \
         port is already allocated"
    );
    assert!(!claimed(&api, Claim::ClusterIp(ip("10.43.0.11"))));
    assert!(
        admin
            .find::<Service>("default", "port")
            .await
            .unwrap()
            .is_none()
    );

    let error = admin
        .create(&service(
            "outside",
            ServiceType::NodePort,
            "10.42.0.11",
            &[0],
        ))
        .await
        .unwrap_err();
    assert!(
        api_error(error)
            .1
            .ends_with("The range of valid IPs is 10.43.0.0/16")
    );
    let error = admin
        .create(&service(
            "reserved",
            ServiceType::ClusterIp,
            "10.43.0.1",
            &[0],
        ))
        .await
        .unwrap_err();
    assert!(
        api_error(error)
            .1
            .contains("reserved for the \"kubernetes\" Service")
    );

    // The same name again is refused for its name, and takes nothing either.
    let error = admin
        .create(&service("dns", ServiceType::ClusterIp, "10.43.0.12", &[0]))
        .await
        .unwrap_err();
    assert_eq!(api_error(error).0, ErrorCode::AlreadyExists);
    assert!(!claimed(&api, Claim::ClusterIp(ip("10.43.0.12"))));
}

#[tokio::test]
async fn deleting_a_service_gives_its_values_back() {
    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    admin
        .create(&service(
            "dns",
            ServiceType::NodePort,
            "10.43.0.10",
            &[30053],
        ))
        .await
        .unwrap();
    admin
        .delete(Kind::Service, "default", "dns", None)
        .await
        .unwrap();
    assert!(!claimed(&api, Claim::ClusterIp(ip("10.43.0.10"))));
    assert!(!claimed(&api, Claim::NodePort(30053)));
    let again = admin
        .create(&service(
            "dns2",
            ServiceType::NodePort,
            "10.43.0.10",
            &[30053],
        ))
        .await
        .unwrap();
    assert_eq!(node_ports(&again), [30053]);

    // So does deleting its namespace.
    let mut namespace = Namespace::default();
    namespace.metadata.name = "prod".into();
    admin.create(&namespace).await.unwrap();
    let mut in_prod = service("db", ServiceType::ClusterIp, "10.43.0.30", &[0]);
    in_prod.metadata.namespace = "prod".into();
    admin.create(&in_prod).await.unwrap();
    assert!(claimed(&api, Claim::ClusterIp(ip("10.43.0.30"))));
    admin
        .delete(Kind::Namespace, "", "prod", None)
        .await
        .unwrap();
    assert!(!claimed(&api, Claim::ClusterIp(ip("10.43.0.30"))));
}

#[tokio::test]
async fn applying_again_keeps_the_values_and_leaving_node_port_gives_its_ports_back() {
    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    let manifest = |type_| {
        let mut object = Object::Service(service("web", type_, "", &[0, 0]));
        object.set_type_fields();
        object
    };
    let (created, outcome) = admin.apply(&manifest(ServiceType::NodePort)).await.unwrap();
    assert_eq!(outcome, Outcome::Created);
    let Object::Service(created) = created else {
        panic!("a Service")
    };
    let (_, outcome) = admin.apply(&manifest(ServiceType::NodePort)).await.unwrap();
    assert_eq!(outcome, Outcome::Unchanged, "the allocated values are kept");

    let (updated, outcome) = admin
        .apply(&manifest(ServiceType::ClusterIp))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Configured);
    let Object::Service(updated) = updated else {
        panic!("a Service")
    };
    assert_eq!(updated.spec.cluster_ip, created.spec.cluster_ip);
    assert_eq!(node_ports(&updated), [0, 0]);
    assert_eq!(updated.spec.external_traffic_policy, None);
    for port in node_ports(&created) {
        let port = u16::try_from(port).unwrap();
        assert!(!claimed(&api, Claim::NodePort(port)), "{port} released");
    }
    assert!(claimed(
        &api,
        Claim::ClusterIp(ip(&created.spec.cluster_ip))
    ));

    // Back to NodePort: new node ports, claimed.
    let (again, _) = admin.apply(&manifest(ServiceType::NodePort)).await.unwrap();
    let Object::Service(again) = again else {
        panic!("a Service")
    };
    for port in node_ports(&again) {
        assert!(claimed(&api, Claim::NodePort(u16::try_from(port).unwrap())));
    }
    // An alias: the address goes too.
    let mut alias = again.clone();
    alias.spec.type_ = ServiceType::ExternalName;
    alias.spec.external_name = "web.example.com".into();
    let alias = admin.update(&alias).await.unwrap();
    assert!(alias.spec.cluster_ip.is_empty(), "{:?}", alias.spec);
    let claims = api.store.range_prefix(b"/registry/ranges/").unwrap();
    assert!(claims.kvs.is_empty(), "{:?}", claims.kvs);
}

#[tokio::test]
async fn a_cluster_ip_cannot_change_and_a_new_node_port_must_be_free() {
    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    admin
        .create(&service("other", ServiceType::NodePort, "", &[30090]))
        .await
        .unwrap();
    let web = admin
        .create(&service(
            "web",
            ServiceType::NodePort,
            "10.43.0.20",
            &[30080],
        ))
        .await
        .unwrap();

    let mut moved = web.clone();
    moved.spec.cluster_ip = "10.43.0.21".into();
    moved.spec.cluster_ips = vec!["10.43.0.21".into()];
    let error = admin.update(&moved).await.unwrap_err();
    assert_eq!(
        api_error(error),
        (
            ErrorCode::Invalid,
            "Service \"web\" is invalid: spec.clusterIP: Invalid value: \"10.43.0.21\": field is \
             immutable"
                .to_string()
        )
    );

    let mut taken = web.clone();
    taken.spec.ports[0].node_port = 30090;
    let error = admin.update(&taken).await.unwrap_err();
    assert_eq!(
        api_error(error).1,
        "Service \"web\" is invalid: spec.ports[0].nodePort: Invalid value: 30090: provided port \
         is already allocated"
    );
    let mut free = web.clone();
    free.spec.ports[0].node_port = 30091;
    let updated = admin.update(&free).await.unwrap();
    assert_eq!(node_ports(&updated), [30091]);
    assert!(
        !claimed(&api, Claim::NodePort(30080)),
        "the old port is given back"
    );
    assert!(claimed(&api, Claim::NodePort(30091)));
}

/// Creates `count` Services at once; returns what each create answered.
async fn create_at_once(
    admin: &ApiClient,
    count: usize,
    type_: ServiceType,
) -> Vec<Result<Service, ClientError>> {
    let creates: Vec<_> = (0..count)
        .map(|index| {
            let admin = admin.clone();
            tokio::spawn(async move {
                admin
                    .create(&service(&format!("s{index}"), type_, "", &[0]))
                    .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for create in creates {
        results.push(create.await.expect("the create task finishes"));
    }
    results
}

#[tokio::test]
async fn concurrent_creates_never_share_an_address_and_a_full_range_says_so() {
    // 14 addresses, the first the kubernetes Service's: 13 to give.
    let cidr = "10.43.0.0/28".parse().unwrap();
    let api = TestApi::with_service_ranges(cidr, "30000-30001".parse().unwrap()).await;
    let admin = api.client("admin", "admin");
    let created: Vec<Service> = create_at_once(&admin, 13, ServiceType::ClusterIp)
        .await
        .into_iter()
        .map(|result| result.expect("a free address for each"))
        .collect();
    let addresses: BTreeSet<String> = created
        .iter()
        .map(|service| service.spec.cluster_ip.clone())
        .collect();
    assert_eq!(addresses.len(), 13, "{addresses:?}");
    assert!(!addresses.contains("10.43.0.1"));

    let error = admin
        .create(&service("one-more", ServiceType::ClusterIp, "", &[0]))
        .await
        .unwrap_err();
    assert_eq!(
        api_error(error),
        (
            ErrorCode::Internal,
            "Internal error occurred: failed to allocate a serviceIP: range is full".to_string()
        )
    );
}

#[tokio::test]
async fn concurrent_creates_never_share_a_node_port() {
    let ports = "30000-30009".parse().unwrap();
    let api = TestApi::with_service_ranges(Default::default(), ports).await;
    let admin = api.client("admin", "admin");
    let created: Vec<Service> = create_at_once(&admin, 10, ServiceType::NodePort)
        .await
        .into_iter()
        .map(|result| result.expect("a free node port for each"))
        .collect();
    let taken: BTreeSet<i32> = created.iter().flat_map(node_ports).collect();
    assert_eq!(taken, (30000..30010).collect());
    let error = admin
        .create(&service("one-more", ServiceType::NodePort, "", &[0]))
        .await
        .unwrap_err();
    assert_eq!(
        api_error(error).1,
        "Internal error occurred: failed to allocate a nodePort: range is full"
    );
    // Nothing of the refused Service was kept: its address is free again.
    let claims = api
        .store
        .range_prefix(b"/registry/ranges/serviceips/")
        .unwrap();
    assert_eq!(claims.kvs.len(), 10);
}

#[tokio::test]
async fn a_restarted_api_server_knows_what_is_taken() {
    let mut api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    admin
        .create(&service(
            "dns",
            ServiceType::NodePort,
            "10.43.0.10",
            &[30053],
        ))
        .await
        .unwrap();
    api.restart().await;
    let error = admin
        .create(&service("dns2", ServiceType::ClusterIp, "10.43.0.10", &[0]))
        .await
        .unwrap_err();
    assert!(
        api_error(error)
            .1
            .contains("provided IP is already allocated")
    );
    let error = admin
        .create(&service("dns3", ServiceType::NodePort, "", &[30053]))
        .await
        .unwrap_err();
    assert!(
        api_error(error)
            .1
            .contains("provided port is already allocated")
    );
    admin
        .delete(Kind::Service, "default", "dns", None)
        .await
        .unwrap();
    admin
        .create(&service(
            "dns2",
            ServiceType::NodePort,
            "10.43.0.10",
            &[30053],
        ))
        .await
        .unwrap();
}
