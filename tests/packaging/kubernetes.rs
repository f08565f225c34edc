//! The Kubernetes deployment, `deploy/kubernetes/`, a kustomize base: what `kubectl kustomize`
//! renders from it is valid for Kubernetes and for the prometheus-operator, runs the exporter the
//! way the issue asks (two replicas on different nodes, a disruption budget, probes on
//! `/-/healthy` and `/-/ready`, the restricted security context, resources, state on a volume),
//! wires the config, the credential, the Service, the ServiceMonitor and the rules' job name
//! together, and its config passes the real binary's `--config.check` in a copy of the
//! container's file system. Its Prometheus rules and Grafana dashboard are the files in
//! `alerts/` and `dashboards/`, byte for byte (`mixin/render.sh` renders all four from the mixin;
//! `cargo test --test it mixin::` checks that they are as it renders them).
//!
//! External tools: `kubectl` (Debian's `kubernetes-client`), and Python 3 with the packages
//! `kubernetes-validate` (the Kubernetes schemas it bundles, offline) and `jsonschema` (the
//! prometheus-operator CRD schemas vendored in `tests/vendor/`, checked by
//! `tests/vendor/validate_crd.py`). Without them those tests print a loud SKIPPED line and pass,
//! except on CI (`CI=true`), where a missing tool fails the test.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_okta-token-exporter");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BASE: &str = "deploy/kubernetes";
const RULES: &str = "alerts/okta-api-tokens.rules.yml";
const RULES_COPY: &str = "deploy/kubernetes/prometheusrule.yaml";
const DASHBOARD: &str = "dashboards/okta-api-tokens.json";
const DASHBOARD_COPY: &str = "deploy/kubernetes/grafana-dashboard.yaml";
const DASHBOARD_KEY: &str = "okta-api-tokens.json";
const CRDS: &[&str] = &[
    "tests/vendor/prometheus-operator/monitoring.coreos.com_servicemonitors.yaml",
    "tests/vendor/prometheus-operator/monitoring.coreos.com_prometheusrules.yaml",
];
const CRD_VALIDATOR: &str = "tests/vendor/validate_crd.py";
/// The job name the rules match on (`up{job="okta-token-exporter"}`).
const JOB: &str = "okta-token-exporter";
/// What the container build tags.
const IMAGE: &str = "okta-token-exporter:dev";
const REGENERATE: &str = "run mixin/render.sh to render the copies";

// ---------------------------------------------------------------------------------------------
// Rendering and tools
// ---------------------------------------------------------------------------------------------

fn path(relative: &str) -> PathBuf {
    Path::new(ROOT).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(path(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

fn kubectl() -> Option<PathBuf> {
    common::require_tool("kubectl", "kubernetes-client")
}

/// Whether `python3` can import `module`. When it cannot: a loud skip locally, a failure under
/// `CI=true`, like [`common::require_tool`].
fn require_python_module(module: &str, pip_package: &str) -> bool {
    if common::require_tool("python3", "python3").is_none() {
        return false;
    }
    let imports = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|output| output.status.success());
    if !imports {
        let message = format!(
            "SKIPPED: the Python module `{module}` is missing; install it with `pip install {pip_package}`"
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{message}: it is required under CI=true");
        }
        eprintln!("\n!!!!!!!! {message} !!!!!!!!\n");
    }
    imports
}

/// `kubectl kustomize DIR`, parsed: every object it renders.
fn render(kubectl: &Path, dir: &Path) -> Vec<Value> {
    let output = Command::new(kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("run kubectl kustomize");
    assert!(
        output.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8 from kubectl kustomize");
    serde_saphyr::from_multiple::<Value>(&text)
        .expect("kubectl kustomize prints YAML documents")
        .into_iter()
        .filter(|object| !object.is_null())
        .collect()
}

/// The base as `kubectl kustomize` renders it, once per test process; `None` without kubectl.
fn base() -> Option<&'static [Value]> {
    static BASE_OBJECTS: OnceLock<Option<Vec<Value>>> = OnceLock::new();
    BASE_OBJECTS
        .get_or_init(|| kubectl().map(|kubectl| render(&kubectl, &path(BASE))))
        .as_deref()
}

/// The one rendered object of this kind; panics when there is not exactly one.
fn the<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

/// The rendered ConfigMap whose name starts with `name` (the generator adds a hash).
fn config_map<'a>(objects: &'a [Value], name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && name_of(o).starts_with(name))
        .unwrap_or_else(|| panic!("no ConfigMap {name}"))
}

fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or("")
}

