//! Nodes and services: ROHE's resource model (rohe-spec 4.1). Pure: no I/O.
//!
//! Three input shapes are read, each with field paths and line numbers in its errors:
//! - ROHE v2 JSON requests (`add_node.json`, `add_service.json`): `{"data": {...}}`;
//! - ROHE v1 YAML requests (`add_node.yaml`, `add_service.yaml`): the same under an envelope
//!   (`application`, `client_id`, `command`, ...) with the legacy keys `MAC`, `processor`,
//!   `type`, `cpu`, `memory`, `accelerator`, `instanceIDs`;
//! - rohe's own YAML: `nodes: [...]`, or `application: NAME` + `services: [...]`, where
//!   `used` amounts, `status` and bookkeeping fields may be left out.
//!
//! Maps keep file order (`OrderedMap`): the order of nodes in a file is the order placement
//! visits them, and the order of accelerators on a node is the order they are charged in.
//! Amounts (millicpu, MB, per-core and accelerator percent) are finite, non-negative numbers;
//! whole numbers are written back as integers, as ROHE's files have them.

use crate::error::{Error, Result};
use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;

// ---------------------------------------------------------------------------------------------
// Amounts and ordered maps
// ---------------------------------------------------------------------------------------------

/// A validated amount: finite and >= 0. Whole values serialise as integers (`4000`, not
/// `4000.0`), so rohe's output reads like ROHE's input.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Amount(f64);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if !v.is_finite() {
            return Err(de::Error::custom(format!("{v} is not a finite number")));
        }
        if v < 0.0 {
            return Err(de::Error::custom(format!(
                "{v} is negative; amounts must be 0 or more"
            )));
        }
        Ok(Amount(v))
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_amount(self.0, s)
    }
}

/// Integral values within f64's exact integer range are written as integers.
fn serialize_amount<S: Serializer>(v: f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if v.fract() == 0.0 && v.abs() < EXACT {
        s.serialize_i64(v as i64)
    } else {
        s.serialize_f64(v)
    }
}

/// `#[serde(with = "amount")]` for one amount.
mod amount {
    use super::*;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
        Amount::deserialize(d).map(|a| a.0)
    }
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_amount(*v, s)
    }
}

/// `#[serde(with = "amounts")]` for a list of amounts (per-core figures).
mod amounts {
    use super::*;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<f64>, D::Error> {
        Ok(Vec::<Amount>::deserialize(d)?
            .into_iter()
            .map(|a| a.0)
            .collect())
    }
    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|x| Amount(*x)))
    }
}

/// `#[serde(with = "amount_map")]` for a map of amounts (accelerator requirements).
mod amount_map {
    use super::*;
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<OrderedMap<f64>, D::Error> {
        let m = OrderedMap::<Amount>::deserialize(d)?;
        Ok(OrderedMap(m.0.into_iter().map(|(k, v)| (k, v.0)).collect()))
    }
    pub fn serialize<S: Serializer>(
        v: &OrderedMap<f64>,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(v.len()))?;
        for (k, x) in v.iter() {
            m.serialize_entry(k, &Amount(*x))?;
        }
        m.end()
    }
}

/// A string-keyed map that keeps the order of its file. Duplicate keys are an error.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<V> OrderedMap<V> {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    /// Set `key`, keeping its position if present, appending it otherwise.
    pub fn insert(&mut self, key: impl Into<String>, value: V) {
        let key = key.into();
        match self.get_mut(&key) {
            Some(v) => *v = value,
            None => self.0.push((key, value)),
        }
    }
    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, v)| v)
    }
}

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out: Vec<(String, V)> = Vec::with_capacity(a.size_hint().unwrap_or(0));
                let mut seen: HashMap<String, ()> = HashMap::new();
                while let Some(k) = a.next_key::<String>()? {
                    if seen.insert(k.clone(), ()).is_some() {
                        return Err(de::Error::custom(format!("duplicate key {k:?}")));
                    }
                    let v = a.next_value::<V>()?;
                    out.push((k, v));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------------

/// ROHE's `StatusEnum`. Placement does not look at it (rohe-spec 4.5); `cordoned` is rohe's
/// way to keep a node out of placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Running,
    Queueing,
}

fn queueing() -> Status {
    Status::Queueing
}

