//! Kubernetes objects for one application's placed services (rohe-spec 4.9, with the defects
//! listed there fixed). Pure: the same state always gives the same objects, byte for byte.
//!
//! - One Deployment per (service, node) with instances there, named
//!   `dns1123(<service>-<node>)`, `replicas` = the instances on that node, pinned with
//!   `nodeSelector kubernetes.io/hostname`, requests from the requirements (cpu millicpu ->
//!   `400m`, memory rss MB -> `70Mi`), env `NODE_NAME`/`POD_ID` from the downward API and
//!   `NEXT_HOP` from the application's ConfigMap. Kubernetes has no fractional GPU resource, so
//!   an accelerator share is an annotation (`rohe.io/accelerator-<type>: "<percent>"`) that a
//!   device plugin or scheduler extension can read; placement already accounted for it.
//! - One Service per service that has ports, selecting every pod of the service on any node
//!   (ROHE's k8s_client Service had no selector), `port = con_port`, `targetPort = phy_port`.
//! - One ConfigMap per application: `NEXT_HOP_<SERVICE>` for every service, the address of the
//!   service after it in the pipeline (the registered application's stage order when known,
//!   else the order the services were added), `http://<svc>.<ns>.svc.cluster.local:<port>`.
//! - Labels `rohe.io/app`, `rohe.io/service`, `rohe.io/service-id`, `rohe.io/node` and
//!   `app.kubernetes.io/managed-by: rohe`. Label values must be DNS-1123-like, so ids such as
//!   `EW:VE:TW:WQ:01` are sanitised (with a hash, never colliding) and the original id is kept in
//!   the `rohe.io/service-id` annotation.

use crate::domain::app::Application;
use crate::domain::names::dns1123_label;
use crate::domain::resources::{Node, Service};
use crate::error::{Error, Result};
use crate::ports::cluster::{LABEL_APP, LABEL_MANAGED_BY, LABEL_NODE, LABEL_SERVICE_ID};
use serde_json::{Value, json};

pub const LABEL_SERVICE: &str = "rohe.io/service";

fn label(v: &str) -> String {
    dns1123_label(v, 63)
}

/// The Service's (and container's) name for a service.
pub fn service_object_name(service_name: &str) -> String {
    label(service_name)
}

/// The Deployment's name for a service on a node.
pub fn deployment_name(service_name: &str, node_name: &str) -> String {
    label(&format!("{service_name}-{node_name}"))
}

fn env_key(service_name: &str) -> String {
    let mut k: String = service_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if k.starts_with(|c: char| c.is_ascii_digit()) {
        k.insert(0, '_');
    }
    format!("NEXT_HOP_{k}")
}

/// The port other services call: the first mapping's service port, else the first port.
fn service_port(s: &Service) -> Option<u16> {
    s.port_mapping
        .first()
        .map(|m| m.con_port)
        .or_else(|| s.ports.first().copied())
}

/// Services in pipeline order: by the stage of the registered microservice of the same name,
/// unknown ones after, in the order given.
fn pipeline<'a>(services: &'a [Service], app: Option<&Application>) -> Vec<&'a Service> {
    let rank = |s: &Service| -> usize {
        app.and_then(|a| {
            a.stages
                .iter()
                .position(|st| st.microservices.iter().any(|m| m.name == s.service_name))
        })
        .unwrap_or(usize::MAX)
    };
    let mut ordered: Vec<(usize, usize, &Service)> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (rank(s), i, s))
        .collect();
    ordered.sort_by_key(|(r, i, _)| (*r, *i));
    ordered.into_iter().map(|(_, _, s)| s).collect()
}

fn quantity_cpu(millicpu: f64) -> String {
    format!("{}m", millicpu.max(0.0).ceil() as u64)
}

fn quantity_memory(mb: f64) -> String {
    format!("{}Mi", mb.max(0.0).ceil() as u64)
}