fn pod_spec(objects: &[Value]) -> &Value {
    &the(objects, "Deployment")["spec"]["template"]["spec"]
}

fn container(objects: &[Value]) -> &Value {
    let containers = pod_spec(objects)["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "the pod runs the exporter alone");
    &containers[0]
}

/// Whether every label of `match_labels` is among `labels`.
fn selects(match_labels: &Value, labels: &Value) -> bool {
    let wanted = match_labels.as_object().expect("matchLabels");
    !wanted.is_empty() && wanted.iter().all(|(k, v)| labels[k] == *v)
}

/// The value of `--flag=VALUE` among the container's arguments.
fn flag<'a>(container: &'a Value, flag: &str) -> Option<&'a str> {
    container["args"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find_map(|arg| arg.strip_prefix(flag)?.strip_prefix('='))
}

fn output_text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `kubernetes-validate --strict` on the objects; `None` when it is not installed.
fn kubernetes_validate(objects: &[&Value]) -> Option<Output> {
    if !require_python_module("kubernetes_validate", "kubernetes-validate") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("objects.yaml");
    let documents: Vec<String> = objects.iter().map(|o| o.to_string()).collect();
    std::fs::write(&file, documents.join("\n---\n")).unwrap();
    Some(
        Command::new("python3")
            .args(["-m", "kubernetes_validate", "--strict"])
            .arg(&file)
            .output()
            .expect("run kubernetes-validate"),
    )
}

