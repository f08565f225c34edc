//! The fuzz corpus of the request surface (`fuzz/corpus/request_surface/`: the `?status=&org=`
//! filters, `Authorization`, `Accept-Encoding`, `Host`) replayed through the fuzz target's own
//! check (`fuzz/checks/request_surface.rs`), here on the stable compiler with the rest of the
//! suite: what the fuzzer found stays fixed without a fuzzer.

#[path = "../../fuzz/checks/request_surface.rs"]
mod check;

#[test]
fn the_request_surface_corpus_passes_the_fuzz_targets_check() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/request_surface");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= 10,
        "{} holds {} inputs",
        dir.display(),
        inputs.len()
    );
    for input in &inputs {
        let data = std::fs::read(input).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| check::check(&data)) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{} fails the check: {message}", input.display());
        }
    }
}