/// `{capacity, used}` in millicpu (4000 = four cores).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cpu {
    #[serde(with = "amount")]
    pub capacity: f64,
    #[serde(with = "amount", default)]
    pub used: f64,
}

/// Resident (`rss`) and virtual (`vms`) memory in MB. Only `rss` drives placement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Mem {
    #[serde(with = "amount")]
    pub rss: f64,
    #[serde(with = "amount", default)]
    pub vms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    pub capacity: Mem,
    #[serde(default)]
    pub used: Mem,
}

/// Per-core figures in percent (100 = one full core). `used` may be left out (all idle).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cores {
    #[serde(with = "amounts")]
    pub capacity: Vec<f64>,
    #[serde(with = "amounts", default)]
    pub used: Vec<f64>,
}

/// One accelerator device, e.g. `GPU0`. `capacity`/`used` in percent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accelerator {
    /// `pre-emptive` / `nonpre-emptive`; informational.
    #[serde(default)]
    pub mode: String,
    /// `gpu`, `tpu`, ...: matched exactly against a service's `accelerator_required` keys.
    #[serde(alias = "type")]
    pub accelerator_type: String,
    /// CUDA cores; informational.
    #[serde(default)]
    pub core: u64,
    #[serde(with = "amount")]
    pub capacity: f64,
    #[serde(with = "amount", default)]
    pub used: f64,
}

/// A node in ROHE's `NodeData` shape. Its identity is `mac_address`; `node_name` must equal
/// the Kubernetes node name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub node_name: String,
    #[serde(alias = "MAC", alias = "mac")]
    pub mac_address: String,
    #[serde(default)]
    pub status: Status,
    /// GHz; informational.
    #[serde(with = "amount", default)]
    pub frequency: f64,
    /// Devices in file order: the first matching device is the one charged.
    #[serde(default)]
    pub accelerator: OrderedMap<Accelerator>,
    pub cpu: Cpu,
    pub memory: Memory,
    #[serde(alias = "processor")]
    pub cores: Cores,
    /// service_id -> number of its instances on this node (maintained by placement).
    #[serde(default)]
    pub services: OrderedMap<u32>,
    /// rohe extension: a cordoned node takes no new instances.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cordoned: bool,
}

impl Node {
    /// The node's identity (ROHE keys nodes by MAC address).
    pub fn id(&self) -> &str {
        &self.mac_address
    }
    pub fn free_cpu(&self) -> f64 {
        self.cpu.capacity - self.cpu.used
    }
    pub fn free_rss(&self) -> f64 {
        self.memory.capacity.rss - self.memory.used.rss
    }
    pub fn instances_of(&self, service_id: &str) -> u32 {
        self.services.get(service_id).copied().unwrap_or(0)
    }

    /// Check the rules serde cannot express; `at` is the node's field path in its file.
    fn validate(&mut self, at: &str) -> Result<()> {
        let f = |name: &str| format!("{at}.{name}");
        if self.node_name.is_empty()
            || self.node_name.len() > 64
            || !self
                .node_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(Error::invalid(format!(
                "{:?} is not a valid node name",
                self.node_name
            ))
            .field(f("node_name"))
            .hint("1 to 64 letters, digits, '_' or '-'; it must equal the Kubernetes node name"));
        }
        check_key(
            &self.mac_address,
            &f("mac_address"),
            "the node's MAC address",
        )?;
        let n = self.cores.capacity.len();
        if n == 0 {
            // ROHE divides by the core count when scoring (a node without cores scores NaN).
            return Err(Error::invalid("a node needs at least one core")
                .field(f("cores.capacity"))
                .hint("one figure per core in percent, e.g. [100, 100, 100, 100]"));
        }
        if self.memory.capacity.rss <= 0.0 {
            // ROHE divides by it when scoring.
            return Err(Error::invalid("must be more than 0")
                .field(f("memory.capacity.rss"))
                .hint("the node's memory in MB, e.g. 4096"));
        }
        if self.cores.used.is_empty() {
            self.cores.used = vec![0.0; n];
        } else if self.cores.used.len() != n {
            return Err(Error::invalid(format!(
                "{} per-core figures for {n} cores",
                self.cores.used.len()
            ))
            .field(f("cores.used"))
            .hint("give one figure per core in cores.capacity, or leave used out"));
        }
        for (name, dev) in self.accelerator.iter() {
            if dev.accelerator_type.is_empty() {
                return Err(Error::invalid("must not be empty")
                    .field(f(&format!("accelerator.{name}.accelerator_type")))
                    .hint("e.g. gpu or tpu"));
            }
        }
        for (sid, _) in self.services.iter() {
            check_key(sid, &f("services"), "a service_id")?;
        }
        Ok(())
    }
}