/// Runs `tests/vendor/validate_crd.py` on the objects against the vendored CRDs; `None` when
/// jsonschema or PyYAML is not installed.
fn validate_against_crds(objects: &[&Value]) -> Option<Output> {
    if !(require_python_module("jsonschema", "jsonschema")
        && require_python_module("yaml", "PyYAML"))
    {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("objects.json");
    std::fs::write(&file, serde_json::to_string(objects).unwrap()).unwrap();
    Some(
        Command::new("python3")
            .arg(path(CRD_VALIDATOR))
            .arg(&file)
            .args(CRDS.iter().map(|crd| path(crd)))
            .output()
            .expect("run validate_crd.py"),
    )
}

fn is_custom_resource(object: &Value) -> bool {
    object["apiVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with("monitoring.coreos.com/"))
}

// ---------------------------------------------------------------------------------------------
// The container's file system
// ---------------------------------------------------------------------------------------------

/// The files the exporter's container sees, laid out under a temporary directory: every volume
/// mount of the container, filled from the rendered ConfigMaps and Secrets with the volume's
/// file mode. Paths of the pod map to paths in here.
struct PodFiles {
    dir: tempfile::TempDir,
    /// Mount paths, longest first.
    mounts: Vec<String>,
}

impl PodFiles {
    fn lay_out(objects: &[Value]) -> PodFiles {
        let container = container(objects);
        let mut mounts: Vec<String> = container["volumeMounts"]
            .as_array()
            .expect("volumeMounts")
            .iter()
            .map(|m| m["mountPath"].as_str().expect("mountPath").to_owned())
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        let pod = PodFiles {
            dir: tempfile::tempdir().unwrap(),
            mounts,
        };
        let volumes = pod_spec(objects)["volumes"].as_array().expect("volumes");
        // With fsGroup, the kubelet gives the group read access to the files of a volume.
        let group_read = if pod_spec(objects)["securityContext"]["fsGroup"].is_number() {
            0o040
        } else {
            0
        };
        for mount in container["volumeMounts"].as_array().unwrap() {
            let volume = volumes
                .iter()
                .find(|v| v["name"] == mount["name"])
                .unwrap_or_else(|| panic!("no volume {} for the mount", mount["name"]));
            let at = pod.host(mount["mountPath"].as_str().unwrap());
            let (files, mode) = if let Some(name) = volume["configMap"]["name"].as_str() {
                let files = string_map(&config_map(objects, name)["data"]);
                (files, volume["configMap"]["defaultMode"].as_u64())
            } else if let Some(name) = volume["secret"]["secretName"].as_str() {
                let secret = objects
                    .iter()
                    .find(|o| o["kind"] == "Secret" && name_of(o) == name)
                    .unwrap_or_else(|| panic!("no Secret {name}"));
                assert!(
                    secret.get("data").is_none(),
                    "the Secret's values are placeholders in stringData"
                );
                (
                    string_map(&secret["stringData"]),
                    volume["secret"]["defaultMode"].as_u64(),
                )
            } else {
                assert!(
                    volume.get("emptyDir").is_some()
                        || volume.get("persistentVolumeClaim").is_some(),
                    "unexpected volume {volume}"
                );
                std::fs::create_dir_all(&at).unwrap();
                continue;
            };
            // Files of a ConfigMap or Secret; a subPath mounts one of them as the file itself.
            let files: Vec<(PathBuf, String)> = match mount["subPath"].as_str() {
                Some(key) => {
                    let content = files
                        .into_iter()
                        .find(|(k, _)| k == key)
                        .unwrap_or_else(|| panic!("no key {key} for subPath"))
                        .1;
                    vec![(at, content)]
                }
                None => files.into_iter().map(|(k, v)| (at.join(k), v)).collect(),
            };
            for (file, content) in files {
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(&file, pod.map(&content)).unwrap();
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    // Kubernetes' default mode is 0644.
                    let mode = mode.unwrap_or(0o644) as u32 | group_read;
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
                }
            }
        }
        pod
    }

    /// Where a path of the pod is in here.
    fn host(&self, pod_path: &str) -> PathBuf {
        self.dir.path().join(pod_path.trim_start_matches('/'))
    }

    /// The text with every path under a mount replaced by its place in here.
    fn map(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        'scan: while let Some(c) = rest.chars().next() {
            for mount in &self.mounts {
                if let Some(after) = rest.strip_prefix(mount.as_str()) {
                    let ends = after
                        .chars()
                        .next()
                        .is_none_or(|n| n == '/' || !(n.is_alphanumeric() || "-_.".contains(n)));
                    if ends {
                        out.push_str(&self.host(mount).display().to_string());
                        rest = after;
                        continue 'scan;
                    }
                }
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }

    /// Runs the container's command line with `--config.check`, its paths mapped to here.
    fn config_check(&self, objects: &[Value]) -> Output {
        let container = container(objects);
        assert!(
            container.get("command").is_none(),
            "the image's entrypoint is the exporter; the pod gives it arguments only"
        );
        let args: Vec<String> = container["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| self.map(a.as_str().expect("string argument")))
            .collect();
        Command::new(BIN)
            .args(&args)
            .arg("--config.check")
            .env_remove("OKTA_API_TOKEN")
            .output()
            .expect("run the exporter")
    }
}

fn string_map(value: &Value) -> Vec<(String, String)> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("expected a map of strings, found {value}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("string value").to_owned()))
        .collect()
}

/// A copy of the base with the OAuth 2.0 alternative swapped in, as kustomization.yaml says.
fn oauth2_variant() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(path(BASE)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let kustomization = read(&format!("{BASE}/kustomization.yaml"));
    let mut swapped = kustomization.clone();
    for (from, to) in [
        ("  - secret.yaml #", "  - secret-oauth2.yaml #"),
        (
            "      - config.yml #",
            "      - config.yml=config-oauth2.yml #",
        ),
    ] {
        assert_eq!(
            kustomization.matches(from).count(),
            1,
            "kustomization.yaml has the line `{from}` to swap for OAuth 2.0"
        );
        swapped = swapped.replace(from, to);
    }
    std::fs::write(dir.path().join("kustomization.yaml"), swapped).unwrap();
    dir
}

// ---------------------------------------------------------------------------------------------
// It renders and validates
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(tool_kubectl),
    ignore = "needs `kubectl`: apt-get install kubernetes-client"
)]
fn kubectl_kustomize_renders_every_object_of_the_base() {
    let Some(objects) = base() else { return };
    let mut kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "ConfigMap",
            "Deployment",
            "PodDisruptionBudget",
            "PrometheusRule",
            "Secret",
            "Service",
            "ServiceMonitor"
        ]
    );
}

