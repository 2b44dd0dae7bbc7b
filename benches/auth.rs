//! Criterion benchmarks for sender authentication: the cost it adds per
//! message once the DNS caches are warm (every answer already cached, so
//! this is mail-auth's parsing, DKIM/ARC signature checks and SPF/DMARC
//! evaluation, plus our cache layer), next to classification itself.
//!
//! `cargo bench --bench auth` (add `-- --quick` for a short run).
//!
//! - `fixtures`: the signed fixtures in `corpus/auth` (Ed25519 DKIM, ARC,
//!   SPF includes, DMARC), with their recorded DNS;
//! - `public`: the public tuning set (when installed) with an empty zone,
//!   every name NXDOMAIN (negative answers cached): the floor for mail
//!   whose domains publish nothing.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mailsift_auth::dns::DnsConfig;
use mailsift_auth::zone::Zone;
use mailsift_auth::Authenticator;
use mailsift_core::{Engine, Prepared};
use std::hint::black_box;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `.eml` files (or extension-less files) directly or deeper under
/// `dir`, except names containing `skip`.
fn load(dir: &str, skip: &str) -> Vec<Vec<u8>> {
    mailsift_testkit::files_under(&root().join(dir))
        .into_iter()
        .filter(|p| !p.display().to_string().contains(skip))
        .filter(|p| p.extension().is_none_or(|e| e == "eml"))
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

fn group(
    c: &mut Criterion,
    name: &str,
    engine: &Engine,
    zone: Zone,
    msgs: &[Vec<u8>],
    runtime: &tokio::runtime::Runtime,
) {
    if msgs.is_empty() {
        return;
    }
    let auth = runtime
        .block_on(Authenticator::recorded(
            zone,
            &DnsConfig::default(),
            "mailsift.bench",
        ))
        .expect("authenticator");
    let prepared: Vec<Prepared> = msgs
        .iter()
        .map(|m| engine.prepare(engine.parse(m.clone()), None))
        .filter(|p| p.auth_subject().is_some())
        .collect();
    let subjects: Vec<_> = prepared.iter().filter_map(Prepared::auth_subject).collect();
    // Warm the caches.
    let results = runtime.block_on(async {
        let mut all = Vec::new();
        for s in &subjects {
            all.push(auth.authenticate(s).await);
        }
        all
    });
    eprintln!(
        "{name}: {} messages, {} cache entries",
        subjects.len(),
        auth.caches().len()
    );

    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(subjects.len() as u64));
    g.sample_size(10);
    g.bench_function("authenticate_warm", |b| {
        b.iter(|| {
            runtime.block_on(async {
                for s in &subjects {
                    black_box(auth.authenticate(s).await);
                }
            })
        })
    });
    g.bench_function("parse_prepare_and_authenticate_warm", |b| {
        b.iter(|| {
            runtime.block_on(async {
                for m in msgs {
                    let p = engine.prepare(engine.parse(m.clone()), None);
                    if let Some(s) = p.auth_subject() {
                        black_box(auth.authenticate(&s).await);
                    }
                }
            })
        })
    });
    g.bench_function("classify_without_auth", |b| {
        b.iter(|| {
            for m in msgs {
                black_box(engine.classify(m, None));
            }
        })
    });
    g.bench_function("classify_with_auth_results", |b| {
        b.iter(|| {
            for (p, r) in prepared.iter().zip(&results) {
                black_box(p.classify(Some(r)));
            }
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let engine = Engine::load(&root().join("rules")).expect("rules");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let zone = Zone::load(&root().join("corpus/auth/dns.yml")).expect("corpus/auth/dns.yml");
    // The timeout fixture measures the deadline, not authentication.
    let fixtures = load("corpus/auth", "dns-timeout");
    group(c, "auth_fixtures", &engine, zone, &fixtures, &runtime);
    let public = load("corpus/public", "\u{0}");
    group(c, "auth_public", &engine, Zone::new(), &public, &runtime);
}

criterion_group!(benches, bench);
criterion_main!(benches);