/// Identifiers (MAC addresses, service ids): non-empty, no spaces or control characters.
fn check_key(value: &str, field: &str, what: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid("must not be empty")
            .field(field)
            .hint(format!("give {what}")));
    }
    if value.len() > 253 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(
            Error::invalid(format!("{value:?} is not a valid identifier"))
                .field(field)
                .hint("at most 253 characters, without spaces or control characters"),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------------------------

/// `con_port` (the Service port) -> `phy_port` (the container's targetPort).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortMapping {
    pub con_port: u16,
    pub phy_port: u16,
}

/// A deployable microservice in ROHE's `ServiceData` shape, plus the application it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The application (a key of ROHE's `data` map, or `application:` in rohe's YAML).
    #[serde(skip_deserializing, default, skip_serializing_if = "String::is_empty")]
    pub application: String,
    pub service_name: String,
    /// Identity, e.g. `EW:VE:TW:WQ:01`.
    pub service_id: String,
    /// node id (MAC) -> number of instances there.
    #[serde(default)]
    pub node: OrderedMap<u32>,
    /// Never changed by placement.
    #[serde(default = "queueing")]
    pub status: Status,
    #[serde(default, alias = "instanceIDs")]
    pub instance_ids: Vec<String>,
    /// Placed instances.
    #[serde(default)]
    pub running: u32,
    /// Desired instances.
    pub replicas: u32,
    pub image: String,
    #[serde(default)]
    pub ports: Vec<u16>,
    #[serde(default)]
    pub port_mapping: Vec<PortMapping>,
    /// millicpu.
    #[serde(alias = "cpu", with = "amount")]
    pub cpu_required: f64,
    #[serde(alias = "memory")]
    pub memory_required: Mem,
    /// Per-core percent, e.g. `[100, 5, 5, 5]`.
    #[serde(alias = "processor", with = "amounts", default)]
    pub cores_required: Vec<f64>,
    /// accelerator type -> percent; `{}` or `{gpu: 0}` need none.
    #[serde(alias = "accelerator", with = "amount_map", default)]
    pub accelerator_required: OrderedMap<f64>,
    /// 0 none, 1 CPU, 2 memory, 3 CPU and memory.
    #[serde(default)]
    pub sensitivity: u8,
}