#[test]
#[cfg_attr(
    not(tool_kubectl),
    ignore = "needs `kubectl`: apt-get install kubernetes-client"
)]
fn the_core_objects_validate_against_the_kubernetes_schemas() {
    let Some(objects) = base() else { return };
    let core: Vec<&Value> = objects.iter().filter(|o| !is_custom_resource(o)).collect();
    let Some(output) = kubernetes_validate(&core) else {
        return;
    };
    let report = output_text(&output);
    assert!(output.status.success(), "kubernetes-validate:\n{report}");
    // A kind it has no schema for only gets a warning: every object must have passed.
    let passed = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with("INFO ") && l.contains(" passed "))
        .count();
    assert_eq!(passed, core.len(), "kubernetes-validate:\n{report}");
}

#[test]
#[cfg_attr(
    not(tool_kubectl),
    ignore = "needs `kubectl`: apt-get install kubernetes-client"
)]
fn the_service_monitor_and_prometheus_rule_validate_against_the_prometheus_operator_crds() {
    let Some(objects) = base() else { return };
    let custom: Vec<&Value> = objects.iter().filter(|o| is_custom_resource(o)).collect();
    assert_eq!(custom.len(), 2, "a ServiceMonitor and a PrometheusRule");
    let Some(output) = validate_against_crds(&custom) else {
        return;
    };
    let report = output_text(&output);
    assert!(output.status.success(), "validate_crd.py:\n{report}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| l.starts_with("VALID "))
            .count(),
        2,
        "validate_crd.py:\n{report}"
    );
}

#[test]
#[cfg_attr(
    not(tool_kubectl),
    ignore = "needs `kubectl`: apt-get install kubernetes-client"
)]
fn the_validators_reject_a_misspelt_field() {
    let Some(objects) = base() else { return };
    let mut deployment = the(objects, "Deployment").clone();
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pth"] =
        "/-/healthy".into();
    if let Some(output) = kubernetes_validate(&[&deployment]) {
        assert!(
            !output.status.success(),
            "kubernetes-validate accepted an unknown field:\n{}",
            output_text(&output)
        );
    }
    let mut monitor = the(objects, "ServiceMonitor").clone();
    monitor["spec"]["endpoints"][0]["prot"] = "metrics".into();
    if let Some(output) = validate_against_crds(&[&monitor]) {
        assert_eq!(
            output.status.code(),
            Some(1),
            "validate_crd.py accepted an unknown field:\n{}",
            output_text(&output)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// How the exporter runs
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(tool_kubectl),
    ignore = "needs `kubectl`: apt-get install kubernetes-client"
)]
fn the_image_is_the_one_the_container_build_tags() {
    let Some(objects) = base() else { return };
    assert_eq!(container(objects)["image"], IMAGE);
}

#[test]
#[cfg_attr(
    not(tool_kubectl),
    ignore = "needs `kubectl`: apt-get install kubernetes-client"
)]
fn two_replicas_run_on_different_nodes() {
    let Some(objects) = base() else { return };
    let deployment = the(objects, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert!(selects(
        &deployment["spec"]["selector"]["matchLabels"],
        pod_labels
    ));
    let spec = pod_spec(objects);
    let by_spread = spec["topologySpreadConstraints"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| {
            c["topologyKey"] == "kubernetes.io/hostname"
                && c["maxSkew"] == 1
                && c["whenUnsatisfiable"] == "DoNotSchedule"
                && selects(&c["labelSelector"]["matchLabels"], pod_labels)
        });
    let by_anti_affinity = spec["affinity"]["podAntiAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|term| {
            term["topologyKey"] == "kubernetes.io/hostname"
                && selects(&term["labelSelector"]["matchLabels"], pod_labels)
        });
    assert!(
        by_spread || by_anti_affinity,
        "the replicas must be kept on different nodes: {spec}"
    );
}

