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
use mailsift::auth::dns::DnsConfig;
use mailsift::auth::zone::Zone;
use mailsift::auth::{AuthSubject, Authenticator};
use mailsift::{corpus, Engine, Rules};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(dir: &str, skip: &str) -> Vec<Vec<u8>> {
    corpus::messages(vec![root().join(dir)], 64 << 20)
        .filter(|i| !i.name.contains(skip))
        .filter_map(|i| i.bytes.ok())
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
    let subjects: Vec<AuthSubject<'_>> = msgs
        .iter()
        .filter_map(|m| engine.auth_subject(m, None))
        .collect();
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
    g.bench_function("subject_and_authenticate_warm", |b| {
        b.iter(|| {
            runtime.block_on(async {
                for m in msgs {
                    if let Some(s) = engine.auth_subject(m, None) {
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
            for (m, r) in msgs.iter().zip(&results) {
                black_box(engine.classify_with_auth(m, None, Some(r)));
            }
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let engine = Engine::new(Arc::new(Rules::load(&root().join("rules")).expect("rules")));
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
