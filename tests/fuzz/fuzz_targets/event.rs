//! Arbitrary bytes as the ingest function's payload: the envelope, every finding's parse and
//! enrichment, and the engine into an in-memory store must never panic, whatever the bytes.
//! Also each input as a finding on its own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_domain::{MemoryStore, Runbook, Settings};

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = vigil_domain::asff::parse_finding(text);
    let deps = ingest::Deps {
        store: MemoryStore::new(),
        runbook: Runbook::default(),
        settings: Settings::default(),
        emit_metrics: false,
        live: None,
        facts: None,
    };
    RT.with(|rt| {
        let _ = rt.block_on(ingest::process(&deps, text));
        // The same event again: every finding a duplicate.
        let _ = rt.block_on(ingest::process(&deps, text));
    });
});