#[test]
#[cfg_attr(
    not(tool_kubectl),
    ignore = "needs `kubectl`: apt-get install kubernetes-client"
)]
fn a_disruption_budget_keeps_a_replica_running_during_a_drain() {
    let Some(objects) = base() else { return };
    let budget = the(objects, "PodDisruptionBudget");
    let pod_labels = &the(objects, "Deployment")["spec"]["template"]["metadata"]["labels"];
    assert!(selects(
        &budget["spec"]["selector"]["matchLabels"],
        pod_labels
    ));
    assert!(
        budget["spec"]["minAvailable"] == 1 || budget["spec"]["maxUnavailable"] == 1,
        "one replica may go at a time: {budget}"
    );
}

#[test]
#[cfg_attr(
    not(tool_kubectl),
    ignore = "needs `kubectl`: apt-get install kubernetes-client"
)]
fn liveness_asks_healthy_and_readiness_asks_ready_on_the_metrics_port() {
    let Some(objects) = base() else { return };
    let container = container(objects);
    for (probe, path) in [
        ("livenessProbe", "/-/healthy"),
        ("readinessProbe", "/-/ready"),
    ] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(get["port"], "metrics", "{probe}");
    }
    let ports = container["ports"].as_array().expect("ports");
    assert!(
        ports
            .iter()
            .any(|p| p["name"] == "metrics" && p["containerPort"] == 9871),
        "the container's port 9871 is named metrics: {ports:?}"
    );
}

#[test]
#[cfg_attr(
    not(tool_kubectl),
    ignore = "needs `kubectl`: apt-get install kubernetes-client"
)]
fn the_container_runs_with_the_restricted_security_context() {
    let Some(objects) = base() else { return };
    let pod = &pod_spec(objects)["securityContext"];
    let container = &container(objects)["securityContext"];
    // A container's setting wins over the pod's.
    let effective = |key: &str| match &container[key] {
        Value::Null => pod[key].clone(),
        value => value.clone(),
    };
    assert_eq!(effective("runAsNonRoot"), true);
    assert_eq!(effective("runAsUser"), 65532);
    assert_eq!(effective("seccompProfile")["type"], "RuntimeDefault");
    assert_eq!(container["readOnlyRootFilesystem"], true);
    assert_eq!(container["allowPrivilegeEscalation"], false);
    assert_eq!(
        container["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    assert!(container["capabilities"]["add"].is_null());
    assert_ne!(container["privileged"], true);
    assert_eq!(pod_spec(objects)["automountServiceAccountToken"], false);
}

#[test]
#[cfg_attr(
    not(tool_kubectl),
    ignore = "needs `kubectl`: apt-get install kubernetes-client"
)]
fn the_container_has_resource_requests_and_limits() {
    let Some(objects) = base() else { return };
    let resources = &container(objects)["resources"];
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                resources[kind][resource].is_string(),
                "resources.{kind}.{resource} is set: {resources}"
            );
        }
    }
    // About 10 MiB resident at demo scale, 25 MiB holding 10,000 tokens under load.
    let mebibytes = |quantity: &Value| {
        let text = quantity.as_str().unwrap();
        text.strip_suffix("Mi")
            .unwrap_or_else(|| panic!("memory in Mi, found {text}"))
            .parse::<u64>()
            .unwrap()
    };
    assert!(mebibytes(&resources["requests"]["memory"]) >= 16);
    assert!(mebibytes(&resources["limits"]["memory"]) >= 64);
}

#[test]
#[cfg_attr(
    not(tool_kubectl),
    ignore = "needs `kubectl`: apt-get install kubernetes-client"
)]
fn the_state_lives_on_a_volume_at_the_storage_path() {
    let Some(objects) = base() else { return };
    let container = container(objects);
    let storage = flag(container, "--storage.path").expect("--storage.path");
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == storage)
        .unwrap_or_else(|| panic!("no volume mounted at {storage}"));
    assert_ne!(mount["readOnly"], true, "the exporter writes its state");
    let volume = pod_spec(objects)["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert!(
        volume.get("emptyDir").is_some() || volume.get("persistentVolumeClaim").is_some(),
        "{volume}"
    );
    // The manifest says what the state is: a cache of the last poll.
    assert!(
        read(&format!("{BASE}/deployment.yaml")).contains("a cache of the last successful poll")
    );
}

