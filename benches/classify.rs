//! Criterion benchmarks: parsing, content extraction, each check, and whole
//! classification, on the public tuning set when it is installed
//! (`scripts/fetch-public-corpus.sh`) and on the project corpus otherwise.
//!
//! `cargo bench -p mailsift-core --bench classify` (add `-- --quick` for a
//! short run). Depends on the core crate only.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mailsift_core::checks::CHECKS;
use mailsift_core::content::Content;
use mailsift_core::decide::{decide, Facts, Standing};
use mailsift_core::engine::catalogue;
use mailsift_core::message::ParsedMessage;
use mailsift_core::rules::Rules;
use mailsift_core::{Engine, Envelope, Finding};
use rayon::prelude::*;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every message file under `dir` (the tuning set is plain files), sorted.
fn read_messages(dir: &Path, out: &mut Vec<Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            read_messages(&p, out);
        } else if p.extension().is_none_or(|e| e == "eml") {
            out.extend(std::fs::read(&p).ok());
        }
    }
}

fn messages() -> Vec<Vec<u8>> {
    let public = root().join("corpus/public");
    let source = if public.is_dir() {
        public
    } else {
        root().join("corpus")
    };
    let mut msgs = Vec::new();
    read_messages(&source, &mut msgs);
    eprintln!(
        "benchmark corpus: {} messages from {}",
        msgs.len(),
        source.display()
    );
    msgs
}

fn engine(parallel_checks_above: Option<usize>) -> Engine {
    let mut rules = Rules::load(&root().join("rules"), &catalogue()).expect("rules");
    if let Some(n) = parallel_checks_above {
        rules.engine.parallel.checks_in_parallel_above_bytes = n;
    }
    Engine::new(Arc::new(rules))
}

/// The engine with a trained model: `MAILSIFT_MODEL` if set (a file from
/// `mailsift train`), else a synthetic model with every weight non-zero,
/// the worst case for the scorer (each token also goes through the
/// evidence ranking). The cost of scoring does not depend on the values.
fn engine_with_model() -> Engine {
    use mailsift_core::model::{Model, ModelMeta};
    let mut rules = Rules::load(&root().join("rules"), &catalogue()).expect("rules");
    let model = match std::env::var_os("MAILSIFT_MODEL") {
        Some(path) => Model::load(Path::new(&path)).expect("MAILSIFT_MODEL"),
        None => {
            let bits: u8 = std::env::var("BENCH_BITS")
                .ok()
                .and_then(|b| b.parse().ok())
                .unwrap_or(20);
            let weights = (0..1u32 << bits)
                .map(|i| ((i.wrapping_mul(2_654_435_761) >> 8) % 2001) as f32 / 1000.0 - 1.0)
                .collect();
            let meta = ModelMeta {
                settings: "synthetic benchmark model".into(),
                ..ModelMeta::hand_built(bits)
            };
            Model::new(meta, weights).expect("model")
        }
    };
    rules.model = Some(Arc::new(model));
    Engine::new(Arc::new(rules))
}

fn bench(c: &mut Criterion) {
    let msgs = messages();
    let total_bytes: usize = msgs.iter().map(Vec::len).sum();
    let engine = engine(None);

    let mut g = c.benchmark_group("corpus");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.sample_size(10);
    g.bench_function("parse", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(ParsedMessage::parse(m).map(|p| p.parts().len()).ok());
            }
        })
    });
    g.bench_function("classify/sequential", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(engine.classify(m, None));
            }
        })
    });
    // The learned classifier's cost on top (issue: at most 25 % more).
    let with_model = engine_with_model();
    g.bench_function("classify/sequential-with-model", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(with_model.classify(m, None));
            }
        })
    });
    // Two ways to use more cores: messages in parallel, or the checks of
    // each message in parallel (threshold 0 = always).
    g.bench_function("classify/messages-in-parallel", |b| {
        b.iter(|| {
            msgs.par_iter().for_each(|m| {
                black_box(engine.classify(m, None));
            })
        })
    });
    let checks_parallel = self::engine(Some(0));
    g.bench_function("classify/checks-in-parallel", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(checks_parallel.classify(m, None));
            }
        })
    });
    g.finish();

    // Per stage, timing only the stage (setup excluded), averaged per message.
    let mut g = c.benchmark_group("stage");
    g.throughput(Throughput::Elements(1));
    g.bench_function("content-extract", |b| {
        let mut i = 0;
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let m = &msgs[i % msgs.len()];
                i += 1;
                let Ok(msg) = ParsedMessage::parse(m) else {
                    continue;
                };
                let parts = msg.parts();
                let t = Instant::now();
                black_box(Content::extract(&msg, &parts, engine.rules()));
                spent += t.elapsed();
            }
            spent
        })
    });
    for check in CHECKS {
        // The model check does nothing without a model.
        let engine = match check.name {
            "model" => &with_model,
            _ => &engine,
        };
        g.bench_function(format!("check/{}", check.name), |b| {
            let mut i = 0;
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let m = &msgs[i % msgs.len()];
                    i += 1;
                    engine.with_context(m, Envelope::default(), |ctx| {
                        let t = Instant::now();
                        black_box((check.run)(ctx));
                        spent += t.elapsed();
                    });
                }
                spent
            })
        });
    }
    // The one decision pass over each message's findings (gathered once).
    let found: Vec<Vec<Finding>> = msgs
        .iter()
        .filter_map(|m| {
            engine.with_context(m, Envelope::default(), |ctx| {
                CHECKS.iter().flat_map(|c| (c.run)(ctx)).collect()
            })
        })
        .collect();
    let rules = engine.rules();
    let facts = Facts {
        policy: rules.policy.named("*"),
        journal: false,
        standing: Standing::Scanned { exempt: &[] },
        dns_failures: None,
        retries: 0,
    };
    g.bench_function("decide", |b| {
        let mut i = 0;
        b.iter_batched_ref(
            || {
                i += 1;
                found[i % found.len()].clone()
            },
            |findings| black_box(decide(findings, rules, &facts)),
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // One large message: where splitting a message's checks could pay off.
    let big = msgs
        .iter()
        .max_by_key(|m| m.len())
        .cloned()
        .unwrap_or_default();
    let mut large = Vec::new();
    while large.len() < 2 << 20 {
        large.extend_from_slice(&big);
    }
    let mut g = c.benchmark_group("large-message");
    g.throughput(Throughput::Bytes(large.len() as u64));
    g.sample_size(10);
    g.bench_function("checks-sequential", |b| {
        b.iter_batched(
            || (),
            |_| black_box(engine.classify(&large, None)),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("checks-parallel", |b| {
        b.iter_batched(
            || (),
            |_| black_box(checks_parallel.classify(&large, None)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
    eprintln!("corpus bytes: {total_bytes}");
}

criterion_group!(benches, bench);
criterion_main!(benches);