impl Service {
    fn validate(&self, at: &str) -> Result<()> {
        let f = |name: &str| format!("{at}.{name}");
        crate::domain::names::validate_id(&f("service_name"), &self.service_name)?;
        check_key(&self.service_id, &f("service_id"), "a unique service id")?;
        if self.sensitivity > 3 {
            return Err(
                Error::invalid(format!("{} is not a sensitivity", self.sensitivity))
                    .field(f("sensitivity"))
                    .hint("0 none, 1 CPU, 2 memory, 3 CPU and memory"),
            );
        }
        if self.image.trim().is_empty() {
            return Err(Error::invalid("must not be empty")
                .field(f("image"))
                .hint("the container image, e.g. rdsea/od_web:2.0"));
        }
        if let Some(i) = self.ports.iter().position(|p| *p == 0) {
            return Err(Error::invalid("port 0 is not a port").field(f(&format!("ports[{i}]"))));
        }
        for (i, m) in self.port_mapping.iter().enumerate() {
            if m.con_port == 0 || m.phy_port == 0 {
                return Err(
                    Error::invalid("port 0 is not a port").field(f(&format!("port_mapping[{i}]")))
                );
            }
        }
        for (kind, _) in self.accelerator_required.iter() {
            if kind.is_empty() {
                return Err(Error::invalid("empty accelerator type")
                    .field(f("accelerator_required"))
                    .hint("e.g. gpu: 15"));
            }
        }
        for (mac, _) in self.node.iter() {
            check_key(mac, &f("node"), "a node's MAC address")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// The top level of a node file: ROHE's request (`data`, with its envelope) or rohe's `nodes`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // the envelope fields of ROHE's request are accepted and ignored
struct NodesFile {
    #[serde(default)]
    data: Option<OrderedMap<Node>>,
    #[serde(default)]
    nodes: Option<Vec<Node>>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    application: Option<IgnoredAny>,
    #[serde(default)]
    client_id: Option<IgnoredAny>,
    #[serde(default)]
    instance_name: Option<IgnoredAny>,
    #[serde(default)]
    stage_id: Option<IgnoredAny>,
    #[serde(default)]
    role: Option<IgnoredAny>,
}

/// The top level of a service file: ROHE's request (`data: {app: {key: service}}`) or rohe's
/// `application` + `services`. In a ROHE request `application` is the envelope's and ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // the envelope fields of ROHE's request are accepted and ignored
struct ServicesFile {
    #[serde(default)]
    data: Option<OrderedMap<OrderedMap<Service>>>,
    #[serde(default)]
    services: Option<Vec<Service>>,
    #[serde(default)]
    application: Option<String>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    client_id: Option<IgnoredAny>,
    #[serde(default)]
    instance_name: Option<IgnoredAny>,
    #[serde(default)]
    stage_id: Option<IgnoredAny>,
    #[serde(default)]
    role: Option<IgnoredAny>,
}

/// JSON (by the `.json` extension) through serde_json, everything else through `crate::yaml`.
fn parse_doc<T: DeserializeOwned>(text: &str, file: &str) -> Result<T> {
    if text.trim().is_empty() {
        return Err(Error::invalid("the file is empty").file(file));
    }
    if file.to_ascii_lowercase().ends_with(".json") {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let mut err = Error::invalid(json_message(&inner))
                .file(file)
                .line(Some(inner.line()).filter(|l| *l > 0));
            if path != "." && !path.is_empty() {
                err = err.field(path);
            }
            err
        })
    } else {
        crate::yaml::parse(text, file)
    }
}

/// serde_json appends " at line L column C"; the line is reported separately.
fn json_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    }
}

/// Just the request's `command`, read first so that a service request given as nodes (or the
/// reverse) is named as such instead of failing on its first unexpected field.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    command: Option<String>,
}

fn check_command(text: &str, expected: &str, file: &str) -> Result<()> {
    let command = parse_doc::<Envelope>(text, file)
        .ok()
        .and_then(|e| e.command);
    match command.as_deref() {
        Some(c) if !c.eq_ignore_ascii_case(expected) => Err(Error::invalid(format!(
            "this is a {c:?} request, not {expected:?}"
        ))
        .field("command")
        .file(file)
        .hint("pass nodes with --nodes and services with --services")),
        _ => Ok(()),
    }
}

/// Read a node file (`file` names it in errors and selects JSON by its `.json` extension).
/// Nodes come back in file order.
pub fn parse_nodes(text: &str, file: &str) -> Result<Vec<Node>> {
    check_command(text, "ADD NODE", file)?;
    let doc: NodesFile = parse_doc(text, file)?;
    let entries: Vec<(String, Node)> = match (doc.data, doc.nodes) {
        (Some(data), None) => data
            .0
            .into_iter()
            .map(|(k, n)| (format!("data.{k}"), n))
            .collect(),
        (None, Some(nodes)) => nodes
            .into_iter()
            .enumerate()
            .map(|(i, n)| (format!("nodes[{i}]"), n))
            .collect(),
        (Some(_), Some(_)) => {
            return Err(Error::invalid("both `data` and `nodes` are given")
                .field("nodes")
                .file(file)
                .hint("use one: `data` (ROHE's request) or `nodes` (rohe's list)"));
        }
        (None, None) => {
            return Err(
                Error::invalid("no nodes: expected `nodes:` or ROHE's `data:`")
                    .field("nodes")
                    .file(file)
                    .hint("see example/nodes/edge-lab.yaml"),
            );
        }
    };
    let mut out = Vec::with_capacity(entries.len());
    let mut by_mac: HashMap<String, String> = HashMap::new();
    let mut by_name: HashMap<String, String> = HashMap::new();
    for (at, mut node) in entries {
        node.validate(&at).map_err(|e| e.file(file))?;
        if let Some(first) = by_mac.insert(node.mac_address.clone(), at.clone()) {
            return Err(Error::invalid(format!(
                "MAC address {:?} is also the address of {first}",
                node.mac_address
            ))
            .field(format!("{at}.mac_address"))
            .file(file)
            .hint("a node is identified by its MAC address: each must be unique"));
        }
        if let Some(first) = by_name.insert(node.node_name.clone(), at.clone()) {
            return Err(Error::invalid(format!(
                "node name {:?} is also the name of {first}",
                node.node_name
            ))
            .field(format!("{at}.node_name"))
            .file(file)
            .hint("node names are Kubernetes node names: each must be unique"));
        }
        out.push(node);
    }
    Ok(out)
}