#[test]
#[cfg_attr(
    not(tool_kubectl),
    ignore = "needs `kubectl`: apt-get install kubernetes-client"
)]
fn the_config_map_config_passes_config_check_with_the_secrets_token() {
    let Some(objects) = base() else { return };
    let config = string_map(&config_map(objects, "okta-token-exporter-config")["data"]);
    let config = &config.iter().find(|(k, _)| k == "config.yml").unwrap().1;
    assert!(config.contains("url: https://acme.okta.com"), "{config}");
    assert!(
        config.contains("token_file: /etc/okta-token-exporter/secrets/okta.token"),
        "{config}"
    );
    let secret = the(objects, "Secret");
    let token = secret["stringData"]["okta.token"]
        .as_str()
        .expect("okta.token");
    assert!(
        token.contains("REPLACE-ME"),
        "the token is a marked placeholder"
    );
    let pod = PodFiles::lay_out(objects);
    let output = pod.config_check(objects);
    assert!(output.status.success(), "{}", output_text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("configuration OK: 1 org(s)"),
        "{}",
        output_text(&output)
    );
}

#[test]
#[cfg_attr(
    not(tool_kubectl),
    ignore = "needs `kubectl`: apt-get install kubernetes-client"
)]
fn the_oauth2_alternative_renders_validates_and_passes_config_check() {
    let Some(kubectl) = kubectl() else { return };
    let variant = oauth2_variant();
    let objects = render(&kubectl, variant.path());
    let secret = the(&objects, "Secret");
    let key = secret["stringData"]["private-key.pem"]
        .as_str()
        .expect("the Secret holds private-key.pem");
    assert!(
        key.contains("REPLACE-ME"),
        "the key is a marked placeholder"
    );
    let config = read(&format!("{BASE}/config-oauth2.yml"));
    assert!(config.contains("oauth2:") && config.contains("https://acme.okta.com"));
    if let Some(output) = kubernetes_validate(
        &objects
            .iter()
            .filter(|o| !is_custom_resource(o))
            .collect::<Vec<_>>(),
    ) {
        assert!(output.status.success(), "{}", output_text(&output));
    }
    // The placeholder is no key: put one there as the README's keygen makes it.
    let pod = PodFiles::lay_out(&objects);
    let secrets = container(&objects)["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "credentials")
        .expect("the credentials mount")["mountPath"]
        .as_str()
        .unwrap()
        .to_owned();
    let key_file = pod.host(&format!("{secrets}/private-key.pem"));
    std::fs::remove_file(&key_file).unwrap();
    let keygen = Command::new(BIN)
        .args(["keygen", "--kid", "exporter-key-1", "--out"])
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{}", output_text(&keygen));
    let output = pod.config_check(&objects);
    assert!(output.status.success(), "{}", output_text(&output));
}

// ---------------------------------------------------------------------------------------------
// How Prometheus finds it
// ---------------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    not(tool_kubectl),
    ignore = "needs `kubectl`: apt-get install kubernetes-client"
)]
fn the_service_exposes_the_named_metrics_port_of_the_pods() {
    let Some(objects) = base() else { return };
    let service = the(objects, "Service");
    let pod_labels = &the(objects, "Deployment")["spec"]["template"]["metadata"]["labels"];
    assert!(selects(&service["spec"]["selector"], pod_labels));
    let ports = service["spec"]["ports"].as_array().expect("ports");
    assert!(
        ports
            .iter()
            .any(|p| p["name"] == "metrics" && p["port"] == 9871 && p["targetPort"] == "metrics"),
        "{ports:?}"
    );
}

