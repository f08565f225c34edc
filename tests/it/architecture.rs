//! The shape of the code, checked: data flows one way (no module imports another that imports
//! it back, directly or through others), and rendering knows nothing of HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Each module (`okta::client` for src/okta/client.rs) and the modules of this crate it uses.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    let mut dirs = vec![Path::new(SRC).to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let name_of = |path: &Path| {
        let relative = path.strip_prefix(SRC).unwrap().with_extension("");
        let name = relative.to_string_lossy().replace('/', "::");
        name.trim_end_matches("::mod").to_owned()
    };
    let modules: BTreeSet<String> = files.iter().map(|p| name_of(p)).collect();
    let mut graph = BTreeMap::new();
    for path in &files {
        let name = name_of(path);
        let text = std::fs::read_to_string(path).unwrap();
        // Unit tests may reach anywhere; the shape is about the code they test (tests in the
        // file, or in its own `tests.rs`).
        if name.ends_with("::tests") {
            continue;
        }
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
        let parent = name.rsplit_once("::").map(|(p, _)| p.to_owned());
        let mut uses = BTreeSet::new();
        for (prefix, base) in [
            ("crate::", String::new()),
            ("super::", parent.clone().unwrap_or_default()),
        ] {
            for (i, _) in code.match_indices(prefix) {
                let rest = &code[i + prefix.len()..];
                let path: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
                // The longest prefix of the path that names a module.
                let mut target = None;
                for n in 1..=segments.len() {
                    let candidate = if base.is_empty() {
                        segments[..n].join("::")
                    } else {
                        format!("{base}::{}", segments[..n].join("::"))
                    };
                    if modules.contains(&candidate) {
                        target = Some(candidate);
                    }
                }
                if let Some(target) = target {
                    if target != name && !name.starts_with(&format!("{target}::")) {
                        uses.insert(target);
                    }
                }
            }
        }
        graph.insert(name, uses);
    }
    graph
}

#[test]
fn no_module_reaches_back() {
    let graph = module_graph();
    assert!(graph.len() > 20, "found only {graph:?}");
    assert!(
        graph["poller"].contains("state"),
        "the graph is read: {graph:?}"
    );
    // Depth-first search for a cycle, reporting the first one found.
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!("an import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn data_flows_from_poller_to_snapshot_to_render_to_http() {
    let graph = module_graph();
    let uses = |a: &str, b: &str| graph[a].contains(b);
    assert!(uses("poller", "snapshot") && uses("metrics", "snapshot") && uses("server", "metrics"));
    // The text format is the renderer's alone: the poller and the data know nothing of it, and
    // the byte-level writers know nothing of snapshots.
    assert!(uses("metrics::labels", "exposition"), "the graph is read");
    for (lower, higher) in [
        ("snapshot", "poller"),
        ("snapshot", "state"),
        ("snapshot", "metrics"),
        ("state", "metrics"),
        ("state", "exposition"),
        ("poller", "exposition"),
        ("snapshot", "exposition"),
        ("exposition", "snapshot"),
        ("state", "poller"),
        ("metrics", "server"),
        ("metrics", "poller"),
        ("metrics", "state"),
        ("config", "okta"),
        ("config", "okta::client"),
        ("okta::oauth", "okta::client"),
    ] {
        assert!(!uses(lower, higher), "{lower} uses {higher}");
    }
}

#[test]
fn rendering_does_not_depend_on_http() {
    let metrics = std::fs::read_dir(Path::new(SRC).join("metrics"))
        .unwrap()
        .map(|e| format!("metrics/{}", e.unwrap().file_name().to_string_lossy()));
    let modules: Vec<String> = ["exposition.rs", "snapshot.rs", "state.rs"]
        .into_iter()
        .map(str::to_owned)
        .chain(metrics)
        .collect();
    assert!(modules.len() > 5, "{modules:?}");
    for module in &modules {
        let text = std::fs::read_to_string(Path::new(SRC).join(module)).unwrap();
        assert!(!text.contains("hyper"), "{module} mentions hyper");
    }
}

/// Each part takes its own settings type (the Okta client `okta::settings`, enrichment
/// `EnrichSettings`, keep-alive `KeepAliveToken`); `config` turns flags and the file into them.
/// None of them reads the configuration.
#[test]
fn the_parts_take_their_own_settings_and_never_read_the_configuration() {
    let graph = module_graph();
    let readers: Vec<&String> = graph
        .iter()
        .filter(|(module, uses)| {
            let part = module.starts_with("okta")
                || ["enrich", "keepalive", "state", "snapshot", "metrics"]
                    .contains(&module.as_str());
            part && uses.contains("config")
        })
        .map(|(module, _)| module)
        .collect();
    assert!(readers.is_empty(), "these read crate::config: {readers:?}");
    assert!(
        graph["config"].contains("okta::settings"),
        "the graph is read: {:?}",
        graph["config"]
    );
}

/// The published model is the bottom floor: it imports nothing of the crate outside itself, and
/// the snapshot is made of it (and of the Okta client's error type, which imports nothing).
#[test]
fn the_published_model_is_at_the_bottom() {
    let graph = module_graph();
    let model: Vec<&String> = graph.keys().filter(|m| m.starts_with("model")).collect();
    assert!(model.len() >= 6, "the graph is read: {model:?}");
    for module in &model {
        let outside: Vec<&String> = graph[*module]
            .iter()
            .filter(|used| !used.starts_with("model"))
            .collect();
        assert!(outside.is_empty(), "{module} uses {outside:?}");
    }
    let below = |m: &String| m.starts_with("model") || m == "okta::error";
    let snapshot: Vec<&String> = graph["snapshot"].iter().filter(|m| !below(m)).collect();
    assert!(snapshot.is_empty(), "snapshot uses {snapshot:?}");
    assert!(
        graph["okta::error"].is_empty(),
        "{:?}",
        graph["okta::error"]
    );
}

#[test]
fn web_plumbing_is_a_floor_below_the_data() {
    let graph = module_graph();
    let web: Vec<&String> = graph
        .keys()
        .filter(|m| *m == "web" || m.starts_with("web::"))
        .collect();
    assert!(web.len() > 5, "found only {web:?}");
    assert!(
        graph["server"].contains("web")
            && graph["web::client_cert"].contains("der")
            && graph["jose"].contains("der"),
        "the graph is read: {graph:?}"
    );
    // Listening, TLS, client certificates, basic auth, headers and the watcher know nothing of
    // Okta, polling, the published data or its rendering; the server, above, uses them.
    let above = [
        "poller",
        "state",
        "snapshot",
        "okta",
        "metrics",
        "server",
        "config",
        "enrich",
        "keepalive",
    ];
    for module in web {
        for used in &graph[module] {
            let higher = above
                .iter()
                .any(|a| used == a || used.starts_with(&format!("{a}::")));
            assert!(!higher, "{module} uses {used}");
        }
    }
    // The DER reader that `web` and `jose` share stands on nothing.
    assert!(graph["der"].is_empty(), "der uses {:?}", graph["der"]);
}

/// Reading YAML with located errors is shared by both configuration files and stands on nothing.
#[test]
fn yaml_reading_stands_on_nothing() {
    let graph = module_graph();
    assert!(graph["yaml"].is_empty(), "yaml uses {:?}", graph["yaml"]);
    assert!(graph["config"].contains("yaml") && graph["web::config"].contains("yaml"));
}