/// Read a service file. Services come back in file order, each with its application.
pub fn parse_services(text: &str, file: &str) -> Result<Vec<Service>> {
    check_command(text, "ADD SERVICE", file)?;
    let doc: ServicesFile = parse_doc(text, file)?;
    let entries: Vec<(String, String, Service)> = match (doc.data, doc.services) {
        (Some(data), None) => data
            .0
            .into_iter()
            .flat_map(|(app, services)| {
                services
                    .0
                    .into_iter()
                    .map(move |(k, s)| (format!("data.{app}.{k}"), app.clone(), s))
            })
            .collect(),
        (None, Some(services)) => {
            let app = doc.application.ok_or_else(|| {
                Error::invalid("missing field `application`")
                    .field("application")
                    .file(file)
                    .hint("name the application these services belong to")
            })?;
            crate::domain::names::validate_id("application", &app).map_err(|e| e.file(file))?;
            services
                .into_iter()
                .enumerate()
                .map(|(i, s)| (format!("services[{i}]"), app.clone(), s))
                .collect()
        }
        (Some(_), Some(_)) => {
            return Err(Error::invalid("both `data` and `services` are given")
                .field("services")
                .file(file)
                .hint("use one: `data` (ROHE's request) or `services` (rohe's list)"));
        }
        (None, None) => {
            return Err(
                Error::invalid("no services: expected `services:` or ROHE's `data:`")
                    .field("services")
                    .file(file)
                    .hint("see example/services/cctvs.yaml"),
            );
        }
    };
    let mut out = Vec::with_capacity(entries.len());
    let mut by_id: HashMap<String, String> = HashMap::new();
    for (at, app, mut s) in entries {
        s.validate(&at).map_err(|e| e.file(file))?;
        if let Some(first) = by_id.insert(s.service_id.clone(), at.clone()) {
            return Err(Error::invalid(format!(
                "service_id {:?} is also the id of {first}",
                s.service_id
            ))
            .field(format!("{at}.service_id"))
            .file(file)
            .hint("each service needs its own service_id"));
        }
        s.application = app;
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROHE_NODE_JSON: &str = include_str!("../../tests/fixtures/rohe/add_node.json");
    const ROHE_NODE_YAML: &str = include_str!("../../tests/fixtures/rohe/add_node.yaml");
    const ROHE_SERVICE_JSON: &str = include_str!("../../tests/fixtures/rohe/add_service.json");
    const ROHE_SERVICE_YAML: &str = include_str!("../../tests/fixtures/rohe/add_service.yaml");

    #[test]
    fn reads_rohe_v2_node_json_in_file_order() {
        let nodes = parse_nodes(ROHE_NODE_JSON, "add_node.json").expect("parses");
        assert_eq!(nodes.len(), 9);
        assert_eq!(nodes[0].node_name, "RaspberryPi_02");
        assert_eq!(nodes[0].mac_address, "dc:a6:32:07:ab:92");
        assert_eq!(nodes[8].node_name, "Jetson_xavier_06");
        assert_eq!(nodes[8].cpu.capacity, 8000.0);
        assert_eq!(nodes[8].cores.capacity.len(), 8);
        let gpu = nodes[4].accelerator.get("GPU0").expect("GPU0");
        assert_eq!(gpu.accelerator_type, "gpu");
        assert_eq!(gpu.core, 128);
    }

    #[test]
    fn reads_rohe_v1_node_yaml_with_legacy_keys() {
        let nodes = parse_nodes(ROHE_NODE_YAML, "add_node.yaml").expect("parses");
        assert_eq!(nodes.len(), 10);
        // node10 comes after node9: file order, not key order.
        assert_eq!(nodes[9].node_name, "Jetson_xavier_06");
        assert_eq!(nodes[0].mac_address, "82:ae:30:11:38:01"); // `MAC`
        assert_eq!(nodes[0].cores.capacity, vec![100.0; 4]); // `processor`
        let gpu = nodes[5].accelerator.get("GPU0").expect("GPU0");
        assert_eq!(gpu.accelerator_type, "gpu"); // `type`
        assert_eq!(nodes[5].memory.capacity.vms, 2048.0);
    }

    #[test]
    fn reads_rohe_v2_service_json_with_applications() {
        let s = parse_services(ROHE_SERVICE_JSON, "add_service.json").expect("parses");
        assert_eq!(s.len(), 9);
        assert_eq!(s[0].application, "bts");
        assert_eq!(s[0].service_id, "EW:VE:TW:WQ:08");
        assert_eq!(s[1].memory_required.rss, 2500.0);
        let total: u32 = s.iter().map(|x| x.replicas).sum();
        assert_eq!(total, 15);
        let od = s
            .iter()
            .find(|x| x.service_name == "object_detection_inference_service")
            .expect("od");
        assert_eq!(od.accelerator_required.get("gpu"), Some(&15.0));
        assert_eq!(od.port_mapping[1].phy_port, 4003);
    }

    #[test]
    fn reads_rohe_v1_service_yaml_with_legacy_keys() {
        let s = parse_services(ROHE_SERVICE_YAML, "add_service.yaml").expect("parses");
        assert_eq!(s.len(), 9);
        assert_eq!(s[0].application, "object_detection");
        assert_eq!(s[0].cpu_required, 424.0); // `cpu`
        assert_eq!(s[0].cores_required, vec![50.0, 5.0]); // `processor`
        assert_eq!(s[0].memory_required.vms, 500.0); // `memory`
        assert_eq!(s[2].accelerator_required.get("gpu"), Some(&15.0)); // `accelerator`
        assert_eq!(s[0].status, Status::Queueing);
    }

    #[test]
    fn reads_rohes_own_yaml_with_defaults() {
        let text = "nodes:\n  - node_name: pi-1\n    mac_address: aa:bb\n    cpu: {capacity: 4000}\n    memory: {capacity: {rss: 4096}}\n    cores: {capacity: [100, 100]}\n    accelerator:\n      GPU0: {accelerator_type: gpu, capacity: 100}\n";
        let n = parse_nodes(text, "n.yaml").expect("parses");
        assert_eq!(n[0].cores.used, vec![0.0, 0.0]);
        assert_eq!(n[0].cpu.used, 0.0);
        assert_eq!(n[0].status, Status::Running);
        let svc = "application: shop\nservices:\n  - service_name: web\n    service_id: shop-web\n    image: nginx\n    replicas: 2\n    cpu_required: 100\n    memory_required: {rss: 64}\n    instanceIDs: [a]\n";
        let s = parse_services(svc, "s.yaml").expect("parses");
        assert_eq!(s[0].application, "shop");
        assert_eq!(s[0].instance_ids, vec!["a".to_string()]);
        assert!(s[0].accelerator_required.is_empty());
        assert!(s[0].cores_required.is_empty());
    }

    #[test]
    fn whole_amounts_are_written_as_integers() {
        let nodes = parse_nodes(ROHE_NODE_JSON, "add_node.json").expect("parses");
        let v = serde_json::to_value(&nodes[4]).expect("json");
        assert_eq!(v["cpu"]["capacity"], serde_json::json!(4000));
        assert_eq!(v["cores"]["used"], serde_json::json!([0, 0, 0, 0]));
        assert_eq!(v["accelerator"]["GPU0"]["capacity"], serde_json::json!(100));
        assert_eq!(v["services"], serde_json::json!({}));
        assert!(v.get("cordoned").is_none());
        let mut half = nodes[4].clone();
        half.cpu.used = 12.5;
        let v = serde_json::to_value(&half).expect("json");
        assert_eq!(v["cpu"]["used"], serde_json::json!(12.5));
    }

    #[test]
    fn errors_name_the_field_the_file_and_the_line() {
        let bad = "nodes:\n  - node_name: pi\n    mac_address: aa\n    cpu: {capacity: -5}\n    memory: {capacity: {rss: 1}}\n    cores: {capacity: [100]}\n";
        let e = parse_nodes(bad, "inv.yaml").expect_err("negative");
        assert_eq!(e.field.as_deref(), Some("nodes[0].cpu.capacity"));
        assert_eq!(e.file.as_deref(), Some("inv.yaml"));
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("negative"), "{e}");

        let bad = r#"{"data": {"n1": {"node_name": "a", "mac_address": "m", "cpu": {"capacity": 1},
            "memory": {"capacity": {"rss": 1}}, "cores": {"capacity": [1]}, "gpu": 3}}}"#;
        let e = parse_nodes(bad, "x.json").expect_err("unknown");
        assert_eq!(e.field.as_deref(), Some("data.n1.gpu"), "{e}");
        assert!(e.message.contains("unknown field"), "{e}");
        assert_eq!(e.line, Some(2));

        let bad = "application: a\nservices:\n  - {service_name: w, service_id: x, image: i, replicas: two, cpu: 1, memory: {rss: 1}}\n";
        let e = parse_services(bad, "s.yaml").expect_err("replicas");
        assert_eq!(e.field.as_deref(), Some("services[0].replicas"), "{e}");
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let two = "nodes:\n  - {node_name: a, mac_address: m, cpu: {capacity: 1}, memory: {capacity: {rss: 1}}, cores: {capacity: [1]}}\n  - {node_name: b, mac_address: m, cpu: {capacity: 1}, memory: {capacity: {rss: 1}}, cores: {capacity: [1]}}\n";
        let e = parse_nodes(two, "n.yaml").expect_err("dup mac");
        assert_eq!(e.field.as_deref(), Some("nodes[1].mac_address"));
        let cores = "nodes:\n  - {node_name: a, mac_address: m, cpu: {capacity: 1}, memory: {capacity: {rss: 1}}, cores: {capacity: [1, 1], used: [0]}}\n";
        let e = parse_nodes(cores, "n.yaml").expect_err("cores");
        assert_eq!(e.field.as_deref(), Some("nodes[0].cores.used"));
        let name = "nodes:\n  - {node_name: 'a b', mac_address: m, cpu: {capacity: 1}, memory: {capacity: {rss: 1}}, cores: {capacity: [1]}}\n";
        let e = parse_nodes(name, "n.yaml").expect_err("name");
        assert_eq!(e.field.as_deref(), Some("nodes[0].node_name"));
        let sens = "application: a\nservices:\n  - {service_name: w, service_id: x, image: i, replicas: 1, cpu: 1, memory: {rss: 1}, sensitivity: 4}\n";
        let e = parse_services(sens, "s.yaml").expect_err("sens");
        assert_eq!(e.field.as_deref(), Some("services[0].sensitivity"));
        assert_eq!(e.file.as_deref(), Some("s.yaml"));
    }

    #[test]
    fn a_service_file_is_not_a_node_file() {
        let e = parse_nodes(ROHE_SERVICE_YAML, "add_service.yaml").expect_err("wrong file");
        assert_eq!(e.field.as_deref(), Some("command"));
        assert!(e.message.contains("ADD SERVICE"), "{e}");
        let e = parse_nodes("", "empty.yaml").expect_err("empty");
        assert!(e.message.contains("empty"));
        let e = parse_services("application: a\n", "s.yaml").expect_err("no services");
        assert_eq!(e.field.as_deref(), Some("services"));
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let text = r#"{"data": {"n1": {"node_name": "a", "mac_address": "m", "cpu": {"capacity": 1},
            "memory": {"capacity": {"rss": 1}}, "cores": {"capacity": [1]}},
            "n1": {"node_name": "b", "mac_address": "m2", "cpu": {"capacity": 1},
            "memory": {"capacity": {"rss": 1}}, "cores": {"capacity": [1]}}}}"#;
        let e = parse_nodes(text, "d.json").expect_err("dup");
        assert!(e.message.contains("duplicate key"), "{e}");
    }
}
