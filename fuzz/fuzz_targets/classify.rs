//! Arbitrary bytes through the whole engine and the stamper. A panic inside
//! a check is caught by the engine and reported as ENGINE_INTERNAL_ERROR;
//! here it is turned back into a crash so the fuzzer reports it.
//!
//! `cargo fuzz run -s none classify -- -max_total_time=300` (stable Rust).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailsift_core::Engine;
use std::sync::OnceLock;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
        Engine::load(&dir).expect("shipped rules")
    })
}

fuzz_target!(|data: &[u8]| {
    let engine = engine();
    let verdict = engine.classify(data, None);
    if let Some(f) = verdict.findings.iter().find(|f| f.rule == "ENGINE_INTERNAL_ERROR") {
        panic!("a check panicked: {}", f.evidence);
    }
    let stamped = mailsift_core::stamp::stamp(data, &verdict, &engine.rules().engine.stamp);
    assert!(stamped.len() >= data.len() / 2);
});
