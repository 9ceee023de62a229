//! Arbitrary bytes as the ingest function's payload: the envelope, every finding's parse and
//! enrichment, and the engine into an in-memory store must never panic, whatever the bytes.
//! Also each input as a finding on its own.
//!
//! `cargo fuzz run event` (`make fuzz`) runs [`run`] under libFuzzer; `cargo test` here runs it
//! on the project's fixture events and a few malformed inputs.
#![cfg_attr(not(test), no_main)]

use vigil_domain::{MemoryStore, Runbook, Settings};

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
}

/// One fuzz input: as a finding, then as an event delivered twice (the second time every
/// finding is a duplicate).
fn run(data: &[u8]) {
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
        let _ = rt.block_on(ingest::process(&deps, text));
    });
}

#[cfg(not(test))]
libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));

#[cfg(test)]
mod tests {
    #[test]
    fn the_seed_corpus_and_malformed_inputs_run_without_panicking() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/events");
        let mut seeds = 0;
        for entry in std::fs::read_dir(&dir).expect("the fixture events") {
            let bytes = std::fs::read(entry.expect("an entry").path()).expect("a fixture");
            super::run(&bytes);
            let half = bytes.len() / 2;
            super::run(&bytes[..half]);
            seeds += 1;
        }
        assert!(seeds > 0);
        for junk in [&b""[..], b"{", b"[]", b"null", b"{\"detail\":{\"findings\":[1,{}]}}", &[0xff, 0xfe]] {
            super::run(junk);
        }
    }
}