#[test]
#[cfg_attr(
    not(tool_kubectl),
    ignore = "needs `kubectl`: apt-get install kubernetes-client"
)]
fn the_service_monitor_scrapes_the_service_as_the_job_the_rules_expect() {
    let Some(objects) = base() else { return };
    let monitor = the(objects, "ServiceMonitor");
    let service = the(objects, "Service");
    assert!(selects(
        &monitor["spec"]["selector"]["matchLabels"],
        &service["metadata"]["labels"]
    ));
    let endpoints = monitor["spec"]["endpoints"].as_array().expect("endpoints");
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0]["port"], "metrics");
    assert_eq!(endpoints[0]["path"], "/metrics");
    // The operator names the job after the Service, or after the Service's label jobLabel names.
    let job = match monitor["spec"]["jobLabel"].as_str() {
        Some(label) => service["metadata"]["labels"][label].as_str(),
        None => service["metadata"]["name"].as_str(),
    };
    assert_eq!(job, Some(JOB));
    assert!(read(RULES).contains(&format!("up{{job=\"{JOB}\"}}")));
}

// ---------------------------------------------------------------------------------------------
// One source of truth for the rules and the dashboard
// ---------------------------------------------------------------------------------------------

/// The files of `dir` whose name ends with `suffix`, sorted.
fn files_in(dir: &str, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(suffix))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    names.sort();
    names
}

#[test]
fn the_base_ships_every_rule_file_and_dashboard() {
    let rule_files: Vec<String> = files_in("alerts", ".yml")
        .into_iter()
        .filter(|file| serde_saphyr::from_str::<Value>(&read(file)).unwrap()["groups"].is_array())
        .collect();
    assert_eq!(
        rule_files,
        [RULES],
        "a new rule file needs its copy in deploy/kubernetes: add it to mixin/render.sh, the \
         kustomization and this test"
    );
    assert_eq!(
        files_in("dashboards", ".json"),
        [DASHBOARD],
        "a new dashboard needs its copy in deploy/kubernetes: add it to mixin/render.sh, the \
         kustomization and this test"
    );
}

/// The text after the first line `marker`, each line's first `indent` spaces taken away.
fn unindented_after(text: &str, marker: &str, indent: usize) -> String {
    let (_, body) = text
        .split_once(&format!("\n{marker}\n"))
        .unwrap_or_else(|| panic!("no line `{marker}`"));
    let prefix = " ".repeat(indent);
    body.split_inclusive('\n')
        .map(|line| match line {
            "\n" => line,
            _ => line
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("line not indented by {indent}: {line:?}")),
        })
        .collect()
}

#[test]
#[cfg_attr(
    not(tool_kubectl),
    ignore = "needs `kubectl`: apt-get install kubernetes-client"
)]
fn the_prometheus_rule_is_the_rules_file_byte_for_byte() {
    let copy = unindented_after(&read(RULES_COPY), "spec:", 2);
    assert!(
        copy == read(RULES),
        "{RULES_COPY}'s spec is not {RULES}: {REGENERATE}"
    );
    let Some(objects) = base() else { return };
    let source: Value = serde_saphyr::from_str(&read(RULES)).unwrap();
    assert_eq!(
        the(objects, "PrometheusRule")["spec"],
        source,
        "the rendered PrometheusRule's spec is not {RULES}: {REGENERATE}"
    );
}

#[test]
#[cfg_attr(
    not(tool_kubectl),
    ignore = "needs `kubectl`: apt-get install kubernetes-client"
)]
fn the_dashboard_config_map_is_the_dashboard_byte_for_byte_for_the_grafana_sidecar() {
    let copy = unindented_after(&read(DASHBOARD_COPY), &format!("  {DASHBOARD_KEY}: |"), 4);
    assert!(
        copy == read(DASHBOARD),
        "{DASHBOARD_COPY} does not hold {DASHBOARD}: {REGENERATE}"
    );
    let Some(objects) = base() else { return };
    let dashboard = config_map(objects, "okta-token-exporter-dashboard");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    assert!(
        dashboard["data"][DASHBOARD_KEY].as_str() == Some(read(DASHBOARD).as_str()),
        "the rendered dashboard ConfigMap is not {DASHBOARD}: {REGENERATE}"
    );
    // The name has no hash suffix: a changed dashboard replaces the ConfigMap the sidecar
    // watches instead of adding a second one with the same uid.
    assert_eq!(name_of(dashboard), "okta-token-exporter-dashboard");
}