/// All objects of one application in apply order: Namespace, ConfigMap, Services, Deployments.
pub fn for_application(
    app: &str,
    services: &[Service],
    nodes: &[Node],
    application: Option<&Application>,
    namespace: &str,
) -> Result<Vec<Value>> {
    let app_label = label(app);
    let managed = |mut labels: serde_json::Map<String, Value>| {
        labels.insert(LABEL_MANAGED_BY.into(), "rohe".into());
        labels.insert(LABEL_APP.into(), app_label.clone().into());
        Value::Object(labels)
    };
    let mut out = vec![json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {LABEL_MANAGED_BY: "rohe"}},
    })];

    // Names must stay unique after sanitising (two services differing only in '_' vs '-'
    // get different hashes, but check rather than trust).
    let mut seen = std::collections::BTreeSet::new();
    for s in services {
        if !seen.insert(service_object_name(&s.service_name)) {
            return Err(Error::invalid(format!(
                "two services of {app} map to the Kubernetes name {:?}",
                service_object_name(&s.service_name)
            ))
            .field("service_name")
            .hint("give the services names that differ in more than punctuation"));
        }
    }

    let order = pipeline(services, application);
    let url = |s: &Service| {
        service_port(s).map(|p| {
            format!(
                "http://{}.{namespace}.svc.cluster.local:{p}",
                service_object_name(&s.service_name)
            )
        })
    };
    let mut data = serde_json::Map::new();
    data.insert("ROHE_APP".into(), app.into());
    for w in order.windows(2) {
        if let Some(u) = url(w[1]) {
            data.insert(env_key(&w[0].service_name), u.into());
        }
    }
    let config_map = label(&format!("{app}-pipeline"));
    out.push(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": config_map, "namespace": namespace,
                     "labels": managed(serde_json::Map::new())},
        "data": data,
    }));

    for s in &order {
        let ports: Vec<Value> = if s.port_mapping.is_empty() {
            s.ports
                .iter()
                .map(|p| json!({"name": format!("p{p}"), "port": p, "targetPort": p, "protocol": "TCP"}))
                .collect()
        } else {
            s.port_mapping
                .iter()
                .map(|m| {
                    json!({"name": format!("p{}", m.con_port), "port": m.con_port,
                           "targetPort": m.phy_port, "protocol": "TCP"})
                })
                .collect()
        };
        if ports.is_empty() {
            continue; // nothing to reach: no Service
        }
        let mut l = serde_json::Map::new();
        l.insert(LABEL_SERVICE.into(), label(&s.service_name).into());
        l.insert(LABEL_SERVICE_ID.into(), label(&s.service_id).into());
        out.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": service_object_name(&s.service_name), "namespace": namespace,
                         "labels": managed(l),
                         "annotations": {LABEL_SERVICE_ID: s.service_id}},
            "spec": {"selector": {LABEL_APP: app_label, LABEL_SERVICE: label(&s.service_name)},
                     "ports": ports},
        }));
    }

    for s in &order {
        let next_key = order
            .iter()
            .position(|o| o.service_id == s.service_id)
            .filter(|i| i + 1 < order.len())
            .map(|_| env_key(&s.service_name));
        for (mac, count) in s.node.iter() {
            if *count == 0 {
                continue;
            }
            let node = nodes.iter().find(|n| n.mac_address == mac).ok_or_else(|| {
                Error::invalid(format!(
                    "service {} has instances on node {mac}, which is not in the inventory",
                    s.service_name
                ))
                .field("node")
                .hint("re-add the node, or scale the service to 0 and apply")
            })?;
            let mut pod_labels = serde_json::Map::new();
            pod_labels.insert(LABEL_SERVICE.into(), label(&s.service_name).into());
            pod_labels.insert(LABEL_NODE.into(), label(&node.node_name).into());
            let selector = {
                let mut m = pod_labels.clone();
                m.insert(LABEL_APP.into(), app_label.clone().into());
                Value::Object(m)
            };
            let mut meta_labels = pod_labels.clone();
            meta_labels.insert(LABEL_SERVICE_ID.into(), label(&s.service_id).into());
            let mut annotations = serde_json::Map::new();
            annotations.insert(LABEL_SERVICE_ID.into(), s.service_id.clone().into());
            for (kind, share) in s.accelerator_required.iter() {
                if *share > 0.0 {
                    annotations.insert(
                        format!("rohe.io/accelerator-{}", label(kind)),
                        format!("{share}").into(),
                    );
                }
            }
            let container_ports: Vec<Value> = if s.port_mapping.is_empty() {
                s.ports
                    .iter()
                    .map(|p| json!({"containerPort": p}))
                    .collect()
            } else {
                s.port_mapping
                    .iter()
                    .map(|m| json!({"containerPort": m.phy_port}))
                    .collect()
            };
            let mut env = vec![
                json!({"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}),
                json!({"name": "POD_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
                json!({"name": "ROHE_SERVICE_ID", "value": s.service_id}),
            ];
            if let Some(k) = &next_key {
                env.push(json!({"name": "NEXT_HOP", "valueFrom": {"configMapKeyRef":
                    {"name": config_map, "key": k, "optional": true}}}));
            }
            out.push(json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": deployment_name(&s.service_name, &node.node_name),
                             "namespace": namespace, "labels": managed(meta_labels),
                             "annotations": annotations},
                "spec": {
                    "replicas": count,
                    "selector": {"matchLabels": selector},
                    "template": {
                        "metadata": {"labels": managed(pod_labels),
                                     "annotations": {LABEL_SERVICE_ID: s.service_id}},
                        "spec": {
                            "restartPolicy": "Always",
                            "nodeSelector": {"kubernetes.io/hostname": node.node_name},
                            "containers": [{
                                "name": service_object_name(&s.service_name),
                                "image": s.image,
                                "ports": container_ports,
                                "env": env,
                                "envFrom": [{"configMapRef": {"name": config_map, "optional": true}}],
                                "resources": {"requests": {
                                    "cpu": quantity_cpu(s.cpu_required),
                                    "memory": quantity_memory(s.memory_required.rss),
                                }},
                            }],
                        },
                    },
                },
            }));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::names::is_dns1123_label;
    use crate::domain::placement::{PlacementConfig, plan};
    use crate::domain::resources::{parse_nodes, parse_services};

    fn placed(nodes: &str, services: &str) -> (Vec<Node>, Vec<Service>) {
        let nodes = parse_nodes(nodes, "nodes").expect("nodes");
        let services = parse_services(services, "services").expect("services");
        let mut c = crate::domain::placement::Cluster::new(nodes, services).expect("cluster");
        plan(&mut c, &PlacementConfig::default(), false);
        (c.nodes, c.services)
    }

    fn of<'a>(objs: &'a [Value], kind: &str) -> Vec<&'a Value> {
        objs.iter().filter(|o| o["kind"] == kind).collect()
    }

    #[test]
    fn rohe_fixture_names_are_valid_unique_and_replicas_match_placement() {
        let (nodes, services) = placed(
            include_str!("../../tests/fixtures/rohe/add_node.json"),
            include_str!("../../tests/fixtures/rohe/add_service.json"),
        );
        let mut names = std::collections::BTreeSet::new();
        for app in ["object_detection", "kpi", "bts"] {
            let svcs: Vec<Service> = services
                .iter()
                .filter(|s| s.application == app)
                .cloned()
                .collect();
            if svcs.is_empty() {
                continue;
            }
            let objs = for_application(app, &svcs, &nodes, None, "rohe").expect("objects");
            for o in &objs {
                let n = o["metadata"]["name"].as_str().expect("name");
                assert!(is_dns1123_label(n), "{n}");
                if o["kind"] != "Namespace" {
                    assert!(names.insert(format!("{}/{n}", o["kind"])), "duplicate {n}");
                }
                for (k, v) in o["metadata"]["labels"].as_object().into_iter().flatten() {
                    let v = v.as_str().expect("label value");
                    assert!(v.len() <= 63 && is_dns1123_label(v), "{k}={v}");
                }
            }
            // Per service: the Deployments' replicas add up to the placed instances.
            for s in &svcs {
                let total: u64 = of(&objs, "Deployment")
                    .iter()
                    .filter(|d| {
                        d["metadata"]["annotations"][LABEL_SERVICE_ID] == s.service_id.as_str()
                    })
                    .map(|d| d["spec"]["replicas"].as_u64().expect("replicas"))
                    .sum();
                assert_eq!(total, u64::from(s.running), "{}", s.service_name);
            }
            // Selectors select the pods they own.
            for d in of(&objs, "Deployment") {
                let sel = d["spec"]["selector"]["matchLabels"]
                    .as_object()
                    .expect("sel");
                let pod = &d["spec"]["template"]["metadata"]["labels"];
                for (k, v) in sel {
                    assert_eq!(&pod[k], v, "{k}");
                }
            }
            for svc in of(&objs, "Service") {
                let sel = svc["spec"]["selector"].as_object().expect("selector");
                assert!(!sel.is_empty());
                let matched = of(&objs, "Deployment").iter().any(|d| {
                    sel.iter()
                        .all(|(k, v)| &d["spec"]["template"]["metadata"]["labels"][k] == v)
                });
                let placed_somewhere = svcs.iter().any(|s| {
                    service_object_name(&s.service_name)
                        == svc["metadata"]["name"].as_str().unwrap_or("")
                        && s.running > 0
                });
                assert_eq!(matched, placed_somewhere);
            }
        }
    }

    #[test]
    fn deployment_carries_requests_downward_api_node_pin_and_next_hop() {
        let (nodes, services) = placed(
            include_str!("../../example/nodes/edge-lab.yaml"),
            include_str!("../../example/services/cctvs.yaml"),
        );
        let objs = for_application("cctvs", &services, &nodes, None, "edge").expect("objects");
        assert_eq!(objs[0]["kind"], "Namespace");
        assert_eq!(objs[1]["kind"], "ConfigMap");
        let cm = &objs[1]["data"];
        let next = service_object_name("image_sharpening_and_trasforming");
        assert!(
            next.starts_with("image-sharpening-and-trasforming-"),
            "{next}"
        );
        assert_eq!(
            cm["NEXT_HOP_IMAGE_INGESTION"],
            format!("http://{next}.edge.svc.cluster.local:4002")
        );
        assert!(
            cm.get("NEXT_HOP_ENSEMBLE_AGGREGATOR").is_none(),
            "the last has none"
        );
        let det = of(&objs, "Deployment")
            .into_iter()
            .find(|d| d["metadata"]["annotations"][LABEL_SERVICE_ID] == "cctvs:object_detection")
            .expect("object_detection deployed");
        let c = &det["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["resources"]["requests"]["cpu"], "400m");
        assert_eq!(c["resources"]["requests"]["memory"], "370Mi");
        assert_eq!(
            c["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
            "spec.nodeName"
        );
        assert_eq!(
            c["env"][1]["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.name"
        );
        assert_eq!(
            det["metadata"]["annotations"]["rohe.io/accelerator-gpu"],
            "20"
        );
        let node = det["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"]
            .as_str()
            .expect("pinned");
        assert_eq!(det["metadata"]["labels"][LABEL_NODE], node);
        assert_eq!(c["ports"][0]["containerPort"], 4002);
        // Deterministic.
        assert_eq!(
            objs,
            for_application("cctvs", &services, &nodes, None, "edge").expect("again")
        );
    }

    #[test]
    fn instances_on_an_unknown_node_are_an_error_not_a_silent_drop() {
        let (nodes, mut services) = placed(
            include_str!("../../example/nodes/edge-lab.yaml"),
            include_str!("../../example/services/cctvs.yaml"),
        );
        services[0].node.insert("aa:bb", 1);
        let e = for_application("cctvs", &services, &nodes, None, "rohe").expect_err("unknown");
        assert_eq!(e.field.as_deref(), Some("node"));
    }
}
